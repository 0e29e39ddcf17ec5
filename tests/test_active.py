"""The active-content policy: what in an element, an attribute or CSS text is active, and
how a served copy is made inert. Pure: no event loop, no files."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from corpus import readable_corpus
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from svgx_sync.core import active
from svgx_sync.core.active import Kind, UrlKind
from svgx_sync.core.diff import diff_documents
from svgx_sync.core.journal_records import OpRecord
from svgx_sync.core.namespaces import SVG_NS
from svgx_sync.core.ops import Operation, apply_operation, coerce_operation
from svgx_sync.core.replay import replay_journal
from svgx_sync.core.session import LiveDocument
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.errors import ActiveContent, DocumentError

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
XHTML = "{http://www.w3.org/1999/xhtml}"
EVENTS = "{http://www.w3.org/2001/xml-events}"
INKSCAPE = "{http://www.inkscape.org/namespaces/inkscape}"

EH, JS, EL = Kind.EVENT_HANDLER, Kind.SCRIPT_URL, Kind.ACTIVE_ELEMENT
ANIM, EXT = Kind.ANIMATION_TARGET, Kind.EXTERNAL_REFERENCE
IMPORT, CSSURL = Kind.CSS_IMPORT, Kind.CSS_URL

# One case a line, so that the tables read as tables.
# fmt: off
# (case, tag, attributes, text of the element, [(kind, attribute)])
ACTIVE: list[tuple[str, str, dict[str, str], str | None, list[tuple[Kind, str | None]]]] = [
    ("onload", "rect", {"onload": "alert(1)"}, None, [(EH, "onload")]),
    ("upper case", "rect", {"ONCLICK": "alert(1)"}, None, [(EH, "ONCLICK")]),
    ("mixed case", "circle", {"OnMouseOver": "x()"}, None, [(EH, "OnMouseOver")]),
    ("any namespace", "rect", {"{urn:x}onclick": "x()"}, None, [(EH, "{urn:x}onclick")]),
    ("empty handler", "g", {"onfocus": ""}, None, [(EH, "onfocus")]),
    ("a href", "a", {"href": "javascript:alert(1)"}, None, [(JS, "href")]),
    ("a xlink:href", "a", {f"{XLINK}href": "javascript:alert(1)"}, None, [(JS, f"{XLINK}href")]),
    ("case", "a", {"href": "JaVaScRiPt:alert(1)"}, None, [(JS, "href")]),
    ("tab inside", "a", {"href": "java\tscript:alert(1)"}, None, [(JS, "href")]),
    ("newline inside", "a", {"href": "java\nscript:alert(1)"}, None, [(JS, "href")]),
    ("leading spaces", "a", {"href": "   javascript:alert(1)"}, None, [(JS, "href")]),
    ("control chars", "a", {"href": "\x01java\x1fscript\x7f:x"}, None, [(JS, "href")]),
    ("space before colon", "a", {"href": " JavaScript :alert(1)"}, None, [(JS, "href")]),
    ("vbscript", "a", {"href": "vbscript:msgbox(1)"}, None, [(JS, "href")]),
    ("data html", "a", {"href": "data:text/html,<script>alert(1)</script>"}, None, [(JS, "href")]),
    ("data html case", "a", {"href": " DATA:Text/HTML;base64,PHNjcmlwdD4="}, None, [(JS, "href")]),
    ("data xhtml", "a", {"href": "data:application/xhtml+xml,<x/>"}, None, [(JS, "href")]),
    ("data svg on a", "a", {"href": "data:image/svg+xml,<svg/>"}, None, [(JS, "href")]),
    ("any attribute", "rect", {"{urn:x}resource": "javascript:x"}, None, [(JS, "{urn:x}resource")]),
    ("image javascript", "image", {"href": "javascript:alert(1)"}, None, [(JS, "href")]),
    ("script", "script", {}, "alert(1)", [(EL, None)]),
    ("script in svg", f"{SVG}script", {"type": "text/ecmascript"}, "x()", [(EL, None)]),
    ("script upper case", "SCRIPT", {}, "x()", [(EL, None)]),
    ("script of html", f"{XHTML}script", {}, "x()", [(EL, None)]),
    ("script's src", "script", {"src": "http://evil.example/x.js"}, None, [(EL, None), (EXT, "src")]),
    ("foreignObject", f"{SVG}foreignObject", {"width": "10"}, None, [(EL, None)]),
    ("foreignobject", "foreignobject", {}, None, [(EL, None)]),
    ("iframe", f"{XHTML}iframe", {"src": "#x"}, None, [(EL, None)]),
    ("handler", f"{EVENTS}handler", {f"{EVENTS}event": "click"}, "alert(1)", [(EL, None)]),
    ("handler of svg", f"{SVG}handler", {}, "alert(1)", [(EL, None)]),
    ("embed", f"{XHTML}embed", {}, None, [(EL, None)]),
    ("object", f"{XHTML}object", {}, None, [(EL, None)]),
    ("set onclick", "set", {"attributeName": "onclick", "to": "alert(1)"}, None, [(ANIM, "attributeName")]),
    ("set href", f"{SVG}set", {"attributeName": "href", "to": "#b"}, None, [(ANIM, "attributeName")]),
    ("animate xlink:href", "animate", {"attributeName": "xlink:href"}, None, [(ANIM, "attributeName")]),
    ("animate ONLOAD", "animate", {"attributeName": " ONLOAD "}, None, [(ANIM, "attributeName")]),
    ("animateMotion", "animateMotion", {"attributeName": "onend"}, None, [(ANIM, "attributeName")]),
    ("animateTransform", "animateTransform", {"attributeName": "href"}, None, [(ANIM, "attributeName")]),
    (
        "set href to javascript",
        "set",
        {"attributeName": "href", "to": "javascript:alert(1)"},
        None,
        [(ANIM, "attributeName"), (JS, "to")],
    ),
    ("use http", "use", {"href": "http://evil.example/x.svg#a"}, None, [(EXT, "href")]),
    ("use relative", "use", {f"{XLINK}href": "other.svg#a"}, None, [(EXT, f"{XLINK}href")]),
    ("use network path", f"{SVG}use", {"href": "//evil.example/x#a"}, None, [(EXT, "href")]),
    ("use data", "use", {"href": "data:image/png;base64,AAAA"}, None, [(EXT, "href")]),
    ("use data svg", "use", {"href": "data:image/svg+xml,<svg/>"}, None, [(EXT, "href")]),
    ("image https", "image", {"href": "https://tracker.example/p.png"}, None, [(EXT, "href")]),
    ("image file", f"{SVG}image", {f"{XLINK}href": "file:///etc/passwd"}, None, [(EXT, f"{XLINK}href")]),
    ("image relative", "image", {f"{XLINK}href": "pic.png"}, None, [(EXT, f"{XLINK}href")]),
    ("image data html", "image", {"href": "data:text/html,x"}, None, [(JS, "href")]),
    ("feImage", "feImage", {"href": "https://evil.example/x.png"}, None, [(EXT, "href")]),
    ("pattern", "pattern", {"href": "https://evil.example/p.svg#p"}, None, [(EXT, "href")]),
    ("style url", "rect", {"style": "fill:url(http://evil.example/p.svg#g)"}, None, [(CSSURL, "style")]),
    ("style url quoted", "rect", {"style": "fill:url( 'https://e.example/x' )"}, None, [(CSSURL, "style")]),
    ("style URL case", "rect", {"style": "fill:URL(https://e.example/x)"}, None, [(CSSURL, "style")]),
    ("style import", "rect", {"style": "@import 'https://e.example/s.css'"}, None, [(IMPORT, "style")]),
    ("style relative", "rect", {"style": "background:url(x.png)"}, None, [(CSSURL, "style")]),
    ("style javascript", "rect", {"style": "background:url(javascript:alert(1))"}, None, [(CSSURL, "style")]),
    ("css escaped name", "rect", {"style": "background:u\\72l(http://x.example/)"}, None, [(CSSURL, "style")]),
    ("css escaped scheme", "rect", {"style": "background:url(j\\61vascript:x)"}, None, [(CSSURL, "style")]),
    ("fill url", "rect", {"fill": "url(https://evil.example/x#g)"}, None, [(CSSURL, "fill")]),
    ("filter url", "g", {"filter": "url('//evil.example/f.svg#f')"}, None, [(CSSURL, "filter")]),
    ("set to url", "set", {"attributeName": "fill", "to": "url(http://e.example/#g)"}, None, [(CSSURL, "to")]),
    ("style element import", "style", {}, "@import url(http://evil.example/x.css);", [(IMPORT, None)]),
    ("import string", f"{SVG}style", {}, "@import 'x.css'; rect{fill:red}", [(IMPORT, None)]),
    ("import upper case", "style", {}, "@IMPORT 'x.css';", [(IMPORT, None)]),
    ("import escaped", "style", {}, "@\\69mport 'x.css';", [(IMPORT, None)]),
    ("import after comment", "style", {}, "/* x */@import 'x.css';", [(IMPORT, None)]),
    ("style element url", "style", {}, "rect{fill:url(http://x.example/y#z)}", [(CSSURL, None)]),
    ("font face", "style", {}, "@font-face{src:url(https://fonts.example/f.woff2)}", [(CSSURL, None)]),
    ("image-set", "style", {}, "a{background:image-set('https://x.example/a.png' 1x)}", [(CSSURL, None)]),
    ("style of html", f"{XHTML}style", {}, "@import 'x.css';", [(IMPORT, None)]),
]

# (case, tag, attributes, text of the element)
INERT: list[tuple[str, str, dict[str, str], str | None]] = [
    ("use fragment", "use", {"href": "#a"}, None),
    ("use xlink fragment", f"{SVG}use", {f"{XLINK}href": "#a", "x": "3"}, None),
    ("use fragment spaces", "use", {"href": "  #a "}, None),
    ("fill url fragment", "rect", {"fill": "url(#grad)"}, None),
    ("style url fragment", "rect", {"style": "fill:url(#grad);stroke:url('#s')"}, None),
    ("clip-path", "g", {"clip-path": "url(#clip)", "mask": "url(#m)"}, None),
    ("a to the web", "a", {"href": "https://example.com/page"}, None),
    ("a of html", f"{XHTML}a", {"href": "mailto:x@example.com"}, None),
    ("a relative", "a", {f"{XLINK}href": "other.svg"}, None),
    ("image inline png", "image", {"href": "data:image/png;base64,iVBORw0KGgo="}, None),
    ("image inline svg", "image", {f"{XLINK}href": "data:image/svg+xml;base64,PHN2Zy8+"}, None),
    ("feImage fragment", "feImage", {"href": "#shape"}, None),
    ("feImage inline", "feImage", {"href": "data:image/jpeg;base64,/9j/"}, None),
    ("plain", "rect", {"id": "r", "x": "1", "fill": "red", "class": "javascript"}, None),
    ("javascript later", "a", {"href": "https://example.com/?q=javascript:x"}, None),
    ("transform", "g", {"transform": "translate(1 2) rotate(3)"}, None),
    ("set fill", "set", {"attributeName": "fill", "to": "red"}, None),
    ("animate x", "animate", {"attributeName": "x", "values": "0;10"}, None),
    ("animate href's target", "animate", {"href": "#r", "attributeName": "width"}, None),
    ("style element", "style", {}, "rect{fill:red} .a{fill:url(#g)}"),
    ("inline font", "style", {}, "@font-face{src:url(data:font/woff2;base64,AAAA)}"),
    ("inline image", "rect", {"style": "background:url(data:image/svg+xml;utf8,<svg/>)"}, None),
    ("import in comment", "style", {}, "/* @import url(http://x.example/); */ rect{}"),
    ("import in string", "style", {}, "a::after{content:'@import url(http://x.example/)'}"),
    ("comment splits import", "style", {}, "@im/**/port 'x.css';"),
    ("not a url function", "rect", {"style": "font-family:url ('x')"}, None),
    ("desc mentions", "desc", {}, "javascript:alert(1) is only text here"),
    ("text mentions", "text", {}, "@import url(http://x.example/)"),
    ("inkscape", f"{INKSCAPE}page", {f"{INKSCAPE}label": "Page 1"}, None),
    ("windows path", "image", {f"{INKSCAPE}export-filename": "C:\\x\\y.png"}, None),
]
# fmt: on


def kinds(findings: list[active.Finding]) -> list[tuple[Kind, str | None]]:
    return [(f.kind, f.attribute) for f in findings]


@pytest.mark.parametrize(
    ("tag", "attributes", "text", "expected"), [c[1:] for c in ACTIVE], ids=[c[0] for c in ACTIVE]
)
def test_active_content_is_found(
    tag: str, attributes: dict[str, str], text: str | None, expected: list[tuple[Kind, str | None]]
) -> None:
    found = active.element_findings(tag, attributes, text=text)
    assert sorted(kinds(found), key=str) == sorted(expected, key=str)
    assert all(f.reason for f in found)


@pytest.mark.parametrize(
    ("tag", "attributes", "text"), [c[1:] for c in INERT], ids=[c[0] for c in INERT]
)
def test_inert_content_is_allowed(tag: str, attributes: dict[str, str], text: str | None) -> None:
    assert active.element_findings(tag, attributes, text=text) == []


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("", UrlKind.FRAGMENT),
        ("#a", UrlKind.FRAGMENT),
        (" #a", UrlKind.FRAGMENT),
        ("javascript:x", UrlKind.SCRIPT),
        ("\tJAVA\rSCRIPT:x", UrlKind.SCRIPT),
        ("data:text/html,x", UrlKind.SCRIPT),
        ("data:text/xml,x", UrlKind.SCRIPT),
        ("data:application/foo+xml,x", UrlKind.SCRIPT),
        ("data:image/svg+xml,x", UrlKind.SVG_IMAGE),
        ("data:image/png;base64,x", UrlKind.IMAGE),
        ("data:,hello", UrlKind.DATA),
        ("data:font/woff2;base64,x", UrlKind.DATA),
        ("https://example.com/", UrlKind.EXTERNAL),
        ("x.svg#a", UrlKind.EXTERNAL),
        ("javascript%3Ax", UrlKind.EXTERNAL),
    ],
)
def test_urls_are_read_as_browsers_read_them(url: str, kind: UrlKind) -> None:
    assert active.url_kind(url) is kind


# -- whatever is mixed into "javascript:", it stays refused ------------------------------------

NOISE = st.text(alphabet=[chr(c) for c in [*range(0x21), 0x7F]], max_size=3)


@st.composite
def disguised_javascript(draw: st.DrawFn) -> str:
    out = draw(NOISE)
    for char in "javascript:":
        out += char.upper() if draw(st.booleans()) else char
        out += draw(NOISE)
    return out + draw(st.sampled_from(["alert(1)", "", "void(0)"]))


@settings(max_examples=300)
@given(disguised_javascript(), st.sampled_from(["a", "use", "image", "rect", "feImage", "set"]))
def test_case_whitespace_and_control_characters_never_hide_javascript(url: str, tag: str) -> None:
    for name in ("href", f"{XLINK}href", "src"):
        assert active.element_findings(tag, {name: url}), (tag, name, url)
    quoted = (
        url.replace("\\", "")
        .replace("'", "")
        .replace("\n", "")
        .replace("\r", "")
        .replace("\x0c", "")
    )
    assert active.element_findings(tag, {"style": f"fill:url('{quoted}')"}), quoted


# -- the quick answer for one attribute set on a plain element -----------------------------

TAGS = ["rect", "a", "use", "image", "set", "animate", "style", "script", "foreignObject", "g"]
KEYS = ["fill", "style", "href", f"{XLINK}href", "src", "onclick", "attributeName", "data-m"]
VALUES = st.one_of(
    disguised_javascript(),
    st.sampled_from(
        [
            "#S1",
            "red",
            "url(#g)",
            "url(https://e.example/x)",
            "@import x",
            "data:,x",
            "href",
            "onclick",
        ]
    ),
    st.text(max_size=12),
)


@settings(max_examples=400)
@given(
    st.sampled_from(TAGS),
    st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4),
    st.sampled_from(KEYS),
    VALUES,
)
def test_adds_nothing_only_when_the_whole_element_judged_again_finds_nothing_new(
    tag: str, before: dict[str, str], key: str, value: str
) -> None:
    """``adds_nothing`` is the shortcut of an attribute update: when it says so, judging
    the element with the new value in full finds nothing its old attributes lacked."""
    if not active.adds_nothing(SVG + tag, key, value):
        return
    seen = {(f.kind, f.attribute, f.value) for f in active.element_findings(SVG + tag, before)}
    after = active.element_findings(SVG + tag, {**before, key: value})
    assert [f for f in after if (f.kind, f.attribute, f.value) not in seen] == []


def test_adds_nothing_is_no_for_what_could_run_or_a_rule_of_the_element() -> None:
    assert active.adds_nothing(SVG + "rect", "data-m", "#S00000001")
    assert not active.adds_nothing(SVG + "rect", "onclick", "x")
    assert not active.adds_nothing(SVG + "a", "href", "javascript:alert(1)")
    assert not active.adds_nothing(SVG + "set", "to", "x")  # an animation: judged whole
    assert not active.adds_nothing(SVG + "style", "media", "x")


# -- a whole tree -----------------------------------------------------------------------------

TREE = b"""<?xml version="1.0"?>
<?xml-stylesheet type="text/css" href="https://evil.example/s.css"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     xmlns:h="http://www.w3.org/1999/xhtml">
  <defs>
    <linearGradient id="grad"><stop offset="0" stop-color="red"/></linearGradient>
    <style>@import url(https://evil.example/f.css); rect { fill: url(#grad) }</style>
  </defs>
  <rect id="r1" width="10" height="10" fill="url(#grad)" onclick="alert(1)"/>
  <a id="a1" xlink:href="java&#x09;script:alert(1)"><text>t</text></a>
  <a id="a2" href="https://example.com/"><text>fine</text></a>
  <use id="u1" href="#r1"/>
  <use id="u2" xlink:href="https://evil.example/x.svg#a"/>
  <foreignObject id="f1" width="10" height="10">
    <h:div onclick="x()"><h:iframe src="https://evil.example/"/></h:div>
  </foreignObject>
  <g id="g1"><set attributeName="onmouseover" to="alert(1)"/></g>
  <script>alert(1)</script>
</svg>
"""


def tree() -> Any:
    return etree.fromstring(TREE)


def test_a_tree_gives_every_finding_with_its_element() -> None:
    found = active.tree_findings(tree())
    where = [(f.element_id, f.kind, f.attribute) for f in found]
    assert where == [
        (None, IMPORT, "href"),
        (None, IMPORT, None),
        ("r1", EH, "onclick"),
        ("a1", JS, f"{XLINK}href"),
        ("u2", EXT, f"{XLINK}href"),
        ("f1", EL, None),
        (None, EH, "onclick"),
        (None, EL, None),
        (None, EXT, "src"),
        (None, ANIM, "attributeName"),
        (None, EL, None),
    ]
    assert found[0].tag == "?xml-stylesheet" and found[2].line == 9
    assert found[2].to_wire() == {
        "kind": "event_handler",
        "element": "rect",
        "element_id": "r1",
        "attribute": "onclick",
        "reason": "event handler attribute onclick",
        "line": 9,
    }
    assert found[3].to_wire()["attribute"] == "xlink:href"


def test_an_inert_copy_holds_no_active_content_and_keeps_the_rest() -> None:
    original = tree()
    inert, found = active.inert_copy(original)
    assert found == active.tree_findings(original)
    # What is left is active elements by name only: empty, so nothing runs or loads.
    left = active.tree_findings(inert)
    assert {f.kind for f in left} == {EL}
    for el in inert.iter(etree.Element):
        if active.is_active_element(el.tag):
            assert len(el) == 0 and not el.text
    assert active.tree_findings(original) == found  # the original is untouched
    text = etree.tostring(inert.getroottree()).decode()
    for kept in (
        'fill="url(#grad)"',
        'href="#r1"',
        'href="https://example.com/"',
        "rect { fill: url(#grad) }",
    ):
        assert kept in text
    for gone in ("evil.example", "alert", "onclick", "x()", "javascript"):
        assert gone not in text
    ids = {el.get("id") for el in inert.iter() if el.get("id")}
    assert ids == {"grad", "r1", "a1", "a2", "u1", "u2", "f1", "g1"}
    # The structure outside active elements is unchanged: every element keeps its place.
    assert [el.tag for el in inert.iter(etree.Element)] == [
        el.tag
        for el in original.iter(etree.Element)
        if not any(active.is_active_element(a.tag) for a in el.iterancestors())
    ]


def test_an_inert_copy_of_an_inert_tree_is_the_tree_itself() -> None:
    root = etree.fromstring(b'<svg xmlns="http://www.w3.org/2000/svg"><use href="#a"/></svg>')
    assert active.inert_copy(root) == (root, [])


def test_inert_css_replaces_only_what_is_active() -> None:
    css = (
        "@import 'x.css'; a { fill: url(#g); background: url( http://e.example/b.png ) } b { c: d }"
    )
    inert = active.inert_css(css)
    assert inert == ' a { fill: url(#g); background: url("") } b { c: d }'
    assert active.css_findings(inert) == []


def test_elements_inside_an_active_element_are_found_by_their_ancestor() -> None:
    root = tree()
    div = root.find(".//{http://www.w3.org/1999/xhtml}div")
    fo = root.find(f"{SVG}foreignObject")
    assert active.enclosing_active(div) is fo and active.enclosing_active(fo) is fo
    assert active.enclosing_active(root.find(f"{SVG}rect")) is None


def test_findings_of_one_element_match_the_tree_scan() -> None:
    root = tree()
    rect = root.find(f"{SVG}rect")
    assert active.findings_of(rect) == [
        f for f in active.tree_findings(root) if f.element_id == "r1"
    ]
    style = copy.deepcopy(root.find(f"{SVG}defs/{SVG}style"))
    assert kinds(active.findings_of(style)) == [(IMPORT, None)]


# -- live operations are screened ---------------------------------------------------------------

# fmt: off
LIVE = b"""<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
  <defs>
    <linearGradient id="grad"><stop offset="0"/></linearGradient>
    <style id="css">rect { fill: red }</style>
  </defs>
  <rect id="r1" width="10" height="10" fill="red"/>
  <rect id="r2" width="10" height="10" onclick="alert(1)" fill="red"/>
  <use id="u1" href="#r1"/>
  <a id="a1" href="https://example.com/"><text id="t1">link</text></a>
  <foreignObject id="f1" width="10" height="10"><div xmlns="http://www.w3.org/1999/xhtml" id="d1">hi</div></foreignObject>
  <script id="s1">alert(1)</script>
  <g id="g1"/>
</svg>
"""

# (case, operation type, element id, data)
REFUSED: list[tuple[str, str, str, dict[str, Any]]] = [
    ("onclick", "update", "r1", {"attributes": {"onclick": "alert(1)"}}),
    ("ONLOAD", "update", "r1", {"attributes": {"ONLOAD": "alert(1)"}}),
    ("prefixed handler", "update", "r1", {"attributes": {"x:onclick": "1"}, "namespaces": {"x": "urn:x"}}),
    ("javascript href", "update", "a1", {"attributes": {"href": "javascript:alert(1)"}}),
    ("xlink:href javascript", "update", "r1", {"attributes": {"xlink:href": "javascript:alert(1)"}}),
    ("spaced javascript", "update", "a1", {"attributes": {"href": " JavaScript :alert(1)"}}),
    ("tab javascript", "update", "a1", {"attributes": {"href": "java\tscript:alert(1)"}}),
    ("data html", "update", "a1", {"attributes": {"href": "data:text/html,<script>x</script>"}}),
    ("use outside", "update", "u1", {"attributes": {"href": "https://evil.example/x.svg#a"}}),
    ("use relative", "update", "u1", {"attributes": {"xlink:href": "other.svg#a"}}),
    ("style remote", "update", "r1", {"style": "fill:url(https://evil.example/p#g)"}),
    ("style property remote", "update", "r1", {"style": {"fill": "url(//evil.example/p#g)"}}),
    ("fill remote", "update", "r1", {"attributes": {"fill": "url(https://evil.example/p#g)"}}),
    ("style element import", "update", "css", {"text": "@import url(https://evil.example/x.css);"}),
    ("script text", "update", "s1", {"text": "alert(2)"}),
    ("inside foreignObject", "update", "d1", {"attributes": {"class": "x"}}),
    ("text inside foreignObject", "update", "d1", {"text": "other"}),
    ("markup onload", "create", "x", {"markup": '<rect onload="alert(1)"/>'}),
    ("markup script", "create", "x", {"markup": "<script>alert(1)</script>"}),
    ("markup nested script", "create", "x", {"markup": "<g><g><script>alert(1)</script></g></g>"}),
    ("markup foreignObject", "create", "x", {"markup": "<foreignObject><div xmlns='http://www.w3.org/1999/xhtml'/></foreignObject>"}),
    ("markup iframe", "create", "x", {"markup": "<h:iframe xmlns:h='http://www.w3.org/1999/xhtml' src='https://e.example/'/>"}),
    ("markup handler", "create", "x", {"markup": "<handler xmlns='http://www.w3.org/2001/xml-events'>x()</handler>"}),
    ("markup encoded tab", "create", "x", {"markup": '<a href="java&#x09;script:alert(1)"/>'}),
    ("markup set", "create", "x", {"markup": '<set attributeName="onclick" to="alert(1)"/>'}),
    ("markup animate href", "create", "x", {"markup": '<animate attributeName="xlink:href" values="#a;#b"/>'}),
    ("markup image", "create", "x", {"markup": '<image href="https://tracker.example/p.png"/>'}),
    ("markup feImage", "create", "x", {"markup": '<filter><feImage href="http://e.example/x.png"/></filter>'}),
    ("markup style", "create", "x", {"markup": "<style>@import 'https://e.example/x.css';</style>"}),
    ("type with handler", "create", "x", {"type": "rectangle", "attributes": {"onmouseover": "x()"}}),
    ("type use outside", "create", "x", {"type": "use", "attributes": {"href": "https://e.example/#a"}}),
    ("type style import", "create", "x", {"type": "style", "text": "@import 'x.css';"}),
    ("create inside foreignObject", "create", "x", {"type": "rectangle", "parent": "f1"}),
    ("set animates a handler", "update", "g1", {"attributes": {"onbegin": "x()"}}),
    ("move into foreignObject", "move", "r1", {"parent": "f1"}),
    ("constraint property", "constraint_add", "r1", {"constraint_type": "d", "properties": {"onclick": "x()"}}),
    ("assembly property", "assembly_update", "asm", {"properties": {"onload": "x()"}}),
]

# (case, operation type, element id, data): allowed even where active content is
ALLOWED: list[tuple[str, str, str, dict[str, Any]]] = [
    ("use fragment", "update", "u1", {"attributes": {"href": "#r2", "x": 5}}),
    ("fill gradient", "update", "r1", {"attributes": {"fill": "url(#grad)"}}),
    ("style gradient", "update", "r1", {"style": {"fill": "url(#grad)"}}),
    ("link to the web", "update", "a1", {"attributes": {"href": "https://example.org/"}}),
    ("inline image", "create", "x", {"markup": '<image href="data:image/png;base64,iVBORw0KGgo="/>'}),
    ("markup use", "create", "x", {"markup": '<use xlink:href="#r1"/>'}),
    ("style element css", "update", "css", {"text": "rect { fill: url(#grad) }"}),
    ("flagged element keeps its other edits", "update", "r2", {"attributes": {"fill": "blue"}}),
    ("moving a flagged element", "move", "r2", {"dx": 3, "dy": 4}),
    ("handler removed", "update", "r2", {"attributes": {"onclick": None}}),
    ("active element's own attribute", "update", "f1", {"attributes": {"width": 20}}),
    ("script deleted", "delete", "s1", {}),
    ("foreignObject deleted", "delete", "f1", {}),
    ("content of foreignObject deleted", "delete", "d1", {}),
    ("script text cleared", "update", "s1", {"text": ""}),
    ("plain create", "create", "x", {"type": "rectangle", "attributes": {"fill": "red"}}),
]
# fmt: on


def live_op(kind: str, element_id: str, data: dict[str, Any]) -> Operation:
    return coerce_operation(
        {"operation_type": kind, "user_id": "u1", "element_id": element_id, "data": data}
    )


@pytest.mark.parametrize(
    ("kind", "element_id", "data"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_a_screened_operation_may_not_add_active_content(
    kind: str, element_id: str, data: dict[str, Any]
) -> None:
    doc = SvgDocument(LIVE)
    with pytest.raises(ActiveContent) as refused:
        apply_operation(doc, live_op(kind, element_id, data), screen=True)
    assert refused.value.code == "active_content" and refused.value.findings
    assert "active content is refused" in str(refused.value)
    assert doc.to_bytes() == LIVE


@pytest.mark.parametrize(
    ("kind", "element_id", "data"), [c[1:] for c in ALLOWED], ids=[c[0] for c in ALLOWED]
)
def test_a_screened_operation_may_remove_active_content_and_edit_the_rest(
    kind: str, element_id: str, data: dict[str, Any]
) -> None:
    doc = SvgDocument(LIVE)
    before = active.tree_findings(doc.root)
    apply_operation(doc, live_op(kind, element_id, data), screen=True)
    after = active.tree_findings(doc.root)
    assert {(f.kind, f.attribute, f.value) for f in after} <= {
        (f.kind, f.attribute, f.value) for f in before
    }


@pytest.mark.parametrize(
    ("kind", "element_id", "data"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_unscreened_the_same_operation_is_taken(
    kind: str, element_id: str, data: dict[str, Any]
) -> None:
    # What another program saved, or a merged branch, is taken in as it is (and flagged).
    doc = SvgDocument(LIVE)
    apply_operation(doc, live_op(kind, element_id, data))
    assert doc.to_bytes() != LIVE


def test_the_refusal_names_the_element_and_the_attribute() -> None:
    doc = SvgDocument(LIVE)
    with pytest.raises(ActiveContent) as refused:
        apply_operation(
            doc, live_op("create", "x", {"markup": '<rect onload="alert(1)"/>'}), screen=True
        )
    assert str(refused.value) == (
        'active content is refused: <rect id="x">: event handler attribute onload'
    )
    assert refused.value.findings == [
        {
            "kind": "event_handler",
            "element": "rect",
            "element_id": "x",
            "attribute": "onload",
            "reason": "event handler attribute onload",
            "line": 1,
        }
    ]


# -- the live session: refused from clients, taken from outside, served inert -----------------

SESSION = b"""<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
  <rect id="r1" width="10" height="10" fill="red"/>
  <use id="u1" href="#r1"/>
  <foreignObject id="f1"><div xmlns="http://www.w3.org/1999/xhtml" id="d1">hi</div></foreignObject>
</svg>
"""


def session() -> LiveDocument:
    return LiveDocument("doc", "main", {"document.svg": SESSION})


def test_a_clients_active_content_is_refused_and_nothing_is_numbered() -> None:
    live = session()
    attack = live_op("create", "x", {"markup": '<rect onload="alert(1)"/>'})
    with pytest.raises(ActiveContent):
        live.submit(attack, base_seq=0, now=1)
    assert live.seq == 0 and live.texts()["document.svg"] == SESSION.decode()
    assert live.submit(live_op("update", "r1", {"attributes": {"fill": "blue"}}), base_seq=0, now=1)


def test_an_outside_change_is_taken_as_it_is_and_served_inert() -> None:
    live = session()
    change = live_op("update", "r1", {"attributes": {"onclick": "alert(1)", "fill": "blue"}})
    out = live.submit(change, base_seq=0, now=1, outside=True)
    assert live.files["document.svg"].get("r1").get("onclick") == "alert(1)"
    (record,) = out.journal
    assert isinstance(record, OpRecord)
    assert record.entry["data"]["attributes"] == {"onclick": "alert(1)", "fill": "blue"}
    (entry,) = out.entries
    assert entry["data"]["attributes"] == {"onclick": None, "fill": "blue"}
    assert [f["attribute"] for f in entry["active_content"]] == ["onclick"]
    assert live.since(0) == [entry]


def test_outside_markup_and_files_are_served_inert() -> None:
    live = session()
    markup = (
        '<g><script>alert(1)</script><image href="https://t.example/p.png"/><use href="#r1"/></g>'
    )
    out = live.submit(live_op("create", "g2", {"markup": markup}), base_seq=0, now=1, outside=True)
    (entry,) = out.entries
    assert "alert" not in entry["data"]["markup"] and "t.example" not in entry["data"]["markup"]
    assert 'href="#r1"' in entry["data"]["markup"]
    assert {f["kind"] for f in entry["active_content"]} == {"active_element", "external_reference"}
    added = live.add_file(
        "other.svg", SESSION.replace(b'fill="red"', b'onload="x()"'), user_id="external", now=2
    )
    (entry,) = added.entries
    assert "x()" not in entry["data"]["markup"] and entry["active_content"]
    (record,) = added.journal
    assert isinstance(record, OpRecord) and "x()" in record.entry["data"]["markup"]


def test_served_texts_are_inert_and_say_what_was_flagged() -> None:
    live = session()
    texts, flagged = live.served_texts()
    assert "hi" not in texts["document.svg"] and 'href="#r1"' in texts["document.svg"]
    assert [(f["element_id"], f["kind"]) for f in flagged["document.svg"]] == [
        ("f1", "active_element")
    ]
    assert live.texts()["document.svg"] == SESSION.decode()  # the file keeps it
    clean = LiveDocument("doc", "main", {"a.svg": b'<svg xmlns="http://www.w3.org/2000/svg"/>'})
    assert clean.served_texts() == ({"a.svg": '<svg xmlns="http://www.w3.org/2000/svg"/>'}, {})


def test_an_edit_inside_active_content_from_outside_is_served_empty() -> None:
    live = session()
    out = live.submit(live_op("update", "d1", {"text": "<b>"}), base_seq=0, now=1, outside=True)
    (entry,) = out.entries
    assert entry["data"] == {} and entry["active_content"][0]["element_id"] == "f1"


def test_replayed_entries_are_served_inert() -> None:
    live = session()
    out = live.submit(
        live_op("update", "r1", {"attributes": {"onclick": "x()"}}), base_seq=0, now=1, outside=True
    )
    again = session()
    assert replay_journal(again, out.journal, after_seq=0) == 1
    assert again.since(0) == out.entries and again.files["document.svg"].get("r1").get("onclick")


def test_a_value_resolution_is_screened() -> None:
    live = LiveDocument("doc", "main", {"document.svg": SESSION}, strategy="manual")
    first = live.submit(
        live_op("update", "r1", {"attributes": {"fill": "blue"}}), base_seq=0, now=1
    )
    assert first.status == "applied"
    other = coerce_operation(
        {
            "operation_type": "update",
            "user_id": "u2",
            "element_id": "r1",
            "data": {"attributes": {"fill": "green"}},
        }
    )
    held = live.submit(other, base_seq=0, now=2)
    (conflict,) = held.conflicts
    with pytest.raises(ActiveContent):
        live.resolve_conflict(
            conflict.conflict_id, {"value": "url(https://e.example/#g)"}, "u1", now=3
        )
    assert live.files["document.svg"].get("r1").get("fill") == "blue"
    live.resolve_conflict(conflict.conflict_id, {"value": "url(#g)"}, "u1", now=3)
    assert live.files["document.svg"].get("r1").get("fill") == "url(#g)"


# -- a whole drawing is read quickly, with the same result ---------------------------------------

CORPUS = Path(__file__).parents[1] / ".." / "shared" / "corpus"


def every_element_judged(root: Any) -> list[active.Finding]:
    """tree_findings of the elements without its quick first question: each in full."""
    return [f for el in root.iter(etree.Element) for f in active.findings_of(el)]


def test_the_quick_reading_of_a_drawing_misses_nothing() -> None:
    roots = [tree(), SvgDocument(LIVE).root, SvgDocument(SESSION).root]
    if CORPUS.is_dir():  # the W3C and resvg suites: scripts, animations, links of all kinds
        for path in sorted(CORPUS.rglob("*.svg")):
            try:
                roots.append(SvgDocument(path.read_bytes()).root)
            except DocumentError:
                continue
    flagged = 0
    for root in roots:
        found = active.tree_findings(root)
        assert [f for f in found if f.tag != "?xml-stylesheet"] == every_element_judged(root)
        flagged += bool(found)
    assert flagged >= 3


def test_changes_between_versions_are_served_inert() -> None:
    before = SESSION
    after = SESSION.replace(b'fill="red"', b'fill="blue" onclick="alert(1)"').replace(
        b"</svg>", b'  <image id="i" href="https://t.example/p.png"/>\n</svg>'
    )
    changes = diff_documents(before, after, "document.svg")
    served = active.served_changes(changes, {"document.svg": after})
    assert "alert" not in str(served) and "t.example" not in str(served)
    update = next(c for c in served if c["element_id"] == "r1")
    assert update["data"]["attributes"] == {"fill": "blue", "onclick": None}
    assert {f["kind"] for c in served for f in c.get("active_content", [])} == {
        "event_handler",
        "external_reference",
    }
    assert "alert" in str(changes)  # what the versions hold is not changed


# -- a whole file read without keeping its tree ---------------------------------------------


def _drawing_around(tag: str, attributes: dict[str, str], text: str | None) -> bytes | None:
    """A drawing of plain groups and rects with the element somewhere in the middle."""
    root = etree.Element("{http://www.w3.org/2000/svg}svg")
    for i in range(40):
        group = etree.SubElement(root, "{http://www.w3.org/2000/svg}g", id=f"g{i}")
        for j in range(3):
            etree.SubElement(group, "{http://www.w3.org/2000/svg}rect", x=str(j), fill="red")
    try:
        el = etree.SubElement(root[25][1], tag if "{" in tag else f"{{{SVG_NS}}}{tag}")
        for key, value in attributes.items():
            el.set(key, value)
        el.text = text
    except ValueError:
        return None  # not something XML can hold
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_file_with_active_content_is_not_served_without_its_parse() -> None:
    for case, tag, attributes, text, _expected in ACTIVE:
        data = _drawing_around(tag, attributes, text)
        if data is not None:
            assert active.served_text_read(data) is None, case
    plain = _drawing_around("circle", {"r": "5"}, None)
    assert plain is not None and active.served_text_read(plain) == plain.decode()
    sheet = plain.replace(b"?>", b'?>\n<?xml-stylesheet href="s.css"?>', 1)
    assert active.served_text_read(sheet) is None
    assert active.served_text_read(plain[:-10]) is None


def test_a_file_read_without_its_tree_is_served_as_its_parse_serves_it() -> None:
    read = 0
    for path, data, _rng in readable_corpus():
        served, found = active.served_text(SvgDocument(data))
        text = active.served_text_read(data)
        if text is not None:
            read += 1
            assert not found and text == served, path
    assert read > 100


# -- a whole file's text screened before its tree is walked ---------------------------------


def _any_element_asked(root: Any) -> bool:
    """Whether one of the three questions tree_findings asks takes some element."""
    return any(
        active._tag_may_hold(el.tag)
        or active._keys_may_hold(tuple(el.keys()))
        or active._values_may_hold(el)
        for el in root.iter(etree.Element)
    )


def test_the_text_screen_takes_every_file_an_element_of_which_the_tree_walk_would_judge() -> None:
    for case, tag, attributes, text, _expected in ACTIVE:
        data = _drawing_around(tag, attributes, text)
        if data is not None:
            assert active.text_may_hold(data.decode()), case
    plain = _drawing_around("circle", {"r": "5", "fill": "url(#g)", "d": "M0 0"}, "a label")
    assert plain is not None and not active.text_may_hold(plain.decode())
    asked = screened = 0
    for path, data, _rng in readable_corpus():
        doc = SvgDocument(data)
        if _any_element_asked(doc.root):
            asked += 1
            assert active.text_may_hold(doc.render()), path
        elif not active.text_may_hold(doc.render()):
            screened += 1
    # Both kinds are in the corpus; most of its plain files say "image" in a comment,
    # which the screen takes (it does not tell comments from values).
    assert asked > 100 and screened > 20


# Raw spellings a serializer would not write, each of which the parse reads as a name or
# value the questions take: the screen reads the text as written.
SPELLED = [
    '<rect onclick = "x()"/>',
    "<rect\tONLOAD='x()'/>",
    '<rect\nxlink:href="#a"/>',
    '<rect x:HREF="a" xmlns:x="urn:x"/>',
    '<svg:SCRIPT xmlns:svg="http://www.w3.org/2000/svg"/>',
    "<foreignObject/>",
    '<animate attributeName="href" to="x"/>',
    "<a href='&#106;avascript:x()'/>",
    '<rect fill="&#x75;rl(http://x/)"/>',
    '<rect fill="u&#82;l(x)"/>',
    "<rect fill='j\"x:'/>",
    '<rect style = " &#9;javascript:x"/>',
    '<rect title=" javascript:x()"/>',
    '<rect style="background:url( http://x/a.png)"/>',
    '<rect style="a\\000075rl(x)"/>',
    "<rect style=\"@import 'x.css'\"/>",
    '<rect data-x="\u0131mage(x)"/>',
    '<rect data-x="cro\u017fs-fade(x)"/>',
    '<rect data-x="@\u0130mport"/>',
    '<rect ONMOUSEOVER="x()"/>',
    "<rect on=''/>",
    "<set/>",
    "<style>rect{}</style>",
]


@pytest.mark.parametrize("markup", SPELLED)
def test_the_text_screen_reads_names_and_values_as_the_markup_spells_them(markup: str) -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
    assert active.text_may_hold(f"{svg}{markup}</svg>"), markup


_NAME_CHARS = st.sampled_from(list("aeilnorst") + ["K", "\u212a", "O", "N", "H", "S", "-", "x"])
# Pieces of values: the characters the questions look for, and their markers whole.
_VALUE = st.lists(
    st.sampled_from(
        list("jJvVlLdD:\\(@#'\" \t\n&<>")
        + ["url(", "image", "src(", "\u0131", "\u017f", "\u0130", "\u00a0"]
    ),
    max_size=8,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    tag=st.sampled_from(["rect", "g", "set", "script", "Style", "foreignObject", "x:embed"]),
    attributes=st.lists(
        st.tuples(st.text(_NAME_CHARS, min_size=1, max_size=6), _VALUE),
        max_size=4,
    ),
)
def test_the_text_screen_never_passes_an_element_the_questions_take(
    tag: str, attributes: list[tuple[str, str]]
) -> None:
    """Serialised as lxml writes it (escaped, quoted), with names that fold in case."""
    name = f"{{urn:x}}{tag[2:]}" if tag.startswith("x:") else f"{{{SVG_NS}}}{tag}"
    root = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS, "x": "urn:x"})
    try:
        el = etree.SubElement(root, name)
        for key, value in attributes:
            el.set(key, value)
    except ValueError:
        return  # not something XML can hold
    text = etree.tostring(root, encoding="unicode")
    if _any_element_asked(etree.fromstring(text)):
        assert active.text_may_hold(text), text
