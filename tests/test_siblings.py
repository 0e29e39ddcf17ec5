"""Places among many siblings: :class:`svgx_sync.core.siblings.Siblings` agrees with
lxml's own walk, and a document that keeps them gives every operation the same result,
inverse and file as one that walks the children each time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from svgx_sync.core import siblings
from svgx_sync.core.ops import apply_operation, coerce_operation
from svgx_sync.core.siblings import Siblings
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.core.xmltext import index_among_elements, is_element
from svgx_sync.errors import OperationError


@contextmanager
def indexed_from(count: int, block: int = 4) -> Iterator[None]:
    """Parents get a :class:`Siblings` once a walk passes ``count``, in blocks of
    ``block`` (small: every split and merge of blocks happens in a small drawing)."""
    saved = siblings.INDEXED_FROM, siblings.BLOCK
    siblings.INDEXED_FROM, siblings.BLOCK = count, block
    try:
        yield
    finally:
        siblings.INDEXED_FROM, siblings.BLOCK = saved


def check_against_lxml(parent: Any, known: Siblings) -> None:
    nodes = list(parent)
    elements = [n for n in nodes if is_element(n)]
    for i, node in enumerate(nodes):
        assert known.position(node) == (i, index_among_elements(node, i))
        assert known.node_at(i) is node
    for k, el in enumerate(elements):
        assert known.element_at(k) is el
    assert known.node_at(len(nodes)) is None
    assert known.element_at(len(elements)) is None


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 40), st.integers(1, 60))
def test_siblings_answer_as_lxml_walks_after_inserts_and_removals(
    seed: int, start: int, steps: int
) -> None:
    rng = random.Random(seed)
    parent = etree.Element("g")
    for i in range(start):
        parent.append(etree.Comment(f"c{i}") if rng.random() < 0.2 else etree.Element("r"))
    with indexed_from(0, block=rng.choice([2, 3, 8])):
        known = Siblings(parent)
        for step in range(steps):
            nodes = list(parent)
            if nodes and rng.random() < 0.45:
                node = rng.choice(nodes)
                parent.remove(node)
                known.removed(node)
            else:
                new = etree.Comment("x") if rng.random() < 0.2 else etree.Element(f"n{step}")
                before = rng.choice([*nodes, None]) if nodes else None
                if before is None:
                    parent.append(new)
                else:
                    before.addprevious(new)
                known.inserted(new, before)
            check_against_lxml(parent, known)


def flat_drawing(n: int, rng: random.Random, *, ids: float = 0.9) -> bytes:
    """``n`` rects under the root with a comment now and then, ``ids`` of them with an
    id; then a group of circles."""
    rows = []
    for i in range(n):
        if rng.random() < 0.05:
            rows.append(f"  <!-- note {i} -->\n")
        ident = f' id="r{i}"' if rng.random() < ids else ""
        rows.append(f'  <rect{ident} x="{i}" width="1"/>\n')
    group = "".join(f'    <circle id="c{i}" r="{i}"/>\n' for i in range(n // 2))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg">\n'
        f'{"".join(rows)}  <g id="g">\n{group}  </g>\n</svg>\n'
    ).encode()


def random_operation(doc: SvgDocument, rng: random.Random, k: int) -> dict[str, Any]:
    elements = [e for e in doc.elements() if e is not doc.root]
    address = doc.address_of(rng.choice(elements)) if elements else "/"
    kinds = ["create", "create", "delete", "delete", "move", "move", "update"]
    kind = rng.choice(kinds if elements else ["create"])
    parent = rng.choice(["g", None]) if "g" in doc.ids else None
    size = len(doc.find(parent) if parent else doc.root)
    index = rng.choice([None, 0, rng.randrange(size + 2), size - 1])
    data: dict[str, Any]
    if kind == "create":
        address = f"new{k}"
        data = {"type": "rect", "parent": parent, "index": index}
    elif kind == "move":
        data = {"parent": parent, "index": index}
    elif kind == "update":
        data = {"attributes": {"fill": f"#{k:06x}"}}
    else:
        data = {}
    return {"operation_type": kind, "user_id": "u", "element_id": address, "data": data}


def apply(doc: SvgDocument, wire: dict[str, Any], threshold: int) -> Any:
    with indexed_from(threshold):
        try:
            inverse = apply_operation(doc, coerce_operation(wire))
        except OperationError as exc:
            return f"refused: {exc}"
        return [op.model_dump(mode="json") for op in inverse]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 40))
def test_a_document_keeping_places_gives_the_same_operations_inverses_and_file(
    seed: int, steps: int
) -> None:
    """One drawing, two documents: one walks the children for every place, the other
    keeps them once a walk passed 3 (in blocks of 4). The same random operations (and
    then their inverses, in reverse) give the same answers and the same bytes."""
    rng = random.Random(seed)
    data = flat_drawing(rng.randrange(5, 60), rng)
    walking, keeping = SvgDocument(data), SvgDocument(data)
    undo: list[dict[str, Any]] = []
    for k in range(steps):
        wire = random_operation(walking, rng, k)
        answer = apply(walking, wire, 10**9)
        assert apply(keeping, wire, 3) == answer, wire
        assert keeping.to_bytes() == walking.to_bytes()
        if isinstance(answer, list):
            undo.extend(answer)
    for wire in reversed(undo):
        wire = {key: wire[key] for key in ("operation_type", "user_id", "element_id", "data")}
        assert apply(keeping, wire, 3) == apply(walking, wire, 10**9)
        assert keeping.to_bytes() == walking.to_bytes()


def test_a_flat_drawings_deletes_and_moves_keep_the_roots_places() -> None:
    """Past the threshold the root keeps its children's places, and a delete, a move and
    the delete's inverse there name the places lxml's walk names."""
    rng = random.Random(3)
    data = flat_drawing(60, rng, ids=1.0)
    doc = SvgDocument(data)
    with indexed_from(10):
        (inverse,) = apply_operation(doc, coerce_operation(
            {"operation_type": "delete", "user_id": "u", "element_id": "r40", "data": {}}
        ))  # fmt: skip
        assert doc.root in doc._siblings
        fresh = SvgDocument(data)
        assert inverse.data["index"] == index_among_elements(fresh.ids["r40"])
        apply_operation(doc, coerce_operation(
            {"operation_type": "move", "user_id": "u", "element_id": "r45",
             "data": {"index": 20}}
        ))  # fmt: skip
        apply_operation(doc, inverse)
    assert doc.child_index(doc.ids["r45"])[1] == 20
    assert doc.child_index(doc.ids["r40"]) == (
        doc.root.index(doc.ids["r40"]),
        index_among_elements(doc.ids["r40"]),
    )
    assert doc.to_bytes().count(b'id="r40"') == 1
