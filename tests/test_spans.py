"""commit_render moves spans along with the text; they must equal a fresh parse of it."""

from __future__ import annotations

from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from svgx_sync.core import spans as spans_module
from svgx_sync.core.ops import apply_operation, coerce_operation
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.errors import SvgxError

SOURCE = b"""<?xml version="1.0"?>
<!-- a comment before -->
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
  <g id="a">
    <rect id="r1" x='1' y="2"/>
    <text id="t">one<tspan id="ts">two</tspan>three</text>
    <!-- inside -->
  </g>
  <g id="b"><circle id="c1" r="3"/></g>
  <use xlink:href="#r1" id="u"/>
</svg>
"""


# A flat drawing, as plans are: many siblings under the root (the writer copies the runs
# between the edited ones in one slice each), with comments, mixed tails and a layer.
FLAT = (
    b'<svg xmlns="http://www.w3.org/2000/svg">\n'
    + b"".join(
        b'  <rect id="f%d" x="%d"/>\n' % (k, k)
        + (b"  <!-- c%d -->\n" % k if k % 7 == 3 else b"")
        + (
            b'  <g id="layer%d"><rect id="l%d"/> tail%d <circle id="m%d"/></g>\n' % (k, k, k, k)
            if k % 9 == 4
            else b""
        )
        for k in range(30)
    )
    + b"</svg>\n"
)


def test_the_root_start_tag_is_found_past_the_prolog_without_the_map() -> None:
    prolog = b'<?xml version="1.0"?>\n<!-- <svg id="not"> -->\n<?pi <svg?>\n'
    data = prolog + b'<svg xmlns="http://www.w3.org/2000/svg" a=">"><g/></svg>\n'
    doc = SvgDocument(data)
    start, end = doc.root_start_tag()
    assert doc._spans is None  # nothing else was mapped for it
    assert doc.source[start:end] == '<svg xmlns="http://www.w3.org/2000/svg" a=">">'
    assert (start, end) == (doc.spans[doc.root].start, doc.spans[doc.root].stag_end)


def shape(node: object) -> tuple:
    """A node's tag, attributes, text, tail and children's shapes, comments included (an
    empty text is none, as a parse reads it)."""
    return (
        str(node.tag),  # type: ignore[attr-defined]
        dict(node.attrib) if hasattr(node, "attrib") else None,
        node.text or None,  # type: ignore[attr-defined]
        (node.tail or None) if node.getparent() is not None else None,  # type: ignore[attr-defined]
        [shape(child) for child in node],  # type: ignore[attr-defined]
    )


def spans(doc: SvgDocument) -> list[tuple]:
    """Every span in document order, the parent named by its place in that order."""
    nodes = list(doc.root.iter())
    place = {id(node): n for n, node in enumerate(nodes)}
    assert len(doc.spans) == len(nodes)  # nothing stale is kept
    return [
        (
            s.start,
            s.stag_end,
            s.text_end,
            s.etag_start,
            s.end,
            s.tail_end,
            None if s.parent is None else place[id(s.parent)],
        )
        for s in (doc.spans[node] for node in nodes)
    ]


step = st.tuples(
    st.sampled_from(["attr", "attr", "text", "tail", "delete", "create", "move", "commit"]),
    st.integers(0, 80),
    st.integers(0, 80),
)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([SOURCE, FLAT]),
    st.lists(step, min_size=1, max_size=25),
    st.sampled_from([64, 2]),
)
def test_incremental_spans_equal_a_full_reread(source, steps, moves_kept):
    """Spans are moved when read: a commit is checked only now and then, so that some
    spans miss several moves, and with few moves kept the map also brings every span up
    to date and drops its moves along the way."""
    with patch.object(spans_module, "MOVES_KEPT", moves_kept):
        _edit_and_compare(source, steps)


def _edit_and_compare(source, steps):
    doc = SvgDocument(source)
    for n, (kind, i, j) in enumerate(steps):
        elements = list(doc.elements())
        el, other = elements[i % len(elements)], elements[j % len(elements)]
        address, parent = doc.address_of(el), doc.address_of(other)
        if kind == "commit":
            doc.commit_render()
            if i % 3 == 0:
                reread = SvgDocument(doc.to_bytes())
                assert spans(doc) == spans(reread)
                assert shape(doc.root) == shape(reread.root)
            continue
        data: dict = {
            "attr": {"attributes": {"data-n": str(n)}},
            "text": {"text": f"t{n} & <x>"},
            "tail": {"tail": f" after{n} "},
            "delete": {},
            "create": {"type": "circle", "parent": parent, "index": j % 4},
            "move": {"parent": parent, "index": i % 3},
        }[kind]
        op = {
            "attr": "update",
            "text": "update",
            "tail": "update",
            "delete": "delete",
            "create": "create",
            "move": "move",
        }[kind]
        element_id = f"n{n}" if kind == "create" else address
        try:
            apply_operation(
                doc,
                coerce_operation(
                    {"operation_type": op, "user_id": "u", "element_id": element_id, "data": data}
                ),
            )
        except SvgxError:
            continue
    text = doc.commit_render()
    reread = SvgDocument(text)
    assert reread.render().encode() == text
    assert spans(doc) == spans(reread)
    assert shape(doc.root) == shape(reread.root)  # the text written is the tree
