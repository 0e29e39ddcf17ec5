"""Telling from the text alone that a change brought no active content: whenever
``new_findings`` finds something, ``may_add_findings`` says it may. Pure: no files but
the shared corpus."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path
from typing import Any

import pytest
from corpus import readable_corpus
from lxml import etree

from svgx_sync.core.active import may_add_findings, new_findings
from svgx_sync.core.merge import Versions, merge_documents
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.errors import DocumentError
from svgx_sync.git.drivers import merge_driver

HEAD = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">\n'
PLAIN = (
    HEAD + '  <rect id="a" fill="red"/>\n  <rect id="b" onclick="x()"/>\n  <g id="g"/>\n</svg>\n'
)


def found(before: str, after: str) -> list[Any]:
    return new_findings(SvgDocument(before.encode()).root, SvgDocument(after.encode()).root)


# (case, the text after a change of PLAIN or of the case's own before)
# fmt: off
ACTIVE: list[tuple[str, str, str]] = [
    ("an event handler added", PLAIN, PLAIN.replace('fill="red"', 'fill="red" onload="x()"')),
    ("a handler's element renamed", PLAIN, PLAIN.replace('id="b"', 'id="c"')),
    ("a script inserted", PLAIN, PLAIN.replace('<g id="g"/>', '<g id="g"><script>x()</script></g>')),
    ("a prefixed script", PLAIN.replace("xmlns:xlink", "xmlns:s"),
     PLAIN.replace("xmlns:xlink", "xmlns:s").replace('<g id="g"/>', '<s:script>x()</s:script>')),
    ("an outside href", PLAIN, PLAIN.replace('<g id="g"/>', '<use xlink:href="http://e.example/a#b"/>')),
    ("javascript in a value", PLAIN, PLAIN.replace('fill="red"', 'fill="JavaScript:x"')),
    ("a reference spells it", PLAIN, PLAIN.replace('fill="red"', 'fill="&#106;avascript:x"')),
    ("CSS in a style", PLAIN, PLAIN.replace('fill="red"', 'style="fill:url(http://e.example/p)"')),
    ("an animation of a handler", PLAIN,
     PLAIN.replace('<g id="g"/>', '<g id="g"><set attributeName="onclick" to="x()"/></g>')),
    ("an element moved into a style",
     HEAD + "<style>rect {}</style><text>@import 'x.css';</text></svg>",
     HEAD + "<style>rect {}<text>@import 'x.css';</text></style></svg>"),
    ("a style's text joined across a comment",
     HEAD + "<style>@imp<!-- -->ort 'x.css';</style></svg>",
     HEAD + "<style>@imp<!-- -->ort 'y.css';</style></svg>"),
    ("a move into another namespace",
     HEAD + '<g xmlns="urn:x"/><rect onclick="x()"/></svg>',
     HEAD + '<g xmlns="urn:x"><rect onclick="x()"/></g></svg>'),
    ("a style sheet instruction", PLAIN, '<?xml-stylesheet href="http://e.example/s.css"?>\n' + PLAIN),
]
# fmt: on


@pytest.mark.parametrize(("before", "after"), [c[1:] for c in ACTIVE], ids=[c[0] for c in ACTIVE])
def test_every_change_that_brings_active_content_may_add_findings(before: str, after: str) -> None:
    assert found(before, after), "the case must bring a finding"
    assert may_add_findings(before, after)


@pytest.mark.parametrize(
    "after",
    [
        PLAIN,
        PLAIN.replace('fill="red"', 'fill="#00f" x="3"'),
        PLAIN.replace('<g id="g"/>', '<g id="g"><circle id="c" r="3"/></g>'),
        PLAIN.replace('  <rect id="a" fill="red"/>\n', ""),
    ],
    ids=["unchanged", "attributes", "an element added", "an element removed"],
)
def test_plain_edits_are_told_apart_from_the_text(after: str) -> None:
    assert not may_add_findings(PLAIN, after)


_NAMES = [
    "fill",
    "x",
    "id",
    "class",
    "onclick",
    "ONLOAD",
    "href",
    "{http://www.w3.org/1999/xlink}href",
    "style",
]
_VALUES = ["#123", "3", "url(#g)", "x()", "javascript:x", "http://e.example/i.png", "fill:red",
           "fill:url(http://e.example/p)", "@import 'a.css'", "#a"]  # fmt: skip
_MARKUP = [
    '<rect id="n1" fill="red"/>',
    "<script>x()</script>",
    '<use href="http://e.example/a.svg#b"/>',
    "<style>@import 'x.css';</style>",
    '<set attributeName="onclick" to="x()"/>',
    '<circle r="2"/>',
]


def _changed(doc: SvgDocument, rng: random.Random, kinds: int = 4) -> None:
    """One random edit of ``doc``: an attribute, an element added, removed or moved
    (the first ``kinds`` of these)."""
    elements = [el for el in doc.root.iter(etree.Element) if el is not doc.root]
    what = rng.randrange(kinds)
    if what == 0 or not elements:
        el = rng.choice([doc.root, *elements])
        doc.set_attribute(el, rng.choice(_NAMES), rng.choice(_VALUES))
    elif what == 1:
        parent = rng.choice([doc.root, *elements])
        doc.insert(parent, rng.randrange(len(parent) + 1), doc.parse_fragment(rng.choice(_MARKUP)))
    elif what == 2:
        doc.remove(rng.choice(elements))
    else:
        el = rng.choice(elements)
        inside = set(el.iter())
        parent = rng.choice([p for p in [doc.root, *elements] if p not in inside])
        doc.move(el, parent, rng.randrange(len(parent) + 1))


def test_no_change_of_a_corpus_file_brings_active_content_unseen() -> None:
    checked = told = 0
    for _path, data, rng in readable_corpus():
        before = SvgDocument(data)
        if before.encoding not in ("utf-8", "utf-8-sig"):
            continue
        for _ in range(2):
            doc = SvgDocument(data)
            for _ in range(rng.randrange(1, 4)):
                with contextlib.suppress(DocumentError):  # a refused edit: the others count
                    _changed(doc, rng)
            after = doc.to_bytes()
            try:
                brought = new_findings(before.root, SvgDocument(after).root)
            except DocumentError:
                continue
            may = may_add_findings(before.source, after.decode(doc.encoding))
            assert may or not brought, (_path, brought)
            checked += 1
            told += not may
    assert checked > 500 and told > 50, (checked, told)


def _drawing(n: int) -> bytes:
    rows = "".join(
        f'    <rect id="r{k}" x="{k}" y="{k % 7}" fill="#888"/>\n'
        if k % 50
        else f'  <g id="g{k}">\n'
        for k in range(n)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">\n'
        f"{rows}" + "  </g>\n" * ((n + 49) // 50) + "</svg>\n"
    ).encode()


def _side(base: bytes, rng: random.Random, edits: int) -> bytes:
    doc = SvgDocument(base)
    for _ in range(edits):
        with contextlib.suppress(DocumentError):
            _changed(doc, rng, kinds=2)  # the changes a merge takes region by region
    return doc.to_bytes()


def test_a_merge_of_a_big_drawing_says_what_it_touched_and_nothing_it_brings_goes_unseen() -> None:
    base = _drawing(1200)
    answered = 0
    for seed in range(40):
        rng = random.Random(seed)
        ours, theirs = _side(base, rng, rng.randrange(1, 6)), _side(base, rng, rng.randrange(1, 6))
        result = merge_documents(Versions(base, ours, theirs), file="plan.svg")
        if result.merged is None or result.touched is None:
            continue
        answered += 1
        brought = new_findings(SvgDocument(ours).root, SvgDocument(result.merged).root)
        may = may_add_findings(ours.decode(), result.merged.decode(), result.touched)
        assert may or not brought, (seed, brought)
    assert answered > 10, answered


def test_the_driver_reports_what_a_merge_of_a_big_drawing_brings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _drawing(1200)
    ours = base.replace(b'id="r7" x="7"', b'id="r7" x="70"')
    theirs = base.replace(b'id="r901" x="901"', b'id="r901" onclick="alert(1)" x="901"')
    files = [tmp_path / n for n in ("base.svg", "ours.svg", "theirs.svg")]
    for path, data in zip(files, (base, ours, theirs), strict=True):
        path.write_bytes(data)
    assert merge_documents(Versions(base, ours, theirs), file="plan.svg").touched is not None
    assert merge_driver(*files, 7, "plan.svg") == 0
    merged = files[1].read_bytes()
    assert b'x="70"' in merged and b'onclick="alert(1)"' in merged
    line = merged[: merged.index(b'id="r901"')].count(b"\n") + 1
    reported = [text for text in capsys.readouterr().err.splitlines() if "active content" in text]
    assert reported == [
        f"svgx-sync: plan.svg: active content (kept, served inert): line {line}: "
        '<rect id="r901">: event handler attribute onclick'
    ]
