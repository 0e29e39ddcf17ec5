"""Properties of the merge on real files: random edit scripts applied on two sides.

Edits are made the way the daemon makes them, through SvgDocument's mutation methods,
on elements that have ids: attribute sets, deletions, insertions and moves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from svgx_sync.core.merge import ConflictKind, Versions, merge_documents, states
from svgx_sync.core.namespaces import SVG_NS
from svgx_sync.core.svgdoc import SvgDocument, is_element

CORPUS = Path(__file__).parents[1] / ".." / "shared" / "corpus"
FILES = [
    "w3c-svg11/painting-marker-05-f.svg",
    "w3c-svg11/styling-css-04-f.svg",
    "w3c-svg11/pservers-grad-18-b.svg",
    "w3c-svg11/animate-elem-63-t.svg",
]
"""Mid-sized files with ids on most elements and several separate named groups."""

pytestmark = pytest.mark.skipif(
    not all((CORPUS / f).exists() for f in FILES),
    reason=f"the shared SVG corpus is not at {CORPUS.resolve()}",
)

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ATTRIBUTES = ["fill", "opacity", "transform", "data-note", "stroke"]
VALUES = ["red", "0.5", "translate(1 2)", "x", "none", "#00f"]
CONTAINERS = {f"{{{SVG_NS}}}{t}" for t in ("g", "svg", "defs", "symbol", "a")}


def _load(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def _inside(el: Any, ancestor: Any) -> bool:
    node = el
    while node is not None:
        if node is ancestor:
            return True
        node = node.getparent()
    return False


def _named(doc: SvgDocument, region: Any) -> list[Any]:
    return [
        e
        for e in region.iter(etree.Element)
        if e.get("id") is not None and doc.ids.get(e.get("id")) is e
    ]


def _element_index(parent: Any, index: int) -> int:
    kids = [c for c in parent if is_element(c)]
    return list(parent).index(kids[index]) if index < len(kids) else len(parent)


def edit(data: st.DataObject, doc: SvgDocument, region_id: str, side: str, steps: int) -> None:
    """Apply ``steps`` random edits inside the subtree of ``region_id``."""
    for step in range(steps):
        region = doc.ids[region_id]
        named = _named(doc, region)
        inner = [e for e in named if e is not region]
        kind = data.draw(st.sampled_from(["set", "set", "delete", "insert", "move"]))
        if kind == "set" or not inner:
            el = data.draw(st.sampled_from(named))
            value = data.draw(st.sampled_from([*VALUES, None]))
            doc.set_attribute(el, data.draw(st.sampled_from(ATTRIBUTES)), value)
        elif kind == "delete":
            doc.remove(data.draw(st.sampled_from(inner)))
        elif kind == "insert":
            parents = [e for e in named if e.tag in CONTAINERS] or [region]
            parent = data.draw(st.sampled_from(parents))
            n = sum(1 for c in parent if is_element(c))
            where = data.draw(st.integers(0, n))
            new = doc.new_element(f"{{{SVG_NS}}}rect", {"id": f"{side}-{step}", "x": str(step)})
            doc.insert(parent, _element_index(parent, where), new)
        else:
            el = data.draw(st.sampled_from(inner))
            parents = [e for e in named if e.tag in CONTAINERS and not _inside(e, el)]
            parent = data.draw(st.sampled_from(parents or [el.getparent()]))
            doc.remove(el)
            n = sum(1 for c in parent if is_element(c))
            doc.insert(parent, _element_index(parent, data.draw(st.integers(0, n))), el)


def _regions(data: bytes) -> list[tuple[str, str]]:
    """Pairs of named elements, neither inside the other, each with named descendants."""
    doc = SvgDocument(data)
    rich = [
        e
        for e in doc.elements()
        if e is not doc.root and e.get("id") in doc.ids and len(_named(doc, e)) >= 2
    ]
    return [
        (a.get("id"), b.get("id"))
        for a in rich
        for b in rich
        if a is not b and not _inside(a, b) and not _inside(b, a)
    ]


class Sides:
    def __init__(self, base: bytes, ours: bytes, theirs: bytes, regions: tuple[str, str]) -> None:
        self.base, self.ours, self.theirs, self.regions = base, ours, theirs, regions

    def __repr__(self) -> str:
        return f"Sides(regions={self.regions!r}, ours/theirs in the failure's draws)"


@st.composite
def disjoint_sides(draw: st.DrawFn) -> Sides:
    name = draw(st.sampled_from(FILES))
    base = _load(name)
    pair = draw(st.sampled_from(_regions(base)))
    data = draw(st.data())
    ours = SvgDocument(base)
    edit(data, ours, pair[0], "ours", draw(st.integers(1, 6)))
    theirs = SvgDocument(base)
    edit(data, theirs, pair[1], "theirs", draw(st.integers(1, 6)))
    return Sides(base, ours.to_bytes(), theirs.to_bytes(), pair)


@st.composite
def overlapping_sides(draw: st.DrawFn) -> Versions[bytes]:
    name = draw(st.sampled_from(FILES))
    base = _load(name)
    doc = SvgDocument(base)
    rid = max(_named(doc, doc.root)[1:], key=lambda e: len(_named(doc, e))).get("id")
    data = draw(st.data())
    ours, theirs = SvgDocument(base), SvgDocument(base)
    edit(data, ours, rid, "ours", draw(st.integers(1, 5)))
    edit(data, theirs, rid, "theirs", draw(st.integers(1, 5)))
    return Versions(base, ours.to_bytes(), theirs.to_bytes())


def _snapshot(data: bytes, region_id: str) -> dict[str, tuple[Any, ...]]:
    """Per named element in a region: attributes, parent id, named children in order."""
    doc = SvgDocument(data)
    region = doc.ids.get(region_id)
    if region is None:
        return {}
    return {
        e.get("id"): (
            dict(e.attrib),
            e.getparent().get("id"),
            [c.get("id") for c in e if is_element(c) and c.get("id") is not None],
        )
        for e in _named(doc, region)
    }


@SETTINGS
@given(disjoint_sides())
def test_disjoint_edits_merge_cleanly_with_both_sides(sides: Sides) -> None:
    result = merge_documents(Versions(sides.base, sides.ours, sides.theirs), file="f.svg")
    assert result.clean, result.conflicts
    assert result.merged is not None
    SvgDocument(result.merged)
    ours_region, theirs_region = sides.regions
    assert _snapshot(result.merged, ours_region) == _snapshot(sides.ours, ours_region)
    assert _snapshot(result.merged, theirs_region) == _snapshot(sides.theirs, theirs_region)


@SETTINGS
@given(disjoint_sides())
def test_clean_merge_is_symmetric(sides: Sides) -> None:
    one = merge_documents(Versions(sides.base, sides.ours, sides.theirs), file="f.svg")
    two = merge_documents(Versions(sides.base, sides.theirs, sides.ours), file="f.svg")
    assert one.merged is not None and two.merged is not None
    assert states(one.merged) == states(two.merged)


_SWAP = {
    ConflictKind.DELETE_EDIT: ConflictKind.EDIT_DELETE,
    ConflictKind.EDIT_DELETE: ConflictKind.DELETE_EDIT,
}


def _conflict_set(conflicts: list[Any], swap: bool) -> set[tuple[Any, ...]]:
    out = set()
    for c in conflicts:
        if not c.blocking:
            continue
        if c.kind == ConflictKind.CYCLE:
            # The refused move is theirs' in each orientation, so the element differs.
            out.add((c.kind, None, None))
            continue
        if c.kind == ConflictKind.DUPLICATE_ID:
            out.add((c.kind, c.ours, None))
            continue
        kind = _SWAP.get(c.kind, c.kind) if swap else c.kind
        out.add((kind, c.element_id, c.attribute))
    return out


@SETTINGS
@given(overlapping_sides())
def test_conflicts_are_symmetric(versions: Versions[bytes]) -> None:
    one = merge_documents(versions, file="f.svg")
    two = merge_documents(Versions(versions.base, versions.theirs, versions.ours), file="f.svg")
    assert _conflict_set(one.conflicts, False) == _conflict_set(two.conflicts, True)
    assert one.merged is not None and two.merged is not None
    SvgDocument(one.merged)
    SvgDocument(two.merged)
    if one.clean and two.clean:
        assert states(one.merged) == states(two.merged)


def _reformatted(data: bytes) -> bytes:
    """The same elements written by lxml: every byte of formatting may change."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False))
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


@SETTINGS
@given(disjoint_sides())
def test_an_unchanged_side_gives_the_other(sides: Sides) -> None:
    base, edited = sides.base, sides.theirs
    assume(edited != base)
    assert merge_documents(Versions(base, base, edited), file="f.svg").merged == edited
    assert merge_documents(Versions(base, edited, base), file="f.svg").merged == edited
    # A side that changed only formatting is unchanged too, and goes through the engine.
    same = _reformatted(base)
    kept = merge_documents(Versions(base, edited, same), file="f.svg")
    assert kept.merged == edited and kept.clean
    taken = merge_documents(Versions(base, same, edited), file="f.svg")
    assert taken.clean and taken.merged is not None
    assert states(taken.merged) == states(edited)
