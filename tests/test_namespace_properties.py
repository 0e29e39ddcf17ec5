"""No sequence of edits makes the writer declare a prefix twice or leave one undeclared.

Random scripts of the document's mutation methods (attributes in several namespaces with
clashing prefix hints, new elements in other namespaces, moves in and out of groups that
declare prefixes of their own, removals), written out at random points. After each write
the file is well-formed, no start tag declares a prefix twice, and reading it back gives
the same elements and attributes as the tree that was written.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from wellformed import assert_wellformed

from svgx_sync.core.namespaces import SVGX_NS
from svgx_sync.core.svgdoc import SvgDocument, is_element

SOURCE = b"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:q="urn:q">
  <g id="g1" xmlns:foo="urn:foo" foo:k="1">
    <rect id="r1" foo:a="1"/>
    <rect id="r2" q:b="2"/>
  </g>
  <g id="g2" xmlns:q="urn:other-q">
    <circle id="c1" q:c="3"/>
  </g>
  <rect id="r3"/>
</svg>
"""
NAMESPACES = [
    "urn:foo",
    "urn:q",
    "urn:other-q",
    "urn:new",
    SVGX_NS,
    "http://www.w3.org/2000/svg",
    "http://www.inkscape.org/namespaces/inkscape",
]
HINTS = [None, "foo", "q", "new", "svgx", "inkscape", "ns1"]
TAGS = ["{http://www.w3.org/2000/svg}rect", "{urn:new}thing", f"{{{SVGX_NS}}}constraint"]

ACTION = st.one_of(
    st.tuples(
        st.just("set"),
        st.integers(0, 50),
        st.sampled_from(NAMESPACES),
        st.sampled_from(HINTS),
        st.sampled_from(["a", "b", "c"]),
    ),
    st.tuples(st.just("unset"), st.integers(0, 50), st.sampled_from(NAMESPACES)),
    st.tuples(
        st.just("new"), st.integers(0, 50), st.sampled_from(TAGS), st.sampled_from(NAMESPACES)
    ),
    st.tuples(st.just("move"), st.integers(0, 50), st.integers(0, 50)),
    st.tuples(st.just("remove"), st.integers(0, 50)),
    st.tuples(
        st.just("write"),
    ),
)


def shape(root: Any) -> list[tuple[Any, ...]]:
    """The elements with their attributes (by namespace, not prefix), in document order."""
    return [
        (el.tag, sorted(el.attrib.items()), el.getparent() is None)
        for el in root.iter()
        if is_element(el)
    ]


def check(doc: SvgDocument) -> None:
    expected = shape(doc.root)
    data = doc.commit_render()
    assert_wellformed(data, "the written file")
    assert shape(etree.fromstring(data)) == expected
    assert shape(SvgDocument(data).root) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTION, max_size=25))
def test_any_script_of_edits_writes_declared_prefixes(script: list[tuple[Any, ...]]) -> None:
    doc = SvgDocument(SOURCE)
    made = 0
    for action in script:
        elements = [el for el in doc.root.iter() if is_element(el)]
        kind = action[0]
        if kind == "set":
            _, n, ns, hint, local = action
            doc.set_attribute(elements[n % len(elements)], f"{{{ns}}}{local}", "v", prefix=hint)
        elif kind == "unset":
            _, n, ns = action
            el = elements[n % len(elements)]
            for key in [k for k in el.attrib if k.startswith(f"{{{ns}}}")]:
                doc.set_attribute(el, key, None)
        elif kind == "new":
            _, n, tag, ns = action
            made += 1
            el = doc.new_element(tag, {"id": f"n{made}", f"{{{ns}}}z": "1"})
            parent = elements[n % len(elements)]
            doc.insert(parent, len(parent), el)
        elif kind == "move":
            _, n, m = action
            el, target = elements[n % len(elements)], elements[m % len(elements)]
            if el is doc.root or el in target.iterancestors() or el is target:
                continue
            doc.move(el, target, len(target))
        elif kind == "remove":
            el = elements[action[1] % len(elements)]
            if el is not doc.root:
                doc.remove(el)
        else:
            check(doc)
    check(doc)
