"""Attribute names from the wire (``prefix:local``) to lxml's keys (``{namespace}local``).

Three readers do this, each for its own input: the writer reading a start tag's names
(only what the tag's scope binds), the merge reading a conflict's attribute name (its
own names pass through; usual prefixes such as ``inkscape`` are known even when not
declared), and operations reading ``data.attributes`` (their own ``namespaces`` first;
a prefix nobody binds is refused). These pin each reader's edge cases.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from lxml import etree

from svgx_sync.core.merge import marks
from svgx_sync.core.namespaces import INKSCAPE_NS, XLINK_NS, XML_NS, attribute_key, clark
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.errors import OperationError

SOURCE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
    b' xmlns:q="urn:q" xmlns:inkscape="urn:not-inkscape">'
    b'<g id="g" xmlns:r="urn:r"><rect id="r"/></g></svg>'
)

OTHER_INKSCAPE = "urn:not-inkscape"


def rect() -> tuple[SvgDocument, etree._Element]:
    doc = SvgDocument(SOURCE)
    return doc, doc.get("r")


def plain_rect() -> etree._Element:
    """A rect whose document binds no prefix at all."""
    return etree.fromstring(b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>')[0]


def tag_reader(name: str, scope: Mapping[str | None, str]) -> str:
    """How the writer reads a name in a start tag it rewrites."""
    return clark(name, scope) or name


# name, what the tag's scope binds, expected key
TAG_CASES = [
    ("width", {}, "width"),
    ("xml:space", {}, f"{{{XML_NS}}}space"),
    ("xlink:href", {"xlink": XLINK_NS}, f"{{{XLINK_NS}}}href"),
    ("q:a:b", {"q": "urn:q"}, "{urn:q}a:b"),  # only the first colon separates
    ("inkscape:label", {}, "inkscape:label"),  # a usual prefix unbound: left as written
    ("foo:bar", {}, "foo:bar"),
    ("inkscape:label", {"inkscape": OTHER_INKSCAPE}, f"{{{OTHER_INKSCAPE}}}label"),
]


@pytest.mark.parametrize(("name", "scope", "key"), TAG_CASES)
def test_the_writer_reads_a_tag_name_by_its_scope_only(
    name: str, scope: Mapping[str | None, str], key: str
) -> None:
    assert tag_reader(name, scope) == key


def test_the_merge_reads_a_conflict_name_by_the_element_then_usual_prefixes() -> None:
    _, el = rect()
    assert marks._conflict_key("width", el) == "width"
    assert marks._conflict_key("xml:lang", el) == f"{{{XML_NS}}}lang"
    assert marks._conflict_key("q:a", el) == "{urn:q}a"
    # Bound at the element (here to another namespace), the binding wins over the usual one.
    assert marks._conflict_key("inkscape:label", el) == f"{{{OTHER_INKSCAPE}}}label"
    bare = plain_rect()
    assert marks._conflict_key("inkscape:label", bare) == f"{{{INKSCAPE_NS}}}label"
    assert marks._conflict_key("xlink:href", bare) == f"{{{XLINK_NS}}}href"
    assert marks._conflict_key("foo:bar", bare) == "foo:bar"
    # The merge's own names: a style property and a name already in lxml's spelling.
    assert marks._conflict_key("style:fill", el) == "style:fill"
    assert marks._conflict_key("{urn:q}a", el) == "{urn:q}a"


def test_an_operation_reads_its_namespaces_then_the_scope_then_usual_prefixes() -> None:
    doc, el = rect()
    assert attribute_key(doc, el, "width") == "width"
    assert attribute_key(doc, el, "xml:lang") == f"{{{XML_NS}}}lang"
    assert attribute_key(doc, el, "r:a") == "{urn:r}a"  # bound on the parent group
    assert attribute_key(doc, el, "q:a", {"q": "urn:mine"}) == "{urn:mine}a"
    assert attribute_key(doc, el, "inkscape:label") == f"{{{OTHER_INKSCAPE}}}label"
    assert attribute_key(None, plain_rect(), "inkscape:label") == f"{{{INKSCAPE_NS}}}label"
    assert attribute_key(None, plain_rect(), "q:a:b", {"q": "urn:q"}) == "{urn:q}a:b"
    for refused in ("foo:bar", "style:fill", "{urn:q}a"):
        with pytest.raises(OperationError, match="unknown namespace prefix"):
            attribute_key(doc, el, refused)
