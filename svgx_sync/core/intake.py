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
that already shows either is rejected without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from xml.parsers import expat

from ..errors import DocumentError
from .namespaces import SVG_NS
from .svgdoc import MAX_BYTES, MAX_DEPTH, SvgDocument

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


class _Refused(Exception):
    """Stops the expat pass: the bytes are not an SVG file, whatever follows."""


_SVG_ROOT = SVG_NS + " svg"


def screen_svg(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Screening:
    """Judge ``data`` as an SVG file (see the module docstring)."""
    if len(data) > max_bytes:
        return Screening(Verdict.REJECTED, f"larger than {max_bytes} bytes")
    if not data.strip():
        return Screening(Verdict.INCOMPLETE, "the file is empty")
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
    return Screening(Verdict.SVG)


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
