"""XML text as the reader and the writer of SVG files share it.

Decoding a file as its declaration says (refusing lossy round trips), escaping text and
attribute values so that they read back as they were, namespace declarations as text,
and the two tests every walk over an lxml tree needs (an element, or a comment or
processing instruction; text that is only indentation). Pure functions, no lxml parse.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from lxml import etree

from ..errors import DocumentError

ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]*$")
"""An id that ``create``, ``constraint_add`` and ``assembly_update`` accept (and that
addresses an element in operations)."""

__all__ = [
    "DECLARATION",
    "EXACT_ENCODINGS",
    "ID_RE",
    "common_ends",
    "declaration",
    "declared",
    "decode",
    "encoding_of",
    "escape_attr",
    "escape_text",
    "index_among_elements",
    "is_blank",
    "is_element",
]

_ENCODING_DECL = re.compile(rb"^<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")

DECLARATION = re.compile(r"""\sxmlns(?::([^\s=/>]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
"""One namespace declaration in a start tag: its prefix (None for the default) and value."""


def encoding_of(data: bytes) -> str:
    """The encoding :func:`decode` reads the file in: a byte order mark's, else its XML
    declaration's, else UTF-8 (only the start of the file is looked at)."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    match = _ENCODING_DECL.match(data)
    return match.group(1).decode("ascii").lower() if match else "utf-8"


def decode(data: bytes) -> tuple[str, str]:
    """Decode the file as its XML declaration says, refusing lossy round trips."""
    encoding = encoding_of(data)
    if encoding in ("utf-8-sig", "utf-16"):
        return data.decode(encoding), encoding
    try:
        text = data.decode(encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise DocumentError(f"cannot decode the file as {encoding}: {exc}") from exc
    # Python's strict UTF-8 and ASCII decoders accept only the one spelling of each
    # character, so their text always round-trips; other codecs are checked.
    if encoding not in EXACT_ENCODINGS and text.encode(encoding) != data:
        raise DocumentError(f"the file does not round-trip through {encoding}")
    return text, encoding


EXACT_ENCODINGS = frozenset({"utf-8", "utf8", "ascii", "us-ascii"})
"""The encodings whose decoder accepts one spelling of each character only, in which
the byte ``<`` is the character ``<`` and nothing else: a file of one of them may be
cut at its ``<`` bytes and each piece decoded alone."""


def common_ends(a: bytes, b: bytes) -> tuple[int, int]:
    """How many bytes ``a`` and ``b`` share at their start, and then at their end (the
    two never overlap; compared in halves of what is left: memcmp, never a copy)."""
    view = memoryview(b)
    most = min(len(a), len(b))
    lo, hi = 0, most
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if a.startswith(view[lo:mid], lo) else (lo, mid - 1)
    prefix = lo
    lo, hi = 0, most - prefix
    while lo < hi:
        mid = (lo + hi + 1) // 2
        same = a.startswith(view[len(b) - mid : len(b) - lo], len(a) - mid)
        lo, hi = (mid, hi) if same else (lo, mid - 1)
    return prefix, lo


def escape_text(text: str | None) -> str:
    if not text:
        return ""
    # A raw CR would come back as LF (XML 1.0 section 2.11), so it is written as a reference.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\r", "&#13;")


def escape_attr(value: str, quote: str = '"') -> str:
    value = value.replace("&", "&amp;").replace("<", "&lt;")
    value = value.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    return value.replace('"', "&quot;") if quote == '"' else value.replace("'", "&apos;")


def declaration(prefix: str | None, ns: str) -> str:
    """The text of a declaration binding ``prefix`` (None: the default) to ``ns``."""
    return f'xmlns{":" + prefix if prefix else ""}="{escape_attr(ns)}"'


def declared(start_tag: str) -> dict[str | None, str]:
    """The namespace declarations of one start tag (references left as written)."""
    return {
        m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
        for m in DECLARATION.finditer(start_tag)
    }


def is_element(node: Any) -> bool:
    return isinstance(node.tag, str)


OTHER_CHILDREN = (etree.Comment, etree.ProcessingInstruction, etree.Entity)
"""The child nodes lxml counts in ``len()``, ``index()`` and ``[i]`` besides elements."""


def index_among_elements(el: Any, position: int | None = None) -> int:
    """``el``'s index among its parent's element children (comments not counted);
    ``position``: its index among all child nodes, when known already.

    Walked in lxml's C code: a Python loop over a flat drawing's 60k children costs
    tens of milliseconds per call."""
    if position is None:
        position = int(el.getparent().index(el))
    return position - sum(1 for _ in el.itersiblings(*OTHER_CHILDREN, preceding=True))


def is_blank(text: str | None) -> bool:
    """No text, or only whitespace (indentation)."""
    return not text or text.isspace()
