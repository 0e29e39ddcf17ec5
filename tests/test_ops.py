"""Operations on a document: the ten types, the seed's shapes, refusals and inverses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from svgx_sync.core.diff import diff_trees
from svgx_sync.core.namespaces import SVG_NS, SVGX_NS
from svgx_sync.core.ops import (
    GEOMETRY,
    MODEL_ID,
    SHAPES,
    Operation,
    OperationType,
    apply_operation,
    coerce_operation,
    constraints_of,
)
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.errors import OperationError, UnknownElement

BASE = b"""<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="200" height="200">
  <g id="layer">
    <rect id="r1" x="10" y="10" width="20" height="20" style="fill:red"/>
    <circle id="c1" cx="50" cy="50" r="5"/>
  </g>
  <text id="t1" x="5" y="5">hello</text>
</svg>
"""


def doc() -> SvgDocument:
    return SvgDocument(BASE)


def op(kind: str, element_id: str, data: dict[str, Any] | None = None) -> Operation:
    return coerce_operation(
        {"operation_type": kind, "user_id": "u1", "element_id": element_id, "data": data or {}}
    )


def apply(
    d: SvgDocument, kind: str, element_id: str, data: dict[str, Any] | None = None
) -> list[Operation]:
    return apply_operation(d, op(kind, element_id, data))


def undo(d: SvgDocument, inverse: list[Operation]) -> None:
    for inv in inverse:
        apply_operation(d, inv)


# -- the seed's examples -------------------------------------------------------------------


def test_seed_create_makes_a_rect() -> None:
    d = SvgDocument(b'<svg xmlns="http://www.w3.org/2000/svg">\n</svg>')
    apply_operation(
        d,
        coerce_operation(
            {
                "type": "create",
                "user_id": "user-1",
                "element_id": "element_1",
                "data": {"type": "rectangle", "position": {"x": 0, "y": 0}},
            }
        ),
    )
    assert '<rect id="element_1" x="0" y="0"/>' in d.render()


def test_seed_update_moves_it() -> None:
    d = SvgDocument(b'<svg xmlns="http://www.w3.org/2000/svg">\n</svg>')
    apply(d, "create", "element_1", {"type": "rectangle", "position": {"x": 0, "y": 0}})
    apply(d, "update", "element_1", {"position": {"x": 100, "y": 100}})
    el = d.get("element_1")
    assert (el.get("x"), el.get("y")) == ("100", "100")


def test_seed_constraint_add_is_stored_in_the_file() -> None:
    d = doc()
    apply(d, "constraint_add", "r1", {"constraint_type": "distance", "value": 50})
    out = d.to_bytes()
    again = SvgDocument(out)
    model = again.get(MODEL_ID)
    assert model.tag == f"{{{SVG_NS}}}metadata"
    (c,) = constraints_of(again, "r1")
    assert c.tag == f"{{{SVGX_NS}}}constraint"
    assert (c.get("type"), c.get("value")) == ("distance", "50")
    # The shapes are untouched: the root declares our namespace, the metadata is new.
    lines = out.decode().splitlines()
    assert lines[0].endswith(f'xmlns:svgx="{SVGX_NS}">')
    assert [line for line in lines[1:] if "svgx" not in line and "metadata" not in line] == (
        BASE.decode().splitlines()[1:]
    )


def test_coerce_accepts_the_seed_python_form() -> None:
    o = coerce_operation(
        {"type": "update", "user_id": "user_123", "element_id": "rect_1", "data": {"x": 1}}
    )
    assert o.operation_type is OperationType.UPDATE
    assert o.element_id == "rect_1"
    wire = coerce_operation(
        {"type": "operation", "operation_type": "move", "user_id": "u", "element_id": "a"}
    )
    assert wire.operation_type is OperationType.MOVE


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_seed_shape(shape: str) -> None:
    d = doc()
    apply(d, "create", "new", {"type": shape})
    el = d.get("new")
    assert el.tag == f"{{{SVG_NS}}}{SHAPES[shape]}"
    assert SvgDocument(d.to_bytes()).get("new").tag == el.tag


# -- position and size per GEOMETRY -----------------------------------------------------------

SHAPE_MARKUP = {
    "rect": '<rect x="1" y="2" width="3" height="4"/>',
    "image": '<image x="1" y="2" width="3" height="4"/>',
    "use": '<use x="1" y="2" width="3" height="4"/>',
    "svg": '<svg x="1" y="2" width="3" height="4"/>',
    "pattern": '<pattern x="1" y="2" width="3" height="4"/>',
    "mask": '<mask x="1" y="2" width="3" height="4"/>',
    "filter": '<filter x="1" y="2" width="3" height="4"/>',
    "text": '<text x="1" y="2">a</text>',
    "tspan": '<tspan x="1" y="2">a</tspan>',
    "circle": '<circle cx="1" cy="2" r="3"/>',
    "ellipse": '<ellipse cx="1" cy="2" rx="3" ry="4"/>',
    "line": '<line x1="1" y1="2" x2="11" y2="12"/>',
    "polyline": '<polyline points="1,2 11,2 11,22"/>',
    "polygon": '<polygon points="1,2 11,2 11,22"/>',
}

EXPECTED = {
    "rect": ({"x": "100", "y": "50"}, {"width": "30", "height": "40"}),
    "text": ({"x": "100", "y": "50"}, {"font-size": "40"}),
    "circle": ({"cx": "100", "cy": "50"}, {"r": "15"}),
    "ellipse": ({"cx": "100", "cy": "50"}, {"rx": "15", "ry": "20"}),
    "line": ({"x1": "100", "y1": "50", "x2": "110", "y2": "60"}, {"x2": "130", "y2": "90"}),
    "polyline": ({"points": "100,50 110,50 110,70"}, {"points": "100,50 130,50 130,90"}),
}


def test_geometry_table_covers_every_shape_we_test() -> None:
    assert set(SHAPE_MARKUP) == set(GEOMETRY)


@pytest.mark.parametrize("tag", sorted(GEOMETRY))
def test_position_and_size(tag: str) -> None:
    kind = {
        "image": "rect",
        "use": "rect",
        "svg": "rect",
        "pattern": "rect",
        "mask": "rect",
        "filter": "rect",
        "tspan": "text",
        "polygon": "polyline",
    }.get(tag, tag)
    position, size = EXPECTED[kind]
    d = doc()
    apply(d, "create", "s", {"markup": SHAPE_MARKUP[tag]})
    el = d.get("s")
    apply(d, "update", "s", {"position": {"x": 100, "y": 50}})
    for name, value in position.items():
        assert el.get(name) == value, (tag, name)
    apply(d, "resize", "s", {"size": {"width": 30, "height": 40}})
    for name, value in {**position, **size}.items():  # size wins where it moves points
        assert el.get(name) == value, (tag, name)


def test_group_position_is_a_translate() -> None:
    d = doc()
    apply(d, "update", "layer", {"position": {"x": 7, "y": 8}})
    assert d.get("layer").get("transform") == "translate(7 8)"
    apply(d, "move", "layer", {"dx": 3, "dy": 2})
    assert d.get("layer").get("transform") == "translate(10 10)"


def test_move_by_delta_and_resize_radius() -> None:
    d = doc()
    apply(d, "move", "r1", {"dx": 5, "dy": -5})
    assert (d.get("r1").get("x"), d.get("r1").get("y")) == ("15", "5")
    apply(d, "move", "c1", {"position": {"x": 7, "y": 8}})
    assert (d.get("c1").get("cx"), d.get("c1").get("cy")) == ("7", "8")
    apply(d, "resize", "c1", {"radius": 9})
    assert d.get("c1").get("r") == "9"
    apply(d, "resize", "r1", {"width": 1, "height": 2})
    assert (d.get("r1").get("width"), d.get("r1").get("height")) == ("1", "2")


# -- content: attributes, style, text, parent, index --------------------------------------------


def test_attributes_style_text_parent_index() -> None:
    d = doc()
    apply(d, "update", "r1", {"attributes": {"fill": "blue", "xlink:title": "x", "width": None}})
    r1 = d.get("r1")
    assert r1.get("fill") == "blue" and r1.get("width") is None
    assert r1.get("{http://www.w3.org/1999/xlink}title") == "x"
    apply(d, "update", "r1", {"style": {"fill": "green", "stroke": "black"}})
    assert r1.get("style") == "fill:green;stroke:black"
    apply(d, "update", "r1", {"style": {"fill": None}})
    assert r1.get("style") == "stroke:black"
    apply(d, "update", "t1", {"text": "bye"})
    assert d.get("t1").text == "bye"
    apply(d, "update", "t1", {"parent": "layer", "index": 0})
    assert d.get("t1").getparent() is d.get("layer")
    assert d.address_of(d.get("layer")[0]) == "t1"
    apply(d, "move", "c1", {"index": 0})
    assert [c.get("id") for c in d.get("layer")] == ["c1", "t1", "r1"]
    apply(d, "create", "under", {"type": "circle", "parent": "layer", "index": 1})
    assert [c.get("id") for c in d.get("layer")] == ["c1", "under", "t1", "r1"]
    SvgDocument(d.to_bytes())


def test_delete() -> None:
    d = doc()
    apply(d, "delete", "layer")
    assert d.find("r1") is None and d.find("layer") is None
    assert b"rect" not in d.to_bytes()


def test_select_and_deselect_change_nothing() -> None:
    d = doc()
    assert apply(d, "select", "r1", {"selected_elements": ["r1"]}) == []
    assert apply(d, "deselect", "r1") == []
    assert not d.dirty and d.render() == BASE.decode()
    with pytest.raises(UnknownElement):
        apply(d, "select", "nope")


def test_constraints_and_assemblies() -> None:
    d = doc()
    inverse = apply(
        d,
        "constraint_add",
        "r1",
        {
            "constraint_type": "distance",
            "value": 50,
            "targets": ["c1"],
            "unit": "mm",
            "constraint_id": "k1",
        },
    )
    assert d.get("k1").get("targets") == "c1"
    apply(d, "constraint_remove", "r1", {"constraint_id": "k1"})
    assert d.find("k1") is None
    apply(d, "assembly_update", "asm1", {"name": "Door", "members": ["r1", "c1"]})
    asm = d.get("asm1")
    assert asm.tag == f"{{{SVGX_NS}}}assembly" and asm.get("members") == "r1 c1"
    apply(d, "assembly_update", "asm1", {"properties": {"weight": 3}})
    assert asm.get("weight") == "3"
    apply(d, "assembly_update", "asm1", {"remove": True})
    assert d.find("asm1") is None
    assert inverse and SvgDocument(d.to_bytes()).find(MODEL_ID) is not None


# -- refusals -----------------------------------------------------------------------------------

# Active content (event handlers, script URLs, <script>) is refused when a live client
# sends it: tests/test_active.py has those cases, screened as the live session screens.
INVALID = [
    ("update", "nope", {"attributes": {"x": "1"}}),
    ("update", "r1", {"position": {"x": "far", "y": 1}}),
    ("update", "r1", {"position": {"x": float("nan"), "y": 1}}),
    ("resize", "r1", {"size": {"width": -1, "height": 1}}),
    ("create", "r1", {"type": "rectangle"}),
    ("create", "x", {"type": "script"}),
    ("create", "x", {"markup": "<rect"}),
    ("create", "x", {"markup": '<g><rect id="c1"/></g>'}),
    ("create", "x", {"type": "polyline", "position": {"x": 1, "y": 1}}),
    ("update", "r1", {"attributes": "fill=red"}),
    ("update", "r1", {"colour": "red"}),
    ("delete", "r1", {"now": True}),
    ("update", "r1", {"attributes": {"bad name": "1"}}),
    ("update", "r1", {"attributes": {"nope:x": "1"}}),
    ("move", "layer", {"parent": "r1"}),
    ("move", "layer", {"parent": "layer"}),
    ("move", "r1", {}),
    ("move", "r1", {"position": {"x": 1, "y": 1}, "dx": 1}),
    ("move", "r1", {"position": {"x": 1}, "parent": "/"}),
    ("resize", "layer", {"size": {"width": 1, "height": 1}}),
    ("delete", "/", {}),
    ("constraint_add", "r1", {"constraint_type": "bad type!"}),
    ("constraint_add", "r1", {"constraint_type": "distance", "targets": ["ghost"]}),
    ("constraint_remove", "r1", {"constraint_id": "ghost"}),
    ("constraint_add", "r1", {"constraint_type": "distance", "targets": "c1"}),
    ("constraint_add", "r1", {"constraint_type": "distance", "properties": {"type": "x"}}),
    ("constraint_add", "r1", {"constraint_type": "distance", "properties": {"bad name": 1}}),
    ("assembly_update", "r1", {"name": "x"}),
    ("assembly_update", "asm", {"members": ["r1", "ghost"]}),
    ("assembly_update", "asm", {"properties": {"members": "r1"}}),
    ("update", "r1", {"index": -1}),
]


@pytest.mark.parametrize(("kind", "element_id", "data"), INVALID)
def test_invalid_operations_change_nothing(
    kind: str, element_id: str, data: dict[str, Any]
) -> None:
    d = doc()
    with pytest.raises(OperationError):
        apply(d, kind, element_id, data)
    assert d.render() == BASE.decode()
    assert d.to_bytes() == BASE


def test_malformed_operations_are_refused() -> None:
    for raw in (
        {"type": "explode", "user_id": "u", "element_id": "r1"},
        {"type": "update", "element_id": "r1"},
        {"type": "update", "user_id": "u", "element_id": ""},
        {"type": "update", "user_id": "u", "element_id": "r1", "data": [1]},
        {"type": "update", "user_id": "u", "element_id": "r1", "extra": 1},
    ):
        with pytest.raises(OperationError):
            coerce_operation(raw)


# -- inverses -----------------------------------------------------------------------------------


def test_inverse_of_each_kind_restores_the_elements() -> None:
    cases = [
        ("create", "n1", {"type": "rectangle", "position": {"x": 1, "y": 2}, "parent": "layer"}),
        ("update", "r1", {"attributes": {"fill": "red", "x": None}, "text": "t"}),
        ("delete", "layer", {}),
        ("move", "c1", {"parent": "/", "index": 0}),
        ("move", "t1", {"dx": 1, "dy": 2}),
        ("resize", "c1", {"radius": 2}),
        ("constraint_add", "r1", {"constraint_type": "distance", "value": 5}),
        ("assembly_update", "a1", {"name": "A", "members": ["r1"]}),
    ]
    for kind, element_id, data in cases:
        d = doc()
        inverse = apply(d, kind, element_id, data)
        undo(d, inverse)
        assert diff_trees(d, doc()) == [], kind


SMALL = b"""<svg xmlns="http://www.w3.org/2000/svg">
  <g id="a">
    <rect id="r" x="1" y="1" width="2" height="2"/>
    <rect x="5" y="5" width="2" height="2"/>
    <text id="t" x="0" y="0">hi <tspan id="s">there</tspan> you</text>
  </g>
  <g id="b">
    <circle id="c" cx="3" cy="3" r="1"/>
  </g>
</svg>
"""

IDS = ["a", "b", "r", "c", "t", "s", "/0", "/1/0", "/0/1", "n1", "n2", "/"]

op_strategy = st.one_of(
    st.builds(
        lambda i, x, y: ("update", i, {"position": {"x": x, "y": y}}),
        st.sampled_from(IDS),
        st.integers(-50, 50),
        st.integers(-50, 50),
    ),
    st.builds(
        lambda i, v: ("update", i, {"attributes": {"fill": v}}),
        st.sampled_from(IDS),
        st.sampled_from(["red", "blue", None]),
    ),
    st.builds(
        lambda i, t: ("update", i, {"text": t}),
        st.sampled_from(IDS),
        st.sampled_from(["x", "", " y "]),
    ),
    st.builds(lambda i: ("delete", i, {}), st.sampled_from(IDS)),
    st.builds(
        lambda i, p, n: ("move", i, {"parent": p, "index": n}),
        st.sampled_from(IDS),
        st.sampled_from(IDS),
        st.integers(0, 3),
    ),
    st.builds(
        lambda i, dx: ("move", i, {"dx": dx, "dy": 1}), st.sampled_from(IDS), st.integers(-5, 5)
    ),
    st.builds(
        lambda i, w: ("resize", i, {"size": {"width": w, "height": 3}}),
        st.sampled_from(IDS),
        st.integers(0, 9),
    ),
    st.builds(
        lambda n, p, k: ("create", n, {"type": k, "parent": p}),
        st.sampled_from(["n1", "n2"]),
        st.sampled_from(IDS),
        st.sampled_from(["rectangle", "circle", "group"]),
    ),
    st.builds(
        lambda i: ("constraint_add", i, {"constraint_type": "distance", "value": 1}),
        st.sampled_from(IDS),
    ),
    st.builds(lambda m: ("assembly_update", "asm", {"members": [m]}), st.sampled_from(IDS)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op_strategy, min_size=1, max_size=8))
def test_inverses_undo_random_sequences(ops: list[tuple[str, str, dict[str, Any]]]) -> None:
    d = SvgDocument(SMALL)
    undo_log: list[list[Operation]] = []
    for kind, element_id, data in ops:
        before = d.render()
        try:
            undo_log.append(apply(d, kind, element_id, data))
        except OperationError:
            assert d.render() == before  # refused: nothing changed
    for inverse in reversed(undo_log):
        undo(d, inverse)
    assert diff_trees(d, SvgDocument(SMALL)) == []
    SvgDocument(d.to_bytes())  # still well-formed


def test_constraint_markup_uses_our_prefix_declared_once_on_the_root():
    from svgx_sync.git.store import EMPTY_SVG

    doc = SvgDocument(EMPTY_SVG)
    for raw in (
        {"type": "create", "element_id": "element_1", "data": {"type": "rectangle"}},
        {
            "type": "constraint_add",
            "element_id": "element_1",
            "data": {"constraint_type": "distance", "value": 50},
        },
    ):
        apply_operation(doc, coerce_operation({"user_id": "u", **raw}))
    text = doc.commit_render().decode()
    assert text.count("xmlns:") == 1 and 'xmlns:svgx="' in text.splitlines()[1]
    assert '<svgx:constraint id="element_1-distance-1" element="element_1"' in text
