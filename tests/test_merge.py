"""The merge engine: fixture cases as data, then conflict marks in files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from svgx_sync.core.merge import (
    CONFLICTS_ID,
    Conflict,
    ConflictKind,
    MergeResult,
    Versions,
    conflict_key,
    mark_conflicts,
    merge_documents,
    read_conflicts,
    resolve_marked,
    states,
)
from svgx_sync.core.namespaces import SVGX_NS
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.errors import DocumentError, NotFound, OperationError

CASES = Path(__file__).parents[1] / "fixtures" / "merge"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir())


def _read(folder: Path, role: str) -> bytes | None:
    path = folder / f"{role}.svg"
    return path.read_bytes() if path.exists() else None


def _versions(name: str) -> Versions[bytes | None]:
    folder = CASES / name
    return Versions(_read(folder, "base"), _read(folder, "ours"), _read(folder, "theirs"))


def _merge(name: str) -> MergeResult:
    return merge_documents(_versions(name), file=f"{name}.svg")


def test_there_are_enough_cases() -> None:
    assert len(CASE_NAMES) >= 30


@pytest.mark.parametrize("name", CASE_NAMES)
def test_fixture_case(name: str) -> None:
    folder = CASES / name
    result = _merge(name)
    assert result.merged == _read(folder, "expected")
    expected = json.loads((folder / "conflicts.json").read_text())
    assert conflict_key(result.conflicts) == sorted(
        (c["kind"], c["element_id"], c["attribute"]) for c in expected
    )
    if name.startswith("clean_"):
        assert result.clean


@pytest.mark.parametrize("name", CASE_NAMES)
def test_marked_file_is_svg_and_resolving_ours_gives_the_merge_back(name: str) -> None:
    result = _merge(name)
    if result.merged is None or result.clean:
        return
    marked = mark_conflicts(result)
    SvgDocument(marked)  # still a well-formed file we accept
    root = etree.fromstring(marked)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    marks = read_conflicts(marked)
    assert [m.kind for m in marks] == [c.kind for c in result.blocking]
    for mark in marks:
        assert mark.mark_id is not None
        marked = resolve_marked(marked, mark.mark_id, "ours")
    assert marked == result.merged


def test_conflict_records_all_three_values() -> None:
    (conflict,) = _merge("conflict_attribute").conflicts
    assert conflict.to_dict() == {
        "kind": "attribute",
        "file": "conflict_attribute.svg",
        "element_id": "r1",
        "attribute": "fill",
        "base": "red",
        "ours": "orange",
        "theirs": "purple",
        "blocking": True,
        "parent": None,
        "detail": conflict.detail,
        "mark_id": None,
    }
    assert Conflict.from_dict(conflict.to_dict()) == conflict


def test_flags_do_not_block() -> None:
    result = _merge("flag_dangling_reference")
    assert result.conflicts and result.clean
    assert all(not c.blocking for c in result.conflicts)
    assert mark_conflicts(result) == result.merged
    assert {c.theirs for c in result.conflicts} == {"grad", "r2"}


def test_same_place_inserts_are_explained() -> None:
    result = _merge("inserts_same_place")
    assert len(result.notes) == 1
    assert "ours' r3 first, then theirs' r4" in result.notes[0]


def test_duplicate_id_offers_the_new_id() -> None:
    (conflict,) = _merge("conflict_duplicate_id").conflicts
    assert (conflict.ours, conflict.theirs) == ("new", "new-2")
    assert "renumbering" in conflict.detail


def test_cycle_keeps_ours_structure() -> None:
    result = _merge("conflict_cycle")
    doc = SvgDocument(result.merged or b"")
    assert doc.get("layer2").getparent() is doc.get("layer3")
    assert doc.get("layer3").getparent() is doc.root


# -- whole files ---------------------------------------------------------------------------

SMALL = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="a" x="1"/></svg>'
CHANGED = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="a" x="2"/></svg>'


def test_file_deleted_on_both_sides_or_unchanged_side() -> None:
    assert merge_documents(Versions(SMALL, None, None), file="f.svg").merged is None
    assert merge_documents(Versions(SMALL, None, SMALL), file="f.svg") == MergeResult(None)
    assert merge_documents(Versions(SMALL, SMALL, None), file="f.svg") == MergeResult(None)


def test_file_deleted_against_modified_keeps_the_change() -> None:
    result = merge_documents(Versions(SMALL, CHANGED, None), file="f.svg")
    assert result.merged == CHANGED
    (conflict,) = result.conflicts
    assert conflict.kind == ConflictKind.FILE_DELETE_MODIFY
    assert (conflict.ours, conflict.theirs) == ("modified", None)


def test_file_added_on_both_sides() -> None:
    same = merge_documents(Versions(None, SMALL, SMALL), file="f.svg")
    assert same == MergeResult(SMALL)
    both = merge_documents(Versions(None, SMALL, CHANGED), file="f.svg")
    assert both.merged == SMALL
    assert [c.kind for c in both.conflicts] == [ConflictKind.ADD_ADD]


def test_unreadable_input_is_refused() -> None:
    with pytest.raises(DocumentError):
        merge_documents(Versions(SMALL, CHANGED, b"<svg"), file="f.svg")


def test_one_line_documents_merge_where_line_merges_cannot() -> None:
    base = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="a" x="1"/><rect id="b" x="1"/></svg>'
    ours = base.replace(b'"a" x="1"', b'"a" x="5"')
    theirs = base.replace(b'"b" x="1"', b'"b" x="7"')
    result = merge_documents(Versions(base, ours, theirs), file="f.svg")
    assert result.merged == base.replace(b'"a" x="1"', b'"a" x="5"').replace(
        b'"b" x="1"', b'"b" x="7"'
    )


def test_unchanged_theirs_returns_ours_bytes() -> None:
    ours = CHANGED.replace(b"<rect", b"<rect  ")
    assert merge_documents(Versions(SMALL, ours, SMALL), file="f.svg").merged == ours


def test_formatting_only_theirs_is_no_change() -> None:
    theirs = b"<svg xmlns='http://www.w3.org/2000/svg'>\n  <rect x='1' id='a' />\n</svg>"
    result = merge_documents(Versions(SMALL, CHANGED, theirs), file="f.svg")
    assert result == MergeResult(CHANGED)


def test_states_ignore_formatting() -> None:
    theirs = b"<svg xmlns='http://www.w3.org/2000/svg'>\n  <rect x='1' id='a' />\n</svg>"
    assert states(SMALL) == states(theirs)


# -- marks ----------------------------------------------------------------------------------


def test_marks_live_in_our_namespace_inside_metadata() -> None:
    marked = mark_conflicts(_merge("conflict_attribute"))
    root = etree.fromstring(marked)
    holder = root[-1]
    assert holder.tag == "{http://www.w3.org/2000/svg}metadata"
    assert holder.get("id") == CONFLICTS_ID
    (mark,) = holder
    assert mark.tag == f"{{{SVGX_NS}}}conflict"
    assert dict(mark.attrib) | {"detail": ""} == {
        "id": "svgx-conflict-1",
        "kind": "attribute",
        "element": "r1",
        "attribute": "fill",
        "base": "red",
        "ours": "orange",
        "theirs": "purple",
        "file": "conflict_attribute.svg",
        "detail": "",
    }


def test_resolve_theirs_base_and_value() -> None:
    result = _merge("conflict_attribute")
    marked = mark_conflicts(result)
    merged = result.merged or b""
    assert resolve_marked(marked, "svgx-conflict-1", "theirs") == merged.replace(
        b'fill="orange"', b'fill="purple"'
    )
    assert resolve_marked(marked, "svgx-conflict-1", "base") == merged.replace(
        b'fill="orange"', b'fill="red"'
    )
    assert resolve_marked(marked, "svgx-conflict-1", "value:#123") == merged.replace(
        b'fill="orange"', b'fill="#123"'
    )


def test_resolve_one_of_several_keeps_the_others() -> None:
    base = b'<svg xmlns="http://www.w3.org/2000/svg">\n  <rect id="a" x="1" y="1"/>\n</svg>\n'
    ours = base.replace(b'x="1"', b'x="2"').replace(b'y="1"', b'y="2"')
    theirs = base.replace(b'x="1"', b'x="3"').replace(b'y="1"', b'y="3"')
    result = merge_documents(Versions(base, ours, theirs), file="f.svg")
    marked = mark_conflicts(result)
    first = resolve_marked(marked, "svgx-conflict-1", "theirs")
    assert [c.attribute for c in read_conflicts(first)] == ["y"]
    done = resolve_marked(first, "svgx-conflict-2", "theirs")
    assert done == theirs
    assert read_conflicts(done) == []


def test_resolve_style_declaration() -> None:
    result = _merge("conflict_style_declaration")
    marked = mark_conflicts(result)
    done = resolve_marked(marked, "svgx-conflict-1", "theirs")
    assert b'style="fill:teal;stroke:gray;stroke-width:2"' in done


def test_resolve_delete_conflicts() -> None:
    edit_delete = mark_conflicts(_merge("conflict_edit_delete"))
    gone = resolve_marked(edit_delete, "svgx-conflict-1", "theirs")
    assert b'id="r2"' not in gone
    delete_edit = mark_conflicts(_merge("conflict_delete_edit"))
    back = resolve_marked(delete_edit, "svgx-conflict-1", "theirs")
    assert SvgDocument(back).get("r2").get("fill") == "yellow"


def test_resolve_parent_and_reorder() -> None:
    parent = mark_conflicts(_merge("conflict_parent"))
    moved = SvgDocument(resolve_marked(parent, "svgx-conflict-1", "theirs"))
    assert moved.get("c1").getparent() is moved.get("layer3")
    reorder = mark_conflicts(_merge("conflict_reorder"))
    done = SvgDocument(resolve_marked(reorder, "svgx-conflict-1", "theirs"))
    assert [c.get("id") for c in done.get("layer1")] == ["r2", "r1", "c1"]


def test_resolve_duplicate_id_renumbers() -> None:
    marked = mark_conflicts(_merge("conflict_duplicate_id"))
    renamed = SvgDocument(resolve_marked(marked, "svgx-conflict-1", "value:dot"))
    assert renamed.get("dot").tag.endswith("circle")
    assert renamed.get("new").tag.endswith("rect")
    theirs = SvgDocument(resolve_marked(marked, "svgx-conflict-1", "theirs"))
    assert theirs.get("new").tag.endswith("circle")
    assert theirs.get("new-2").tag.endswith("rect")


def test_resolve_unknown_conflict_or_choice() -> None:
    marked = mark_conflicts(_merge("conflict_attribute"))
    with pytest.raises(NotFound):
        resolve_marked(marked, "svgx-conflict-9", "ours")
    with pytest.raises(OperationError):
        resolve_marked(marked, "svgx-conflict-1", "mine")


def test_marking_twice_appends() -> None:
    result = _merge("conflict_attribute")
    marked = mark_conflicts(result)
    again = mark_conflicts(MergeResult(marked, result.conflicts))
    ids = [c.mark_id for c in read_conflicts(again)]
    assert ids == ["svgx-conflict-1", "svgx-conflict-2"]


def test_theirs_rebinding_a_prefix_is_merged_though_start_tags_are_equal() -> None:
    base = (
        b'<svg xmlns="http://www.w3.org/2000/svg">\n  <g id="g" xmlns:a="urn:one">\n'
        b'    <rect id="r" a:k="1"/>\n    <rect id="s" x="1"/>\n  </g>\n</svg>\n'
    )
    ours = base.replace(b'id="s" x="1"', b'id="s" x="2"')
    theirs = base.replace(b"urn:one", b"http://www.w3.org/1999/xlink")
    result = merge_documents(Versions(base, ours, theirs), file="f.svg")
    assert result.clean
    rect = SvgDocument(result.merged).get("r")
    assert dict(rect.attrib) == {"id": "r", "{http://www.w3.org/1999/xlink}k": "1"}


def test_theirs_text_and_tail_edits_are_merged() -> None:
    base = (
        b'<svg xmlns="http://www.w3.org/2000/svg">\n  <text id="t">one</text>\n'
        b'  <rect id="r" x="1"/>\n</svg>\n'
    )
    ours = base.replace(b'x="1"', b'x="2"')
    theirs = base.replace(b">one<", b">two<").replace(b'x="1"/>', b'x="1"/>after')
    result = merge_documents(Versions(base, ours, theirs), file="f.svg")
    assert result.merged == ours.replace(b">one<", b">two<").replace(b'x="2"/>', b'x="2"/>after')
