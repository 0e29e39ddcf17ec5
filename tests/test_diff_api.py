"""The visual diff's data: the rule (two sets of files -> changed elements) and
``GET /api/d/<doc>/diff`` against a real daemon with versions made over the protocol."""

from __future__ import annotations

from typing import Any

from svgx_sync.core.changes import element_changes
from svgx_sync.core.svgdoc import SvgDocument

SVG = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">{}</svg>'


def doc(body: str) -> SvgDocument:
    return SvgDocument(SVG.format(body).encode())


def changes(old: str, new: str) -> list[dict[str, Any]]:
    return element_changes({"d.svg": doc(old)}, {"d.svg": doc(new)})


def by_id(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["element_id"]: c for c in found}


# -- the rule ------------------------------------------------------------------------------


def test_same_files_and_formatting_alone_change_nothing() -> None:
    body = '<rect id="a" x="1" y="2"/><g><circle r="3"/></g>'
    assert changes(body, body) == []
    assert changes(body, "\n  <rect y='2' id='a' x='1' />\n  <g>\n <circle r='3'/></g>\n") == []


def test_an_attribute_changed_added_and_removed_is_listed_old_to_new() -> None:
    (change,) = changes('<rect id="a" x="1" fill="red"/>', '<rect id="a" x="2" stroke="blue"/>')
    assert change == {
        "file": "d.svg",
        "element_id": "a",
        "path": {"old": "/0", "new": "/0"},
        "kind": "changed",
        "tag": "rect",
        "attributes": [
            {"name": "x", "old": "1", "new": "2"},
            {"name": "stroke", "old": None, "new": "blue"},
            {"name": "fill", "old": "red", "new": None},
        ],
        "text": None,
        "moved": False,
    }


def test_added_and_removed_elements_carry_their_attributes_and_text() -> None:
    found = by_id(changes('<rect id="gone" x="1"/>', '<text id="new" x="5">Hello</text>'))
    assert found["gone"]["kind"] == "removed" and found["gone"]["path"] == {
        "old": "/0",
        "new": None,
    }
    assert found["gone"]["attributes"] == [
        {"name": "id", "old": "gone", "new": None},
        {"name": "x", "old": "1", "new": None},
    ]
    assert found["new"]["kind"] == "added" and found["new"]["tag"] == "text"
    assert found["new"]["attributes"] == [
        {"name": "id", "old": None, "new": "new"},
        {"name": "x", "old": None, "new": "5"},
    ]
    assert found["new"]["text"] == {"old": None, "new": "Hello"}
    # new elements first, in document order, then the removed ones
    assert [c["element_id"] for c in changes('<rect id="gone"/>', '<rect id="new"/>')] == [
        "new",
        "gone",
    ]


def test_every_element_of_an_added_subtree_is_listed() -> None:
    found = changes("", '<g id="g"><rect id="r"/><circle/></g>')
    assert [(c["element_id"], c["kind"]) for c in found] == [
        ("g", "added"),
        ("r", "added"),
        ("/0/1", "added"),
    ]


def test_text_is_the_elements_own_text_and_tails_of_its_children() -> None:
    (change,) = changes(
        '<text id="t">a<tspan id="s">b</tspan>c</text>',
        '<text id="t">a<tspan id="s">b</tspan>d</text>',
    )
    assert change["element_id"] == "t" and change["text"] == {"old": "ac", "new": "ad"}
    (change,) = changes(
        '<text id="t">a<tspan id="s">b</tspan></text>',
        '<text id="t">a<tspan id="s">B</tspan></text>',
    )
    assert change["element_id"] == "s" and change["text"] == {"old": "b", "new": "B"}


def test_elements_without_id_are_matched_by_position_and_named_by_it() -> None:
    (change,) = changes('<g id="g"><rect/><rect x="1"/></g>', '<g id="g"><rect/><rect x="2"/></g>')
    assert change["element_id"] == "/0/1" and change["attributes"][0]["new"] == "2"


def test_moving_one_element_to_the_front_marks_only_that_one_as_moved() -> None:
    old = "".join(f'<rect id="r{i}"/>' for i in range(5))
    new = '<rect id="r4"/>' + "".join(f'<rect id="r{i}"/>' for i in range(4))
    (change,) = changes(old, new)
    assert change["element_id"] == "r4" and change["moved"] is True
    assert change["kind"] == "changed" and change["attributes"] == []
    assert change["path"] == {"old": "/4", "new": "/0"}


def test_an_element_put_into_another_parent_is_moved() -> None:
    found = by_id(
        changes(
            '<g id="a"><rect id="r"/></g><g id="b"/>', '<g id="a"/><g id="b"><rect id="r"/></g>'
        )
    )
    assert list(found) == ["r"] and found["r"]["moved"] is True


def test_namespaced_attributes_are_named_as_operations_name_them() -> None:
    (change,) = changes('<use id="u" xlink:href="#a"/>', '<use id="u" xlink:href="#b"/>')
    assert change["attributes"] == [{"name": "xlink:href", "old": "#a", "new": "#b"}]


def test_a_file_only_one_side_has_lists_all_its_elements() -> None:
    old = {"a.svg": doc('<rect id="r"/>')}
    new = {"b.svg": doc('<circle id="c"/>')}
    found = element_changes(old, new)
    assert [(c["file"], c["element_id"], c["kind"]) for c in found] == [
        ("a.svg", "/", "removed"),
        ("a.svg", "r", "removed"),
        ("b.svg", "/", "added"),
        ("b.svg", "c", "added"),
    ]


def test_the_root_is_named_by_its_path() -> None:
    old = {"d.svg": SvgDocument(b'<svg xmlns="http://www.w3.org/2000/svg" id="root" width="1"/>')}
    new = {"d.svg": SvgDocument(b'<svg xmlns="http://www.w3.org/2000/svg" id="root" width="2"/>')}
    (change,) = element_changes(old, new)
    assert change["element_id"] == "/" and change["tag"] == "svg"
