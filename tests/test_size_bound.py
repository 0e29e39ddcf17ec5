"""The size a document keeps through its edits is never less than what it would write:
the limit on live operations (docs/security.md, "Limits") is checked against it."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svgx_sync.core.ops import Operation, apply_operation, coerce_operation
from svgx_sync.core.svgdoc import MAX_BYTES, SvgDocument
from svgx_sync.errors import LimitExceeded, SvgxError

SOURCE = """<?xml version="1.0" encoding="{encoding}"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
  <g id="a">
    <rect id="r1" x='1' y="2" style="fill:red"/>
    <text id="t">one &amp; <tspan id="ts">two</tspan>three</text>
    <!-- inside -->
  </g>
  <g id="b"><circle id="c1" r="3"/><line id="l" x1="0" y1="0" x2="1" y2="1"/></g>
  <use xlink:href="#r1" id="u"/>
</svg>
"""

step = st.tuples(
    st.sampled_from(
        ["attr", "quoted", "ns", "style", "text", "tail", "delete", "markup", "move", "commit"]
    ),
    st.integers(0, 50),
    st.integers(0, 50),
)


def data_for(kind: str, n: int, parent: str, j: int) -> tuple[str, dict]:
    """The operation type and data of one step."""
    return {
        "attr": ("update", {"attributes": {"data-n": "é" * n}}),
        "quoted": ("update", {"attributes": {"data-q": "\"'&<" * n}}),
        "ns": ("update", {"attributes": {f"p{n}:a": "v"}, "namespaces": {f"p{n}": f"urn:n{n}"}}),
        "style": ("update", {"style": {"stroke": "#" + "a" * n}}),
        "text": ("update", {"text": f"t{n} & <x>" * (n % 4)}),
        "tail": ("update", {"tail": " " * n}),
        "delete": ("delete", {}),
        "markup": (
            "create",
            {
                "markup": f'<g xmlns:q="urn:q{n}" q:k="{n}"><path d="M0 0"/>x{"&amp;" * n}</g>',
                "parent": parent,
                "index": j % 3,
            },
        ),
        "move": ("move", {"parent": parent, "index": j % 3}),
    }[kind]


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(["UTF-8", "UTF-16", "ISO-8859-1"]), st.lists(step, min_size=1, max_size=25))
def test_the_kept_size_is_never_less_than_the_written_file(encoding, steps):
    doc = SvgDocument(SOURCE.format(encoding=encoding).encode(encoding))
    for n, (kind, i, j) in enumerate(steps):
        elements = list(doc.elements())
        el, other = elements[i % len(elements)], elements[j % len(elements)]
        if kind == "commit":
            written = doc.commit_render()
            assert doc.size_bound == len(written)
            continue
        op, data = data_for(kind, n, doc.address_of(other), j)
        element_id = f"n{n}" if kind == "markup" else doc.address_of(el)
        with contextlib.suppress(SvgxError):
            apply_operation(
                doc,
                coerce_operation(
                    {"operation_type": op, "user_id": "u", "element_id": element_id, "data": data}
                ),
            )
        assert doc.size_bound >= len(doc.to_bytes()), (kind, doc.size_bound)


def test_a_replayed_operation_is_judged_by_the_exact_size() -> None:
    """Removals count only when the file is written, so a client's operation may be
    refused a little early; one that must be taken if it fits (a journal replayed, an
    inverse, another program's edit) is judged by the exact size instead."""
    value = "a" * 900_000
    rects = "".join(f'<rect id="r{n}" class="{value}"/>' for n in range(70))
    doc = SvgDocument(f'<svg xmlns="http://www.w3.org/2000/svg">{rects}</svg>'.encode())

    def op(kind: str, element: str, data: dict) -> Operation:
        return coerce_operation(
            {"operation_type": kind, "user_id": "u", "element_id": element, "data": data}
        )

    for n in range(6):  # each round trip counts 900 kB more than the file grows
        apply_operation(doc, op("delete", f"r{n}", {}))
        apply_operation(
            doc, op("create", f"n{n}", {"type": "rect", "attributes": {"class": value}})
        )
    assert len(doc.to_bytes()) < MAX_BYTES and doc.size_bound <= MAX_BYTES
    for n in range(6, 12):
        apply_operation(doc, op("delete", f"r{n}", {}), screen=True)
    with pytest.raises(LimitExceeded):
        big = {"type": "rect", "attributes": {"class": value}}
        for n in range(6):
            apply_operation(doc, op("create", f"m{n}", big), screen=True)
    doc.commit_render()  # written: the count is exact again, and there is room
    apply_operation(doc, op("create", "m-after", big), screen=True)
    assert "m-after" in doc.ids
