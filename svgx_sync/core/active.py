"""Active content: the one policy for what in an SVG document can run script or load
something from outside it, and how a copy is made inert.

Rules kept here (pure: an element's tag and attributes, or CSS text, in; findings out):

* **Event handlers**: any attribute whose local name starts with ``on``, in any case and
  any namespace (``onload``, ``ONCLICK``, ``x:onclick``).
* **Script URLs**: any attribute whose value, read as browsers read a URL (every ASCII
  whitespace and control character removed, case ignored), is a ``javascript:`` or
  ``vbscript:`` URL, or a ``data:`` URL of a document (HTML, XHTML, XML; SVG outside an
  ``<image>``), in ``href``, ``xlink:href``, ``src`` or any other attribute.
* **Active elements**: ``<script>``, ``<handler>``, ``<listener>``, ``<foreignObject>``,
  ``<iframe>``, ``<frame>``, ``<frameset>``, ``<embed>``, ``<object>``, ``<applet>``,
  ``<portal>``, by local name in any case, in any namespace. What is inside one is
  inside active content.
* **Animated handlers and links**: ``<set>``, ``<animate>``, ``<animateMotion>``,
  ``<animateTransform>``, ``<animateColor>`` whose ``attributeName`` is an ``on*``
  attribute or ``href`` (with or without a prefix).
* **References outside the document**: ``href``/``xlink:href``/``src`` of any element but
  ``<a>`` (``<use>``, ``<image>``, ``<feImage>``, gradients, patterns, ...) that is not a
  same-document ``#fragment``. ``<image>`` and ``<feImage>`` may also hold a
  ``data:image/...`` URL (PNG, JPEG, SVG, ...): browsers draw it as an image, which runs
  no script and loads nothing it names. ``<a>`` may link anywhere but to script.
* **CSS**: in a ``style`` attribute, a ``<style>`` element, or any attribute holding
  ``url(...)`` (``fill``, ``filter``, ``mask``, ...): every ``@import``, and every
  ``url()``/``image-set()`` URL but a ``#fragment`` or inline ``data:`` (CSS loads data
  as an image or font, never as a document). CSS escapes and comments are read as CSS
  reads them. An ``<?xml-stylesheet?>`` instruction counts as an ``@import``.

A :class:`Finding` says what and why, as data. :func:`element_findings` judges one
element from its tag (Clark notation) and attributes; :func:`findings_of` one lxml
element; :func:`tree_findings` a whole document. :func:`inert_copy` gives a copy with
every finding made harmless, keeping every element outside active elements in its
place (so addresses stay valid): a flagged attribute is removed, flagged CSS is
rewritten (``@import`` rules dropped, URLs replaced by ``url("")``), an animation of a
handler or link loses ``attributeName`` and the values it sets, an active element keeps
its name and its other attributes but loses its content.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from lxml import etree

from ..errors import DocumentError
from .namespaces import KNOWN_PREFIXES, SVG_NS
from .regions import changed_units
from .spans import TOKEN
from .svgdoc import SvgDocument, well_formed
from .xmltext import decode

__all__ = [
    "ACTIVE_ELEMENTS",
    "CssHit",
    "Finding",
    "Kind",
    "ServedFile",
    "UrlKind",
    "css_findings",
    "element_findings",
    "enclosing_active",
    "findings_of",
    "inert_copy",
    "inert_css",
    "is_active_element",
    "make_inert",
    "may_add_findings",
    "new_findings",
    "served_changes",
    "served_entry",
    "served_state",
    "served_text",
    "served_text_read",
    "text_may_hold",
    "tree_findings",
    "url_kind",
]


class Kind(StrEnum):
    """What kind of active content a finding is."""

    EVENT_HANDLER = "event_handler"
    SCRIPT_URL = "script_url"
    ACTIVE_ELEMENT = "active_element"
    ANIMATION_TARGET = "animation_target"
    EXTERNAL_REFERENCE = "external_reference"
    CSS_IMPORT = "css_import"
    CSS_URL = "css_url"


class UrlKind(StrEnum):
    """A URL as a browser would follow it."""

    FRAGMENT = "fragment"  # empty, or #id: this document
    SCRIPT = "script"  # javascript:, vbscript:, data: of a document that can run script
    SVG_IMAGE = "svg_image"  # data:image/svg+xml
    IMAGE = "image"  # other data:image/...
    DATA = "data"  # other inline data (text, fonts, ...)
    EXTERNAL = "external"  # anything that is fetched: http:, //host, relative paths, file:


ACTIVE_ELEMENTS = frozenset(
    {
        "script",
        "handler",
        "listener",
        "foreignobject",
        "iframe",
        "frame",
        "frameset",
        "embed",
        "object",
        "applet",
        "portal",
    }
)
"""Local names (lower case) of elements that are active content themselves."""

_ANIMATIONS = frozenset({"set", "animate", "animatemotion", "animatetransform", "animatecolor"})
# What an animation of a handler or a link loses: its target and the values it sets.
_ANIMATED_VALUES = frozenset({"attributename", "to", "from", "by", "values"})
_IMAGES = frozenset({"image", "feimage"})
_LINKS = frozenset({"href", "src"})
_SCRIPT_SCHEMES = frozenset({"javascript", "vbscript", "livescript"})
_DOCUMENT_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/xml", "application/xml"})
# Browsers drop ASCII tab and newline anywhere in a URL and C0 controls and spaces around
# it (WHATWG URL); every one of them, DEL and the invisible Unicode spaces go anywhere,
# so that no spelling a browser would still run is missed.
_IGNORED_CHARS = "".join(
    chr(c)
    for c in [
        *range(0x21),
        *range(0x7F, 0xA1),
        0x1680,
        *range(0x2000, 0x2010),
        *range(0x2028, 0x2030),
        *range(0x205F, 0x2070),
        0x3000,
        0xFEFF,
    ]
)
_IGNORED = re.compile("[" + re.escape(_IGNORED_CHARS) + "]+")
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")


def _local(name: str) -> str:
    """The local part of a Clark (``{ns}href``) or prefixed (``xlink:href``) name."""
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def url_kind(value: str) -> UrlKind:
    """What following ``value`` as a URL does, read as browsers read it."""
    url = _IGNORED.sub("", value).lower()
    if url == "" or url.startswith("#"):
        return UrlKind.FRAGMENT
    scheme = _SCHEME.match(url)
    if scheme is None:
        return UrlKind.EXTERNAL
    name = scheme.group(1)
    if name in _SCRIPT_SCHEMES:
        return UrlKind.SCRIPT
    if name != "data":
        return UrlKind.EXTERNAL
    media = re.split(r"[;,]", url[5:], maxsplit=1)[0]
    if media.startswith("image/svg"):
        return UrlKind.SVG_IMAGE
    if media.startswith("image/"):
        return UrlKind.IMAGE
    if media in _DOCUMENT_TYPES or media.endswith(("+xml", "/xml")) or "html" in media:
        return UrlKind.SCRIPT
    return UrlKind.DATA


# -- findings ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of active content: where it is, what it is, and the value that is active.

    ``tag`` and ``attribute`` are in Clark notation (``{ns}local``); ``attribute`` is None
    when the element itself (or its text, for ``<style>``) is active. ``line`` is where a
    file read from disk has it; it is not compared.
    """

    kind: Kind
    tag: str
    attribute: str | None
    element_id: str | None
    value: str | None
    line: int | None = field(default=None, compare=False)

    @property
    def reason(self) -> str:
        """One line saying why this is active content (without the active value)."""
        what = _wire_name(self.attribute) if self.attribute else None
        if self.kind is Kind.EVENT_HANDLER:
            return f"event handler attribute {what}"
        if self.kind is Kind.SCRIPT_URL:
            return f"{what} holds a URL that runs script"
        if self.kind is Kind.ACTIVE_ELEMENT:
            local = _local(self.tag).lower()
            return _ELEMENT_REASONS.get(local, "an element that embeds another document")
        if self.kind is Kind.ANIMATION_TARGET:
            return "an animation of an event handler or a link"
        if self.kind is Kind.EXTERNAL_REFERENCE:
            return f"{what} points outside the document"
        where = f"in {what}" if what else "in the style sheet"
        if self.kind is Kind.CSS_IMPORT:
            return f"CSS @import {where}"
        return f"CSS url() outside the document {where}"

    def to_wire(self) -> dict[str, Any]:
        """As clients are told: what and where, never the active value itself."""
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "element": _wire_name(self.tag, element=True),
            "element_id": self.element_id,
            "attribute": _wire_name(self.attribute) if self.attribute else None,
            "reason": self.reason,
        }
        if self.line is not None:
            out["line"] = self.line
        return out

    def describe(self) -> str:
        """The finding in one line for the person who sent or merged it: the element,
        the reason and (but for a handler's code) the value."""
        ident = f' id="{self.element_id}"' if self.element_id else ""
        value = (
            f": {_short(self.value)}" if self.value and self.kind is not Kind.EVENT_HANDLER else ""
        )
        return f"<{_wire_name(self.tag, element=True)}{ident}>: {self.reason}{value}"


_ELEMENT_REASONS = {
    "script": "an element that runs script",
    "handler": "an element that runs script",
    "listener": "an element that runs script",
    "foreignobject": "an element that embeds HTML, which can run script",
}


def _short(value: str | None, limit: int = 80) -> str:
    text = repr(value or "")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _wire_name(name: str | None, *, element: bool = False) -> str:
    """``xlink:href`` for ``{xlink}href``; SVG's and unknown namespaces' names bare."""
    if name is None or not name.startswith("{"):
        return name or ""
    ns, local = name[1:].split("}", 1)
    if element and ns == SVG_NS:
        return local
    prefix = KNOWN_PREFIXES.get(ns)
    return f"{prefix}:{local}" if prefix else local


def is_active_element(tag: Any) -> bool:
    """Whether an element with this tag is active content itself."""
    return isinstance(tag, str) and _active_tag(tag)


@lru_cache(maxsize=4096)
def _active_tag(tag: str) -> bool:
    """A drawing has few tags, and each ancestor of every edit is asked about its own."""
    return _local(tag).lower() in ACTIVE_ELEMENTS


def _attribute_findings(
    tag: str, key: str, value: str, element_id: str | None, line: int | None
) -> list[Finding]:
    name = _local(key).lower()
    if name.startswith("on"):
        return [Finding(Kind.EVENT_HANDLER, tag, key, element_id, value, line)]
    if name not in _LINKS and not _MAY_MATTER.search(value):
        return []  # the common case, decided by one scan of the value
    return _value_findings(tag, key, value, element_id, line, name)


def _value_findings(
    tag: str, key: str, value: str, element_id: str | None, line: int | None, name: str
) -> list[Finding]:
    """What an attribute's value holds (``name``: its local name, in lower case)."""
    local_tag = _local(tag).lower()

    def found(kind: Kind, active: str | None = value) -> Finding:
        return Finding(kind, tag, key, element_id, active, line)

    may_hold_css = _may_hold_css(value)
    if name not in _LINKS and not may_hold_css and not _may_run(value):
        return []  # the common case, decided without reading the value as a URL
    url = url_kind(value)
    out: list[Finding] = []
    if name in _LINKS and local_tag != "a":
        if url is UrlKind.SCRIPT:
            out.append(found(Kind.SCRIPT_URL))
        elif url is not UrlKind.FRAGMENT and not (
            local_tag in _IMAGES and url in (UrlKind.IMAGE, UrlKind.SVG_IMAGE)
        ):
            out.append(found(Kind.EXTERNAL_REFERENCE))
    elif url is UrlKind.SCRIPT or url is UrlKind.SVG_IMAGE:
        out.append(found(Kind.SCRIPT_URL))
    if may_hold_css:
        out.extend(found(hit.kind, hit.value) for hit in css_findings(value))
    return out


# Every CSS marker below holds a backslash, "(" or "@", and a URL that _may_run looks for
# a colon: a value with none of the four is neither.
_MAY_MATTER = re.compile(r"[\\(@:]")

# CSS can only load or import through one of these (an escape can spell any of them).
_CSS_MARKERS = re.compile(r"\\|url\(|image-set\(|image\(|cross-fade\(|src\(|@import", re.I)


def _may_hold_css(value: str) -> bool:
    return _CSS_MARKERS.search(value) is not None


def _may_run(value: str) -> bool:
    """Whether ``value`` could be a ``javascript:``, ``vbscript:``, ``livescript:`` or
    ``data:`` URL: its first character that browsers do not skip starts one of them."""
    head = value.lstrip(_IGNORED_CHARS)
    return bool(head) and head[0] in "jJvVlLdD" and ":" in head


def element_findings(
    tag: str,
    attributes: Mapping[str, str],
    *,
    text: str | None = None,
    element_id: str | None = None,
    line: int | None = None,
) -> list[Finding]:
    """The active content of one element: ``tag`` and attribute keys in Clark notation,
    ``text`` its text content (read as CSS for a ``<style>`` element). Element-level
    findings come first, then the attributes' in their order."""
    if element_id is None:
        element_id = attributes.get("id")
    local = _local(tag).lower()
    out: list[Finding] = []
    if local in ACTIVE_ELEMENTS:
        out.append(Finding(Kind.ACTIVE_ELEMENT, tag, None, element_id, None, line))
    elif local in _ANIMATIONS:
        for key, value in attributes.items():
            if _local(key).lower() == "attributename":
                target = _local(_IGNORED.sub("", value)).lower()
                if target.startswith("on") or target == "href":
                    out.append(Finding(Kind.ANIMATION_TARGET, tag, key, element_id, value, line))
    elif local == "style" and text:
        out.extend(
            Finding(hit.kind, tag, None, element_id, hit.value, line) for hit in css_findings(text)
        )
    for key, value in attributes.items():
        out.extend(_attribute_findings(tag, key, value, element_id, line))
    return out


def adds_nothing(tag: str, key: str, value: str) -> bool:
    """Whether setting ``key`` to ``value`` on an element with this tag can add no
    finding to it: the element is a plain one (not active, an animation or a
    ``<style>``), whose findings are its attributes' own, each judged alone, and this
    attribute with this value has none. The others' findings stay as they were."""
    return not _tag_may_hold(tag) and not _attribute_findings(tag, key, value, None, None)


def _is_element(node: Any) -> bool:
    return isinstance(node.tag, str)


def findings_of(el: Any) -> list[Finding]:
    """The active content of one lxml element (not of its children)."""
    text = "".join(el.itertext()) if _local(el.tag).lower() == "style" else None
    return element_findings(
        el.tag, dict(el.attrib), text=text, element_id=el.get("id"), line=el.sourceline
    )


def _is_stylesheet(node: Any) -> bool:
    return isinstance(node, etree._ProcessingInstruction) and node.target == "xml-stylesheet"


def _stylesheet_instructions(root: Any) -> list[Any]:
    if root.getparent() is not None:
        return []  # only a document's prolog links style sheets
    return [node for node in root.itersiblings(preceding=True) if _is_stylesheet(node)][::-1]


def _instruction_finding(node: Any) -> Finding:
    href = node.get("href") if hasattr(node, "get") else None
    return Finding(
        Kind.CSS_IMPORT, "?xml-stylesheet", "href", None, href or node.text, node.sourceline
    )


def tree_findings(root: Any) -> list[Finding]:
    """Every finding of a document, in document order: its ``<?xml-stylesheet?>``
    instructions, then each element's (:func:`findings_of`), those inside active
    elements included."""
    out = [_instruction_finding(node) for node in _stylesheet_instructions(root)]
    for el in root.iter(etree.Element):
        if _tag_may_hold(el.tag) or _keys_may_hold(tuple(el.keys())) or _values_may_hold(el):
            out.extend(findings_of(el))
    return out


# A whole drawing is read quickly by asking first whether an element can hold a finding
# at all; only those that can are judged by the rules above. Every element with a finding
# passes one of these three questions, so asking them changes no result.


@lru_cache(maxsize=4096)
def _tag_may_hold(tag: str) -> bool:
    """An active element, an animation, or a <style>."""
    return _local(tag).lower() in _ELEMENT_RULES


@lru_cache(maxsize=4096)
def _keys_may_hold(keys: tuple[str, ...]) -> bool:
    """An attribute named on*, href or src."""
    return any((name := _local(k).lower()).startswith("on") or name in _LINKS for k in keys)


_ELEMENT_RULES = ACTIVE_ELEMENTS | _ANIMATIONS | {"style"}
# A CSS marker (_CSS_MARKERS but url(#fragment), "image(" and "image-set(" as "image"),
# or a value whose first character that browsers read starts a scheme _may_run looks
# for, with a colon after it; the values of one element are joined by NUL, which no XML
# value holds.
_VALUES_MAY_HOLD = re.compile(
    r"\\|url\((?!\s*['\"]?\s*#)|image|cross-fade\(|src\(|@import|(?:^|\x00)["
    + re.escape(_IGNORED_CHARS.replace("\x00", ""))
    + r"]*[jvld][^:\x00]*:",
    re.I,
)


def _values_may_hold(el: Any) -> bool:
    return _VALUES_MAY_HOLD.search("\x00".join(el.values())) is not None


# The three questions above, asked of a whole file's text at once, lowered as the rules
# lower names (str.lower(), which also takes the Kelvin sign to "k"). Between them they
# match wherever the markup of an element that one of the questions would take is
# written: a start tag naming one of _ELEMENT_RULES (any prefix), an attribute named on*,
# href or src, a value starting (past ignored characters) with one of [jvld] and holding
# a colon, a CSS marker anywhere; and whatever could spell what the markup does not
# show: character references, a DTD's entities, a style sheet instruction outside the
# elements, and the letters that re.I folds to ASCII but str.lower() does not (U+0131,
# U+017F, and U+0130, which lowers to "i" and U+0307).
# Text that is not markup can only match too: it costs a walk of the tree, never a
# finding. Each pattern starts with a literal, which the regex engine looks for first.
_TEXT_WORDS = (
    *("\\", "&#", "<!doctype", "<!entity", "xml-stylesheet"),
    *("image", "cross-fade(", "src(", "@import"),
    *("\u0131", "\u017f", "\u0307"),
)
_TEXT_PATTERNS = [
    re.compile(
        r"<(?:[^\s<>/:]+:)?(?:"
        + "|".join(sorted(_ELEMENT_RULES, key=len, reverse=True))
        + r")(?=[\s/>])"
    ),
    re.compile(r"on(?<=[\s:]on)[^\s=]*\s*="),
    re.compile(r"href(?<=[\s:]href)\s*="),
    re.compile(r"src(?<=[\s:]src)\s*="),
    re.compile(r"url\((?!\s*['\"]?\s*#)"),
    re.compile(
        r"""=\s*(?:"[{ign}]*[jvld][^":]*:|'[{ign}]*[jvld][^':]*:)""".format(
            ign=re.escape(_IGNORED_CHARS)
        )
    ),
]


def text_may_hold(text: str) -> bool:
    """Whether some element of the file ``text`` (well-formed markup) could hold a
    finding, told from its text alone: False only when none of its elements would be
    judged by :func:`findings_of`, so that a big drawing with nothing active is served
    as it is without walking its tree (a few scans of the text instead of a Python step
    per element)."""
    low = text.lower()
    return any(word in low for word in _TEXT_WORDS) or any(
        pattern.search(low) for pattern in _TEXT_PATTERNS
    )


_PIECE_NAME = re.compile(r"/?([^\s/>]*)")
_PIECE_ATTR = re.compile(r"([^\s=<>\"']+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_FIRST_TAG = re.compile(r"<[^!?/]")
# A <style> (any case, any prefix) with markup inside: its text, which is read as CSS,
# is then cut into several pieces.
_STYLE_INNER = re.compile(
    r"<(?:[^\s<>/:]+:)?style(?:\s[^>]*)?(?<!/)>[^<]*<(?!/(?:[^\s<>/:]+:)?style\s*>)", re.I
)


def may_add_findings(before: str, after: str, touched: list[str] | None = None) -> bool:
    """Whether the file text ``after`` could have a finding that ``before`` lacks
    (:func:`new_findings`), told from the text: False only when every piece of ``after``
    a change touched holds nothing that :func:`_piece_may_hold` could take for one, and
    no element's findings depend on text beyond its own tag (namespaces declared below
    the root, a ``<style>`` with markup inside). A merge that changed a few elements of
    a big drawing is then judged without reading the drawing.

    The touched pieces are ``touched`` when the caller knows them (``after`` is
    ``before`` but for these units of it, each whole), else found by comparing the two
    (:func:`~.regions.changed_units`)."""
    if touched is not None:
        return _context_matters(before) or any(map(_piece_may_hold, touched))
    if any(_context_matters(text) for text in (before, after)):
        return True
    return any(map(_piece_may_hold, changed_units(before, after)))


def _context_matters(text: str) -> bool:
    first = _FIRST_TAG.search(text)
    root = TOKEN.match(text, first.start()) if first is not None else None
    if root is None or text.find("xmlns", root.end()) >= 0:
        return True
    return _STYLE_INNER.search(text) is not None


def _piece_may_hold(piece: str) -> bool:
    """Whether one piece of a file's text (a tag and the text after it; the file cut at
    each ``<``) could be where a finding comes from, or change another element's: a tag
    that passes one of the three questions above, CSS markers anywhere in it (the text
    of a ``<style>``), a reference (``&``), a namespace declaration, a ``<style>`` tag,
    or anything but an element's tag (comments, CDATA, instructions, the DOCTYPE)."""
    if "&" in piece or "xmlns" in piece or piece[:1] in "!?" or _may_hold_css(piece):
        return True
    name = _PIECE_NAME.match(piece)
    if name is None or _tag_may_hold(name.group(1)):
        return True
    attributes = _PIECE_ATTR.findall(piece)
    if _keys_may_hold(tuple(key for key, _dq, _sq in attributes)):
        return True
    values = "\x00".join(dq or sq for _key, dq, sq in attributes)
    return _VALUES_MAY_HOLD.search(values) is not None


def new_findings(before: Any | None, after: Any) -> list[Finding]:
    """The findings of the document ``after`` that ``before`` (None: an empty one) does
    not have: compared by element id, kind, tag, attribute and value, each as many times
    as it occurs more often."""
    had = Counter(_identity(f) for f in (tree_findings(before) if before is not None else []))
    out: list[Finding] = []
    for finding in tree_findings(after):
        key = _identity(finding)
        if had[key]:
            had[key] -= 1
        else:
            out.append(finding)
    return out


def _identity(f: Finding) -> tuple[Any, ...]:
    return (f.element_id, f.kind, f.tag, f.attribute, f.value)


def enclosing_active(el: Any) -> Any | None:
    """``el`` itself or its nearest ancestor that is an active element, else None."""
    node = el
    while node is not None:
        if is_active_element(node.tag):
            return node
        node = node.getparent()
    return None


# -- making a copy inert -------------------------------------------------------------------


def make_inert(el: Any) -> list[Finding]:
    """Make one element harmless in place (not its children, unless it is an active
    element, which loses them); returns what it held."""
    found = findings_of(el)
    if not found:
        return []
    if is_active_element(el.tag):
        el.text = None
        for child in list(el):
            el.remove(child)  # with its tail: text inside the element too
    for finding in found:
        key = finding.attribute
        if key is None:
            if finding.kind in (Kind.CSS_IMPORT, Kind.CSS_URL):
                css = "".join(el.itertext())
                for child in list(el):
                    el.remove(child)
                el.text = inert_css(css)
        elif finding.kind is Kind.ANIMATION_TARGET:
            for name in [k for k in el.attrib if _local(k).lower() in _ANIMATED_VALUES]:
                del el.attrib[name]
        elif el.get(key) is not None:
            if finding.kind in (Kind.CSS_IMPORT, Kind.CSS_URL):
                el.set(key, inert_css(el.get(key)))
            else:
                del el.attrib[key]
    return found


def inert_copy(root: Any) -> tuple[Any, list[Finding]]:
    """``root`` and what it holds as a copy with every finding made harmless, and the
    findings; ``root`` itself when it holds none (nothing is copied). A document's root
    is copied with its prolog, less its ``<?xml-stylesheet?>`` instructions."""
    found = tree_findings(root)
    if not found:
        return root, []
    inert = copy.deepcopy(root)
    inert.tail = None
    if root.getparent() is None:
        # The document's prolog (comments, instructions) goes along, less its style sheets.
        for node in root.itersiblings(preceding=True):
            if not _is_stylesheet(node):
                inert.addprevious(copy.deepcopy(node))
    # Outermost first: an active element drops its children before they are visited.
    for el in list(inert.iter(etree.Element)):
        if el is inert or el.getparent() is not None:
            make_inert(el)
    return inert, found


# -- what clients are sent ------------------------------------------------------------------
#
# The document keeps what other programs saved as it is; what the daemon sends clients
# is the inert copy, and says what was made inert in an ``active_content`` field.


def _markup(el: Any) -> str:
    etree.cleanup_namespaces(el)
    return etree.tostring(el, encoding="unicode", with_tail=False)


@dataclass(frozen=True, slots=True)
class ServedFile:
    """A file parsed and made inert ahead (in the watcher's worker thread): what taking
    it whole needs, so that the event loop neither parses a big drawing nor copies it
    inert (seconds at 200k elements with an event handler in it)."""

    doc: SvgDocument
    text: str
    """As clients are sent it (:func:`served_text`)."""
    found: list[Finding]

    @classmethod
    def read(cls, data: bytes, name: str) -> ServedFile:
        """Parse ``data`` (raises :class:`~svgx_sync.errors.DocumentError`) and serve it."""
        doc = SvgDocument(data, name=name)
        return cls(doc, *served_text(doc))


def served_text(doc: SvgDocument) -> tuple[str, list[Finding]]:
    """A file's text as clients are sent it: as it is, or its inert copy and the findings."""
    text = doc.render()
    if not text_may_hold(text):
        return text, []
    inert, found = inert_copy(doc.root)
    if not found:
        return text, []
    text = etree.tostring(inert.getroottree(), encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n", found


_CHUNK = 1 << 20


def served_text_read(data: bytes) -> str | None:
    """The text of a whole file that parses (a live document's) as clients are sent it
    when nothing in it can be active, told without keeping its tree: each element is
    let go once judged, so a big drawing costs a fraction of its parse. None when some
    element may hold a finding, or the bytes do not parse: :func:`served_text` of its
    parse answers then. Asks the same questions as :func:`tree_findings`."""
    if b"<?xml-stylesheet" in data:
        return None
    try:
        text = decode(data)[0]
    except DocumentError:
        return None
    if not text_may_hold(text):
        # Nothing to judge element by element: whether it parses is all that is left.
        return text if well_formed(data) else None
    parser = etree.XMLPullParser(
        events=("end",),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
    )
    try:
        for start in range(0, len(data), _CHUNK):
            parser.feed(data[start : start + _CHUNK])
            if not _all_plain(parser):
                return None
        parser.close()
    except etree.XMLSyntaxError:
        return None
    if not _all_plain(parser):
        return None
    return text


def _all_plain(parser: Any) -> bool:
    """Whether every element the parser has finished can hold no finding; each is
    cleared and dropped from its parent once judged."""
    for _event, el in parser.read_events():
        if not isinstance(el.tag, str):
            continue
        if _tag_may_hold(el.tag) or _keys_may_hold(tuple(el.keys())) or _values_may_hold(el):
            return False
        el.clear(keep_tail=True)
        parent = el.getparent()
        if parent is not None:
            while el.getprevious() is not None:
                del parent[0]
    return True


def served_markup(doc: SvgDocument, markup: str) -> tuple[str, list[Finding]]:
    """One element's markup (read in ``doc``'s namespaces) as clients are sent it."""
    try:
        el = doc.parse_fragment(markup)
    except DocumentError:
        return markup, []  # never applied, so never in the document either
    inert, found = inert_copy(el)
    return (_markup(inert), found) if found else (markup, [])


def served_state(doc: SvgDocument, state: Mapping[str, Any]) -> dict[str, Any]:
    """An element's current state (``{"element_id", "exists", "markup"}``) as sent."""
    if not isinstance(state.get("markup"), str):
        return dict(state)
    markup, found = served_markup(doc, state["markup"])
    if not found:
        return dict(state)
    return {**state, "markup": markup, "active_content": [f.to_wire() for f in found]}


def served_entry(
    doc: SvgDocument, entry: dict[str, Any], whole: ServedFile | None = None
) -> dict[str, Any]:
    """A numbered operation (``doc`` is its file, after it) as clients are sent it.

    What it brings that is active is made inert as :func:`inert_copy` makes a document
    inert: a flagged attribute is sent as ``None`` (removed), flagged CSS rewritten, an
    active element's text as ``""``; an edit inside an active element is sent with no
    data at all. The entry then says what in ``active_content``; else it is sent as it
    is (the same dict). A ``file_add`` is served as ``whole`` says, when it was served
    ahead."""
    data = entry.get("data")
    if not isinstance(data, Mapping) or not data:
        return entry
    found: list[Finding] = []
    if entry.get("operation_type") == "file_add":
        text, found = (whole.text, whole.found) if whole is not None else served_text(doc)
        served: dict[str, Any] = {**data, "markup": text}
    else:
        served, found = _served_data(doc, entry, data)
    if not found:
        return entry
    return {**entry, "data": served, "active_content": [f.to_wire() for f in found]}


def served_changes(
    changes: list[dict[str, Any]], after: Mapping[str, bytes]
) -> list[dict[str, Any]]:
    """Changes between two versions (``core.diff``'s, each naming its ``file``) as
    clients are sent them: each as :func:`served_entry` serves it, in ``after``, the
    files of the later version."""
    docs: dict[str, SvgDocument | None] = {}
    out: list[dict[str, Any]] = []
    for change in changes:
        path = str(change.get("file", ""))
        if change.get("data") and path not in docs:
            try:
                docs[path] = SvgDocument(after[path], name=path) if path in after else None
            except DocumentError:
                docs[path] = None
        doc = docs.get(path)
        out.append(change if doc is None else served_entry(doc, change))
    return out


def _target(doc: SvgDocument, entry: Mapping[str, Any], data: Mapping[str, Any]) -> Any | None:
    el = doc.find(str(entry.get("element_id", "")))
    renamed = (data.get("attributes") or {}).get("id") if isinstance(data, Mapping) else None
    if el is None and isinstance(renamed, str):
        el = doc.find(renamed)
    return el


def _served_data(
    doc: SvgDocument, entry: Mapping[str, Any], data: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Finding]]:
    el = _target(doc, entry, data)
    # Unknown (gone since): judged as any element but <a> would be.
    tag = el.tag if el is not None else ""
    ident = el.get("id") if el is not None else None
    holder = None if el is None else enclosing_active(el.getparent())
    if holder is not None:
        return {}, findings_of(holder)[:1]  # inside active content: nothing of it is sent
    if len(data) == 1 and _plain_attributes(tag, ident, data.get("attributes")):
        return dict(data), []  # the common edit: attribute values that hold nothing
    served = dict(data)
    found: list[Finding] = []
    if isinstance(data.get("markup"), str):
        served["markup"], found = served_markup(doc, data["markup"])
    for field_name in ("attributes", "properties"):
        values = data.get(field_name)
        if isinstance(values, Mapping):
            kept, flagged = _served_attributes(tag, ident, values)
            if flagged:
                # A removed attribute is None; a property has no removal: it is left out.
                served[field_name] = (
                    kept
                    if field_name == "attributes"
                    else {k: v for k, v in kept.items() if v is not None}
                )
                found += flagged
    style = data.get("style")
    if isinstance(style, str) and css_findings(style):
        found += _attribute_findings(tag, "style", style, ident, None)
        served["style"] = inert_css(style)
    elif isinstance(style, Mapping):
        kept, flagged = _served_attributes(tag, ident, style, css=True)
        if flagged:
            served["style"] = kept
            found += flagged
    text = data.get("text")
    if isinstance(text, str) and text:
        if is_active_element(tag):
            served["text"] = ""
            found.append(Finding(Kind.ACTIVE_ELEMENT, tag, None, ident, None))
        elif _local(tag).lower() == "style" and css_findings(text):
            found += [Finding(h.kind, tag, None, ident, h.value) for h in css_findings(text)]
            served["text"] = inert_css(text)
    return served, found


def _plain_attributes(tag: str, ident: str | None, values: Any) -> bool:
    """Whether ``values`` are attributes of a plain element (not active, an animation or
    a ``<style>``) that :func:`_served_attributes` would send as they are: each a string
    with no finding of its own, or a value that is not text (``None``, a number)."""
    if not isinstance(values, Mapping) or _tag_may_hold(tag):
        return False
    for name, value in values.items():
        if isinstance(value, str):
            if _attribute_findings(tag, name, value, ident, None):
                return False
        elif isinstance(value, list):
            return False  # joined into text first: left to the general rule
    return True


def _served_attributes(
    tag: str, ident: str | None, values: Mapping[str, Any], *, css: bool = False
) -> tuple[dict[str, Any], list[Finding]]:
    """Attribute (or style property) values as sent: a flagged one removed (``None``),
    or rewritten when it is CSS; with the findings."""
    kept: dict[str, Any] = {}
    found: list[Finding] = []
    for name, value in values.items():
        text = " ".join(map(str, value)) if isinstance(value, list) else value
        if not isinstance(text, str):
            kept[name] = value
            continue
        if css:
            hits = css_findings(text)
            flagged = [Finding(h.kind, tag, "style", ident, h.value) for h in hits]
        elif not _tag_may_hold(tag):
            # A plain element's findings are its attributes' own (element_findings).
            flagged = _attribute_findings(tag, name, text, ident, None)
        else:
            flagged = [
                f
                for f in element_findings(tag, {name: text}, element_id=ident)
                if f.kind is not Kind.ACTIVE_ELEMENT
            ]
        if not flagged:
            kept[name] = value
        elif css or all(f.kind in (Kind.CSS_IMPORT, Kind.CSS_URL) for f in flagged):
            kept[name] = inert_css(text)
        else:
            kept[name] = None
        found += flagged
    return kept, found


# -- CSS ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CssHit:
    """Active content in CSS text: ``css[start:end]`` is to be replaced by ``inert``."""

    kind: Kind
    start: int
    end: int
    value: str
    inert: str


_URL_STRINGS = frozenset({"image-set", "-webkit-image-set", "image", "cross-fade", "src"})
_HEX = frozenset("0123456789abcdefABCDEF")
_NEWLINES = "\n\r\f"
_SPACE = " \t\n\r\f"


def css_findings(css: str) -> list[CssHit]:
    """Every ``@import`` and every URL outside the document in ``css`` (a style sheet, a
    declaration list or one value), read as a CSS tokenizer reads it (comments, strings,
    escapes)."""
    if not _CSS_TRICKS.search(css) and not any(
        _css_url_active(m.group(1)) for m in _PLAIN_URL.finditer(css)
    ):
        # Without escapes, comments, strings or at-rules, every url() is the text
        # "url(" (not ending a longer name) up to ")": nothing here is active.
        return []
    return _CssScanner(css).scan()


_CSS_TRICKS = re.compile(r"[\\'\"@]|/\*|image-set\(|image\(|cross-fade\(|src\(", re.I)
# Not after a name character (a word character, "-" or any beyond ASCII); spelt without
# re.I, which would make compiling the class over all of Unicode take tens of ms.
_PLAIN_URL = re.compile(r"(?<![\w\-])(?<![^\x00-\x7f])[uU][rR][lL]\(([^)]*)")


def inert_css(css: str) -> str:
    """``css`` with its ``@import`` rules dropped and its outside URLs replaced by
    ``url("")`` (or ``""`` in ``image-set()``), which loads nothing."""
    out: list[str] = []
    pos = 0
    for hit in css_findings(css):
        out.append(css[pos : hit.start])
        out.append(hit.inert)
        pos = hit.end
    out.append(css[pos:])
    return "".join(out)


def _css_url_active(url: str) -> bool:
    return url_kind(url) in (UrlKind.SCRIPT, UrlKind.EXTERNAL)


class _CssScanner:
    """A reading of CSS Syntax's tokenizer, just enough to find at-keywords, functions,
    URLs and strings in the places CSS itself would."""

    def __init__(self, css: str) -> None:
        self.css = css
        self.n = len(css)
        self.hits: list[CssHit] = []

    def scan(self) -> list[CssHit]:
        css, n = self.css, self.n
        functions: list[str] = []
        i = 0
        while i < n:
            c = css[i]
            if css.startswith("/*", i):
                end = css.find("*/", i + 2)
                i = n if end < 0 else end + 2
            elif c in "\"'":
                value, end = self._string(i)
                if functions and functions[-1] in _URL_STRINGS and _css_url_active(value):
                    self.hits.append(CssHit(Kind.CSS_URL, i, end, value, '""'))
                i = end
            elif c == "@" and self._starts_ident(i + 1):
                name, end = self._ident(i + 1)
                if name.lower() == "import":
                    stop = self._rule_end(end)
                    self.hits.append(CssHit(Kind.CSS_IMPORT, i, stop, css[i:stop].strip(), ""))
                    end = stop
                i = end
            elif self._starts_ident(i):
                name, end = self._ident(i)
                if end < n and css[end] == "(":
                    lowered = name.lower()
                    if lowered == "url":
                        value, stop = self._url(end + 1)
                        if _css_url_active(value):
                            self.hits.append(CssHit(Kind.CSS_URL, i, stop, value, 'url("")'))
                        end = stop
                    else:
                        functions.append(lowered)
                        end += 1
                i = end
            else:
                if c == "(":
                    functions.append("")
                elif c == ")" and functions:
                    functions.pop()
                i += 1
        return self.hits

    def _starts_ident(self, i: int) -> bool:
        css = self.css
        if i >= self.n:
            return False
        c = css[i]
        if c == "-":
            return i + 1 < self.n and (
                self._name_char(css[i + 1]) or css[i + 1] == "-" or self._escape_at(i + 1)
            )
        return c.isalpha() or c == "_" or ord(c) >= 0x80 or self._escape_at(i)

    def _escape_at(self, i: int) -> bool:
        return self.css[i] == "\\" and (i + 1 >= self.n or self.css[i + 1] not in _NEWLINES)

    @staticmethod
    def _name_char(c: str) -> bool:
        return c.isalnum() or c in "_-" or ord(c) >= 0x80

    def _escape(self, i: int) -> tuple[str, int]:
        """The escape starting at the backslash ``css[i]``: its character and the end."""
        css, n = self.css, self.n
        i += 1
        if i >= n:
            return "\ufffd", i
        if css[i] in _HEX:
            j = i
            while j < n and j - i < 6 and css[j] in _HEX:
                j += 1
            code = int(css[i:j], 16)
            if j < n and css[j] in _SPACE:
                j += 1 + (css.startswith("\r\n", j))
            if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                return "\ufffd", j
            return chr(code), j
        return css[i], i + 1

    def _ident(self, i: int) -> tuple[str, int]:
        css, n = self.css, self.n
        out: list[str] = []
        while i < n:
            c = css[i]
            if self._name_char(c):
                out.append(c)
                i += 1
            elif self._escape_at(i):
                char, i = self._escape(i)
                out.append(char)
            else:
                break
        return "".join(out), i

    def _string(self, i: int) -> tuple[str, int]:
        css, n = self.css, self.n
        quote = css[i]
        out: list[str] = []
        i += 1
        while i < n:
            c = css[i]
            if c == quote:
                return "".join(out), i + 1
            if c in _NEWLINES:
                return "".join(out), i  # a bad string ends at the line
            if c == "\\":
                if i + 1 < n and css[i + 1] in _NEWLINES:
                    i += 2 + css.startswith("\r\n", i + 1)
                    continue
                char, i = self._escape(i)
                out.append(char)
                continue
            out.append(c)
            i += 1
        return "".join(out), i

    def _url(self, i: int) -> tuple[str, int]:
        """The URL of ``url(`` whose content starts at ``i``, and the end past ``)``.

        A bad URL (whitespace or a quote inside) is read whole up to ``)``: the check
        errs on the side of finding it."""
        css, n = self.css, self.n
        while i < n and css[i] in _SPACE:
            i += 1
        if i < n and css[i] in "\"'":
            value, i = self._string(i)
        else:
            out: list[str] = []
            while i < n and css[i] != ")":
                if self._escape_at(i):
                    char, i = self._escape(i)
                    out.append(char)
                else:
                    out.append(css[i])
                    i += 1
            value = "".join(out)
        while i < n and css[i] != ")":
            i += 1
        return value, min(i + 1, n)

    def _rule_end(self, i: int) -> int:
        """Past the ``;`` that ends an at-rule without a block (strings skipped)."""
        css, n = self.css, self.n
        while i < n:
            c = css[i]
            if c in "\"'":
                _, i = self._string(i)
            elif css.startswith("/*", i):
                end = css.find("*/", i + 2)
                i = n if end < 0 else end + 2
            elif c == ";":
                return i + 1
            elif c in "{}":
                return i
            else:
                i += 1
        return n
