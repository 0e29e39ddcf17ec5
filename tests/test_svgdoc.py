"""The document model: hardened parsing, addressing, and the minimal-diff writer."""

from __future__ import annotations

import difflib
import gc
import weakref

import pytest

from svgx_sync.core.ops import apply_operation, coerce_operation
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.errors import DocumentError, NotFound, OperationError

SVG_OPEN = '<svg xmlns="http://www.w3.org/2000/svg">'


def changed_lines(before: str, after: str) -> list[str]:
    """Lines removed or added, as difflib sees them."""
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


# -- parsing -------------------------------------------------------------------------------


def test_unchanged_render_is_byte_identical() -> None:
    data = (
        b"<?xml version='1.0' encoding='UTF-8'?>\r\n<!-- hi -->\r\n"
        b"<svg xmlns='http://www.w3.org/2000/svg'  width = '10' >\r\n"
        b"\t<rect x='1'   y=\"2\"/><![CDATA[ a < b ]]>&#x41;\r\n</svg>\r\n"
    )
    doc = SvgDocument(data)
    assert doc.render() == data.decode()
    assert doc.to_bytes() == data
    assert doc.commit_render() == data


def test_latin1_file_round_trips() -> None:
    data = '<?xml version="1.0" encoding="ISO-8859-1"?><svg xmlns="http://www.w3.org/2000/svg"><title>café</title></svg>'.encode(
        "latin-1"
    )
    doc = SvgDocument(data)
    assert doc.to_bytes() == data


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<svg xmlns="http://www.w3.org/2000/svg"><text>&lol4;</text></svg>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>
"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "external"])
def test_doctype_with_internal_subset_is_refused(data: bytes) -> None:
    with pytest.raises(DocumentError, match="internal subset"):
        SvgDocument(data)


def test_plain_doctype_is_kept_and_ignored() -> None:
    data = (
        b'<?xml version="1.0" standalone="no"?>\n'
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n'
        b'  "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
        + SVG_OPEN.encode()
        + b'\n  <rect id="r" x="1"/>\n</svg>\n'
    )
    doc = SvgDocument(data)
    assert doc.to_bytes() == data
    doc.set_attribute(doc.get("r"), "x", "2")
    out = doc.to_bytes()
    assert out.startswith(data.split(SVG_OPEN.encode())[0])
    assert changed_lines(data.decode(), out.decode()) == [
        '-  <rect id="r" x="1"/>',
        '+  <rect id="r" x="2"/>',
    ]


def test_too_deep_is_refused() -> None:
    data = (SVG_OPEN + "<g>" * 300 + "</g>" * 300 + "</svg>").encode()
    with pytest.raises(DocumentError):
        SvgDocument(data)


@pytest.mark.parametrize(
    "data",
    [
        b"<svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><g></svg>',
        b"",
        b'<svg xmlns="http://www.w3.org/2000/svg"/><svg/>',
        b"\xff\xfe\x00garbage",
        b'<?xml version="1.0" encoding="ascii"?><svg><title>\xc3\xa9</title></svg>',
    ],
)
def test_not_well_formed_is_refused(data: bytes) -> None:
    with pytest.raises(DocumentError):
        SvgDocument(data)


def test_duplicate_ids_are_reported_and_the_first_is_indexed() -> None:
    doc = SvgDocument((SVG_OPEN + '<rect id="a" x="1"/><circle id="a"/><g id="b"/></svg>').encode())
    assert set(doc.duplicate_ids) == {"a"}
    assert [el.tag.split("}")[1] for el in doc.duplicate_ids["a"]] == ["rect", "circle"]
    assert doc.get("a").get("x") == "1"
    circle = doc.duplicate_ids["a"][1]
    assert doc.address_of(circle) == "/1"


def test_id_less_elements_are_addressed_by_position_and_no_id_is_invented() -> None:
    data = (SVG_OPEN + '<g><rect/><!-- c --><circle/></g><g id="x"><path/></g></svg>').encode()
    doc = SvgDocument(data)
    circle = doc.get("/0/1")
    assert circle.tag.endswith("circle")
    assert doc.address_of(circle) == "/0/1"
    assert doc.address_of(doc.get("/1/0")) == "/1/0"
    assert doc.address_of(doc.root) == "/"
    assert doc.find("/5") is None and doc.find("/x") is None
    with pytest.raises(NotFound):
        doc.get("missing")
    assert all(el.get("id") in (None, "x") for el in doc.elements())
    assert doc.to_bytes() == data


# -- the minimal-diff writer ---------------------------------------------------------------

ODD = """<?xml version='1.0' encoding='utf-8'?>
<!-- a comment before -->
<svg xmlns:xlink='http://www.w3.org/1999/xlink' version='1.1'
     xmlns='http://www.w3.org/2000/svg'>
\t<defs>
\t\t<style><![CDATA[ rect { fill: red } ]]></style>
\t</defs>
\t<g id='layer'  transform = 'translate(1, 2)'>
\t\t<rect height='4' id='r1' width='3' y='2' x='1' />
\t\t<path id="p1"
\t\t      d="M 0 0 L 10 10"
\t\t      stroke='black'/>
\t\t<use xlink:href='#r1' id='u1'/>
\t\t<!-- between -->
\t\t<circle id='c1' r='5'/>
\t</g>
</svg>
"""


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_one_attribute_change_touches_only_that_line(newline: str) -> None:
    source = ODD.replace("\n", newline)
    doc = SvgDocument(source.encode())
    doc.set_attribute(doc.get("r1"), "x", "10")
    out = doc.render()
    assert changed_lines(source, out) == [
        "-\t\t<rect height='4' id='r1' width='3' y='2' x='1' />",
        "+\t\t<rect height='4' id='r1' width='3' y='2' x='10' />",
    ]
    assert out.replace("x='10'", "x='1'") == source


def test_multi_line_start_tag_and_namespaced_attribute() -> None:
    doc = SvgDocument(ODD.encode())
    doc.set_attribute(doc.get("p1"), "stroke", "red")
    doc.set_attribute(doc.get("u1"), "{http://www.w3.org/1999/xlink}href", "#c1")
    doc.set_attribute(doc.get("c1"), "fill", "blue")
    assert changed_lines(ODD, doc.render()) == [
        "-\t\t      stroke='black'/>",
        "-\t\t<use xlink:href='#r1' id='u1'/>",
        "+\t\t      stroke='red'/>",
        "+\t\t<use xlink:href='#c1' id='u1'/>",
        "-\t\t<circle id='c1' r='5'/>",
        "+\t\t<circle id='c1' r='5' fill=\"blue\"/>",
    ]


def test_removing_an_attribute_and_text_edit() -> None:
    doc = SvgDocument(ODD.encode())
    doc.set_attribute(doc.get("layer"), "transform", None)
    out = doc.render()
    assert changed_lines(ODD, out) == [
        "-\t<g id='layer'  transform = 'translate(1, 2)'>",
        "+\t<g id='layer'>",
    ]


def test_insert_remove_and_move_keep_sibling_indentation() -> None:
    doc = SvgDocument(ODD.encode())
    layer = doc.get("layer")
    new = doc.new_element("{http://www.w3.org/2000/svg}rect", {"id": "n1"})
    doc.insert(layer, len(layer), new)
    out = doc.render()
    assert changed_lines(ODD, out) == ['+\t\t<rect id="n1"/>']
    doc.remove(doc.get("p1"))
    out = doc.render()
    assert "p1" not in out and "\t\t<use xlink:href='#r1' id='u1'/>" in out
    doc.move(doc.get("c1"), layer, 0)
    out = doc.render()
    lines = out.splitlines()
    first = lines.index("\t<g id='layer'  transform = 'translate(1, 2)'>")
    assert lines[first + 1] == "\t\t<circle id='c1' r='5'/>"
    assert lines[first + 2] == "\t\t<rect height='4' id='r1' width='3' y='2' x='1' />"
    assert SvgDocument(out.encode()).get("n1") is not None


def test_edits_after_commit_render_stay_minimal() -> None:
    doc = SvgDocument(ODD.encode())
    doc.set_attribute(doc.get("r1"), "x", "10")
    first = doc.commit_render().decode()
    assert not doc.dirty and doc.render() == first
    doc.set_attribute(doc.get("c1"), "r", "6")
    second = doc.render()
    assert changed_lines(first, second) == [
        "-\t\t<circle id='c1' r='5'/>",
        "+\t\t<circle id='c1' r='6'/>",
    ]
    layer = doc.get("layer")
    doc.insert(layer, 0, doc.new_element("{http://www.w3.org/2000/svg}rect", {"id": "n0"}))
    third = doc.commit_render().decode()
    doc.set_attribute(doc.get("n0"), "x", "1")
    assert changed_lines(third, doc.render()) == [
        '-\t\t<rect id="n0"/>',
        '+\t\t<rect id="n0" x="1"/>',
    ]


def test_new_namespaces_are_declared() -> None:
    doc = SvgDocument((SVG_OPEN + "\n  <g id='g'/>\n</svg>").encode())
    doc.set_attribute(doc.get("g"), "{https://svgx-sync.dev/ns/1}locked", "true")
    el = doc.parse_fragment('<foo:bar xmlns:foo="urn:foo" foo:a="1"/>')
    doc.insert(doc.root, len(doc.root), el)
    again = SvgDocument(doc.to_bytes())
    assert again.get("g").get("{https://svgx-sync.dev/ns/1}locked") == "true"
    assert again.root[-1].tag == "{urn:foo}bar"


def test_mixed_content_survives_removal() -> None:
    doc = SvgDocument((SVG_OPEN + '<text id="t">a<tspan/>b<tspan id="s"/>\n</text></svg>').encode())
    doc.remove(doc.get("s"))
    assert SvgDocument(doc.to_bytes()).get("t").xpath("string()") == "ab"


def test_text_with_carriage_return_round_trips() -> None:
    doc = SvgDocument((SVG_OPEN + '<text id="t">a</text></svg>').encode())
    doc.set_text(doc.get("t"), "x\ry")
    assert SvgDocument(doc.to_bytes()).get("t").text == "x\ry"


def test_source_start_tags_only_while_they_describe_the_element() -> None:
    doc = SvgDocument((SVG_OPEN + '\n  <rect id="a" x="1"/>\n  <rect id="b"/>\n</svg>').encode())
    assert doc.namespaces_on_root_only()
    assert doc.source_start_tag(doc.get("a")) == '<rect id="a" x="1"/>'
    doc.set_attribute(doc.get("a"), "x", "2")
    assert doc.source_start_tag(doc.get("a")) is None
    assert doc.source_start_tag(doc.get("b")) == '<rect id="b"/>'
    new = doc.new_element("{http://www.w3.org/2000/svg}circle", {"id": "c"})
    doc.insert(doc.root, 0, new)
    assert doc.source_start_tag(new) is None
    assert not doc.namespaces_on_root_only()  # edited: nothing is promised
    doc.commit_render()
    assert doc.source_start_tag(doc.get("a")) == '<rect id="a" x="2"/>'
    nested = SvgDocument((SVG_OPEN + '<g xmlns:a="urn:x"><rect a:k="1"/></g></svg>').encode())
    assert not nested.namespaces_on_root_only()


# -- memory --------------------------------------------------------------------------------


def test_a_dropped_document_is_freed_at_once_not_by_the_collector() -> None:
    """A document in a reference cycle would keep its whole tree (and every element's
    span) alive until the collector's rare full pass: big drawings piled up that way."""
    old = f'{SVG_OPEN}\n  <g id="g"><rect id="a" x="1"/></g>\n</svg>\n'.encode()
    gc.disable()
    try:
        doc = SvgDocument(old)
        gone = weakref.ref(doc)
        doc.set_attribute(doc.get("a"), "{http://www.w3.org/1999/xlink}href", "#g")
        doc.insert(doc.get("g"), 0, doc.new_element("{http://www.w3.org/2000/svg}rect"))
        assert doc.scope(doc.get("a"))
        doc.commit_render()
        del doc
        assert gone() is None
    finally:
        gc.enable()


def test_a_document_edited_by_operations_is_freed_at_once_when_dropped() -> None:
    doc = SvgDocument(f'{SVG_OPEN}\n  <g id="g"><rect id="a" x="1"/></g>\n</svg>\n'.encode())
    gone = weakref.ref(doc)
    gc.disable()
    try:
        for data in ({"attributes": {"x": "2"}}, {"text": "hi"}):
            op = coerce_operation(
                {"type": "update", "user_id": "u", "element_id": "a", "data": data}
            )
            assert apply_operation(doc, op)
        with pytest.raises(OperationError):
            apply_operation(
                doc, coerce_operation({"type": "delete", "user_id": "u", "element_id": "no"})
            )
        del doc
        assert gone() is None
    finally:
        gc.enable()
