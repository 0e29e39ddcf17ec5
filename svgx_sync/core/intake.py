"""Which bytes are taken in as an SVG file, and which are refused or waited for.

One rule for every path by which a file enters a document from outside the protocol:
a save by another program, a new file in the working tree, what the working tree holds
when a session is loaded again, a plain folder being adopted, files git wrote. Pure:
bytes in, a :class:`Screening` out.

An **SVG file** here is

* at most :data:`~svgx_sync.core.svgdoc.MAX_BYTES` long and nested at most
  :data:`~svgx_sync.core.svgdoc.MAX_DEPTH` deep;
* well-formed XML whose root element is ``svg`` in the SVG namespace
  (``{http://www.w3.org/2000/svg}svg``): an XHTML page named ``page.svg`` is not one;
* without a DOCTYPE internal subset: entity declarations are refused, never expanded.

Bytes that are not one fall in two cases, told apart by where the XML breaks:

* **incomplete**: every byte read so far is a valid beginning of an XML document and
  only the end is missing (an editor caught mid-save, a truncated copy, an empty file).
  Such a file is waited for: the save is probably still being written.
* **rejected**: the XML breaks before the end (random bytes, a mismatched tag), or the
  document is complete and is not an SVG file. Waiting will not make it one.

The check is one pass of the standard library's expat in two steps: the bytes are fed
as a prefix (expat reports only errors a continuation could not repair), then the end
of input is signalled (errors that are only "the rest is missing"). A DOCTYPE with an
internal subset and a root that is not SVG stop the pass at once, so an incomplete file
that already shows either is rejected without waiting. Most files are whole SVG files,
so a quicker pass comes first: expat reads up to the root's start tag, the documents'
own parser (libxml2, which does not hold Python's lock while it reads) reads the whole
file without building anything, and the nesting is read from the text cut at every
``<``; anything it cannot vouch for goes to the full pass, which alone says why a file
is not taken in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from itertools import accumulate
from xml.parsers import expat

from ..errors import DocumentError
from .namespaces import SVG_NS
from .svgdoc import MAX_BYTES, MAX_DEPTH, SvgDocument, well_formed

__all__ = ["Screening", "Verdict", "incomplete_settled", "screen_svg"]


class Verdict(StrEnum):
    SVG = "svg"
    """An SVG file: it may be taken in."""
    INCOMPLETE = "incomplete"
    """A valid beginning with the end missing: wait for the rest."""
    REJECTED = "rejected"
    """Not an SVG file, and no continuation makes it one."""


@dataclass(frozen=True, slots=True)
class Screening:
    """The verdict on some bytes and, unless they are an SVG file, why."""

    verdict: Verdict
    reason: str = ""
    xml_read: bool = False
    """The bytes were read whole without an error: they are well-formed XML."""


class _Refused(Exception):
    """Stops the expat pass: the bytes are not an SVG file, whatever follows."""


_SVG_ROOT = SVG_NS + " svg"
# A start tag after its '<', its quoted values read whole (they may hold '>').
_START_TAG = re.compile(rb"[^>\"']*+(?:\"[^\"]*+\"[^>\"']*+|'[^']*+'[^>\"']*+)*+>")


def screen_svg(
    data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH, nesting: bool = True
) -> Screening:
    """Judge ``data`` as an SVG file (see the module docstring).

    ``nesting=False`` leaves the nesting of a file that is otherwise an SVG file to the
    caller, whose parse refuses one nested deeper than :data:`MAX_DEPTH` anyway (lxml
    without ``huge_tree``): reading it from the text is a good part of the quick pass.
    """
    if len(data) > max_bytes:
        return Screening(Verdict.REJECTED, f"larger than {max_bytes} bytes")
    if not data.strip():
        return Screening(Verdict.INCOMPLETE, "the file is empty")
    if _plainly_svg(data, max_depth if nesting else None):
        return Screening(Verdict.SVG, xml_read=True)
    parser = expat.ParserCreate(namespace_separator=" ")
    depth = 0

    def doctype(name: str, system_id: str | None, public_id: str | None, subset: int) -> None:
        if subset:
            raise _Refused("a DOCTYPE with an internal subset (entity declarations) is refused")

    def start(name: str, attributes: object) -> None:
        nonlocal depth
        if depth == 0 and name != _SVG_ROOT:
            namespace, _, local = name.rpartition(" ")
            shown = f"{{{namespace}}}{local}" if namespace else local
            raise _Refused(f"the root element is <{shown}>, not an SVG <svg> ({{{SVG_NS}}}svg)")
        depth += 1
        if depth > max_depth:
            raise _Refused(f"nested deeper than {max_depth}")

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        try:
            parser.Parse(data, False)
        except ValueError:  # pyexpat reads no multi-byte encoding but UTF-8 and UTF-16
            return _screen_with_lxml(data)
        except expat.ExpatError as exc:
            if exc.code == expat.errors.codes[expat.errors.XML_ERROR_UNKNOWN_ENCODING]:
                return _screen_with_lxml(data)
            return Screening(Verdict.REJECTED, f"not well-formed XML: {exc}")
        try:
            parser.Parse(b"", True)
        except expat.ExpatError as exc:
            return Screening(Verdict.INCOMPLETE, f"the XML is not complete: {exc}")
    except _Refused as exc:
        return Screening(Verdict.REJECTED, str(exc))
    return Screening(Verdict.SVG, xml_read=True)


def _plainly_svg(data: bytes, max_depth: int | None) -> bool:
    """Whether ``data`` is an SVG file, told by expat reading only up to the root's start
    tag (a DOCTYPE comes before it), the rest by :func:`well_formed` and the nesting
    read from the text; False means "not known" (the full pass, element by element, then
    judges it and says why).

    Most saves are whole SVG files. libxml2 reads them at expat's speed without
    Python's lock, so a big save judged in a worker thread does not hold up the event
    loop. A reference to an entity that a DOCTYPE's external DTD might declare is only a
    warning to libxml2, and any warning sends the file to the full pass."""
    if b"\x00" in data[:4]:  # UTF-16: the text cannot be cut at the byte of '<'
        return False
    if not _head_is_svg(data) or not _may_end_here(data):
        return False
    if not well_formed(data):
        return False
    if max_depth is None:
        return True
    depth = _open_depth(data)
    return depth is not None and depth + 1 <= max_depth


class _Root(Exception):
    """Stops the head pass at the root's start tag."""


def _head_is_svg(data: bytes) -> bool:
    """Whether expat reads ``data`` up to an SVG root's start tag without an error or a
    DOCTYPE's internal subset (where entities are declared): fed in growing prefixes, so
    that only the head of a big file is read."""
    parser = expat.ParserCreate(namespace_separator=" ")
    declares = False

    def doctype(name: str, system_id: str | None, public_id: str | None, subset: int) -> None:
        nonlocal declares
        declares = declares or bool(subset)

    def root(name: str, attributes: object) -> None:
        raise _Root(name)

    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = root
    start, size = 0, _HEAD
    try:
        while start < len(data):
            parser.Parse(data[start : start + size], False)
            start, size = start + size, size * 4
    except _Root as found:
        return not declares and found.args[0] == _SVG_ROOT
    except (expat.ExpatError, ValueError):
        return False
    return False  # no root in the whole file: the full pass says why


_HEAD = 4096

# How a whole file ends: the root's end tag, an empty root, or a comment or processing
# instruction after the root (whitespace may follow).
_WHOLE_END = re.compile(rb"(?:</(?:[^\s<>/:]+:)?svg\s*>|/>|-->|\?>)\s*\Z")


def _may_end_here(data: bytes) -> bool:
    """Whether ``data`` may end where a whole file does: a file caught mid-save mostly
    does not, and goes to the full pass at once, which tells it is incomplete (libxml2
    would read all of it first, to fail at the end)."""
    return _WHOLE_END.search(data[-512:]) is not None


def _open_depth(data: bytes) -> int | None:
    """How many elements are open at most in well-formed ``data`` (an element without
    content counts only where it is), read from the text cut at every ``<``; None when a
    comment, CDATA section or processing instruction holds a ``<`` of its own."""
    units = data.split(b"<")
    del units[0]  # what comes before the first markup
    # +1 start tag, -1 end tag, 0 empty-element tag; 2: look closer (below).
    try:
        deltas = [
            (-1 if c == 47 else 2)  # '/' ; '!' and '?'
            if (c := u[0]) in (47, 33, 63)
            else (
                (0 if t.endswith(b"/>") else 1)
                if (t := u.rstrip()).count(b">") == 1 and t[-1:] == b">"
                else 2
            )
            for u in units
        ]
    except IndexError:  # "<<": inside a comment, CDATA or a processing instruction
        return None
    if 2 in deltas:
        for k, d in enumerate(deltas):
            if d == 2:
                closer = _closer(units[k])
                if closer is None:
                    return None
                deltas[k] = closer
    return max(accumulate(deltas), default=0)


def _closer(unit: bytes) -> int | None:
    """The change of depth at ``unit`` (markup that :func:`_open_depth` could not tell at
    a glance), or None when it holds a ``<`` it does not end before."""
    for opening, end in ((b"!--", b"-->"), (b"![CDATA[", b"]]>"), (b"?", b"?>"), (b"!", b">")):
        if unit.startswith(opening):
            return 0 if end in unit else None
    tag = _START_TAG.match(unit)
    if tag is None:
        return None
    return 0 if tag.group().endswith(b"/>") else 1


def _screen_with_lxml(data: bytes) -> Screening:
    """An encoding expat does not know: lxml's parse decides (it cannot tell a file cut
    short from a broken one, so a failure is a rejection)."""
    try:
        doc = SvgDocument(data)
    except DocumentError as exc:
        return Screening(Verdict.REJECTED, str(exc).removeprefix("document.svg: "))
    tag = str(doc.root.tag)  # an element's tag, as lxml gives it, is a str
    if tag != f"{{{SVG_NS}}}svg":
        return Screening(Verdict.REJECTED, f"the root element is <{tag}>, not an SVG <svg>")
    return Screening(Verdict.SVG)


def incomplete_settled(first_seen: float, now: float, grace_s: float) -> bool:
    """An incomplete file unchanged for ``grace_s`` seconds is no save still being
    written: it is rejected then (announced once), and still replaced by a later save."""
    return now - first_seen >= grace_s
