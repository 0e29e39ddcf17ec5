"""Where every node of a parsed file sits in its source text.

lxml parses the file; this module reads the same text once more as markup tokens and
pairs each node of the tree, in document order, with its :class:`Span`: the start tag,
the text before the first child, the end tag and the tail. The writer copies untouched
subtrees by their spans and rewrites only what was edited (``svgdoc``), which is how a
file keeps its bytes. The id index is built in the same pass. The mapping runs on every
parse, so its loop is kept to a few operations per token.

It also reads DOCTYPEs (one with an internal subset, where entities are declared, is
refused) and repairs start tags that declare one prefix twice with the same namespace.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from ..errors import DocumentError
from .xmltext import is_element

__all__ = [
    "ATTR",
    "TOKEN",
    "SourceMap",
    "Span",
    "SpanMap",
    "check_prolog",
    "map_source",
    "repair_declarations",
    "root_start_tag",
]

# One token of markup, dispatched on its second character. Attribute values may contain
# '>' so start tags are matched with their quoted strings (an unrolled loop with possessive
# quantifiers: several times faster in ``re`` than an alternation per character).
TOKEN = re.compile(
    r"<(?:"
    r"[^!?/][^>\"']*+(?:\"[^\"]*+\"[^>\"']*+|'[^']*+'[^>\"']*+)*+>"
    r"|/[^>]*+>"
    r"|!--.*?-->"
    r"|\?.*?\?>"
    r"|!\[CDATA\[.*?\]\]>"
    r"|!DOCTYPE[^>\[\"']*+(?:\"[^\"]*+\"[^>\[\"']*+|'[^']*+'[^>\[\"']*+)*+[\[>]"
    r")",
    re.DOTALL,
)
ATTR = re.compile(r"(\s+)([^\s=/>]+)(\s*=\s*)(?:\"([^\"]*)\"|'([^']*)')")
"""One attribute of a start tag: leading space, name, ``=`` with its spacing, value."""

_ELEMENT = etree._Element


@dataclass(slots=True)
class Span:
    """Where a node sat in the source text.

    ``start``..``stag_end`` is the start tag, ``stag_end``..``text_end`` the text before
    the first child, ``etag_start``..``end`` the end tag (empty for ``<x/>``), and
    ``end``..``tail_end`` the tail text up to the next sibling or the parent's end tag.
    """

    start: int
    stag_end: int
    text_end: int
    etag_start: int
    end: int
    tail_end: int
    parent: Any
    moved: int = 0
    """How many of its map's moves the span has been moved by (see :class:`SpanMap`)."""


class SpanMap(dict[Any, Span]):
    """Every node's :class:`Span`, the text's moves applied when a span is read.

    A write that changes the length of one value moves the text of every node after it.
    Moving each span then would cost a pass over the whole file per write, on the event
    loop (87 ms at 60k elements for an edit near the start). Instead :meth:`move` records
    where the text was copied and by how much it moved, and a span read with ``[]`` or
    :meth:`get` is moved then by the moves it missed. A node copied in a move sits in
    one of its copied ranges; any other node was rewritten (and given a new span) or
    removed. After :data:`MOVES_KEPT` moves, every span is brought up to date at once
    and the moves are dropped.

    A read costs a Python call here, so a document's spans stay a plain ``dict`` until
    its first write moves text (:meth:`~.svgdoc.SvgDocument.move_spans`): a file parsed
    to be compared or merged reads them at ``dict`` speed.
    """

    __slots__ = ("_first", "_moves")

    def __init__(self, spans: dict[Any, Span]) -> None:
        super().__init__(spans)
        self._first = 0  # how many moves were dropped once every span had them
        self._moves: list[tuple[list[int], list[int], list[int]]] = []

    def __getitem__(self, node: Any) -> Span:
        span = dict.__getitem__(self, node)
        if span.moved != self._first + len(self._moves):
            self._catch_up(span)
        return span

    def get(self, node: Any, default: Any = None) -> Any:
        span = dict.get(self, node)
        if span is None:
            return default
        if span.moved != self._first + len(self._moves):
            self._catch_up(span)
        return span

    @property
    def moves(self) -> int:
        """How many moves were recorded in all: a span made now has them."""
        return self._first + len(self._moves)

    def move(self, copied: list[tuple[int, int, int]]) -> None:
        """The text was written again: each ``(start, end, delta)`` of ``copied`` is a
        range of the old text copied ``delta`` characters later (none moved the rest)."""
        starts, ends, deltas = (list(column) for column in zip(*sorted(copied), strict=True))
        self._moves.append((starts, ends, deltas))
        if len(self._moves) >= MOVES_KEPT:
            for span in dict.values(self):
                if span.moved != self.moves:
                    self._catch_up(span)
            self._first += len(self._moves)
            self._moves.clear()

    def _catch_up(self, span: Span) -> None:
        for starts, ends, deltas in self._moves[span.moved - self._first :]:
            k = bisect_right(starts, span.start) - 1
            if k >= 0 and span.start < ends[k]:
                delta = deltas[k]
                span.start += delta
                span.stag_end += delta
                span.text_end += delta
                span.etag_start += delta
                span.end += delta
                span.tail_end += delta
        span.moved = self._first + len(self._moves)


MOVES_KEPT = 64
"""Moves a :class:`SpanMap` keeps before it brings every span up to date."""


@dataclass(slots=True)
class SourceMap:
    """Every node's span, and the id index: the first holder of each id, and every
    holder of an id held more than once."""

    spans: dict[Any, Span] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)
    duplicate_ids: dict[str, list[Any]] = field(default_factory=dict)


def map_source(text: str, root: Any, name: str, max_depth: int) -> SourceMap:
    """Pair every node of the tree under ``root`` with its place in ``text``.

    Raises :class:`DocumentError` when the markup does not match the tree, nests deeper
    than ``max_depth`` or holds a DOCTYPE with an internal subset.
    """
    out = SourceMap()
    next_node = root.iter().__next__
    tokens = TOKEN.finditer(text)
    node, span = _map_prolog(text, tokens, next_node, out, name)
    if span.text_end < 0:
        _map_body(text, tokens, next_node, (node, span), out, name, max_depth)
    _map_epilog(text, tokens, next_node, name)
    return out


def check_prolog(text: str, name: str) -> None:
    """Refuse a DOCTYPE with an internal subset before the root (where entities are
    declared); :func:`map_source` refuses it too, this reads the prolog only."""
    for match in TOKEN.finditer(text):
        start, end = match.span()
        if text[start + 1] not in "!?":
            return
        if text.startswith("<!D", start):
            _check_doctype(text, end, name)


def root_start_tag(text: str) -> tuple[int, int] | None:
    """Where the root's start tag is in ``text`` (start, end), read past the prolog
    only (None: no element)."""
    for match in TOKEN.finditer(text):
        if text[match.start() + 1] not in "!?":
            return match.span()
    return None


def _mismatch(name: str) -> DocumentError:
    return DocumentError(f"{name}: markup does not match the parsed tree")


def _check_doctype(text: str, end: int, name: str) -> None:
    if text[end - 1] == "[":
        raise DocumentError(
            f"{name}: a DOCTYPE with an internal subset (entity declarations) is refused"
        )


def _map_prolog(
    text: str,
    tokens: Iterator[re.Match[str]],
    next_node: Callable[[], Any],
    out: SourceMap,
    name: str,
) -> tuple[Any, Span]:
    """Up to the root's start tag: the root and its span (open unless ``<svg/>``)."""
    for match in tokens:
        start, end = match.span()
        kind = text[start + 1]
        if kind == "!":
            if text.startswith("<!D", start):
                _check_doctype(text, end, name)
            continue
        if kind == "?":
            continue
        if kind == "/":
            raise _mismatch(name)
        try:
            node = next_node()
        except StopIteration:
            raise _mismatch(name) from None
        if not is_element(node):
            raise _mismatch(name)
        ident = node.get("id")
        if ident is not None:
            out.ids[ident] = node
        if text[end - 2] == "/":
            span = out.spans[node] = Span(start, end, end, end, end, end, None)
        else:
            span = out.spans[node] = Span(start, end, -1, end, end, -1, None)
        return node, span
    raise _mismatch(name)


def _map_body(
    text: str,
    tokens: Iterator[re.Match[str]],
    next_node: Callable[[], Any],
    top: tuple[Any, Span],
    out: SourceMap,
    name: str,
    max_depth: int,
) -> None:
    """Until the root's end tag. ``node`` is the open element, ``last`` the child of it
    that closed last; its tail runs up to whatever comes next."""
    spans, ids, dups = out.spans, out.ids, out.duplicate_ids
    node, span = top
    stack: list[tuple[Any, Span]] = []  # the open elements above ``node``
    last: Span | None = None
    for match in tokens:
        start, end = match.span()
        kind = text[start + 1]
        if kind == "/":
            if span.text_end < 0:
                span.text_end = start
            span.etag_start = start
            span.end = end
            if last is not None and last.tail_end < 0:
                last.tail_end = start
            last = span
            if not stack:
                span.tail_end = end
                return
            node, span = stack.pop()
            continue
        if kind == "!" or kind == "?":
            last = _map_other(text, (start, end), next_node, (node, span), last, spans, name)
            continue
        try:
            child = next_node()
        except StopIteration:
            raise _mismatch(name) from None
        if type(child) is not _ELEMENT and not is_element(child):
            raise _mismatch(name)
        ident = child.get("id")
        if ident is not None:
            if ident in ids:
                dups.setdefault(ident, [ids[ident]]).append(child)
            else:
                ids[ident] = child
        if span.text_end < 0:
            span.text_end = start
        if last is not None:
            last.tail_end = start
        if text[end - 2] == "/":
            last = spans[child] = Span(start, end, end, end, end, -1, node)
            continue
        last = None
        stack.append((node, span))
        if len(stack) >= max_depth:
            raise DocumentError(f"{name}: nested deeper than {max_depth}")
        span = spans[child] = Span(start, end, -1, end, end, -1, node)
        node = child
    raise _mismatch(name)


def _map_other(
    text: str,
    where: tuple[int, int],
    next_node: Callable[[], Any],
    open_: tuple[Any, Span],
    last: Span | None,
    spans: dict[Any, Span],
    name: str,
) -> Span | None:
    """A token inside the root that is no tag: a comment or processing instruction is a
    node of its own (returned as the new ``last``); CDATA is text and a DOCTYPE no node
    (``last`` is returned as it was)."""
    start, end = where
    node, span = open_
    if text[start + 1] == "!" and not text.startswith("<!--", start):
        if text.startswith("<!D", start):
            _check_doctype(text, end, name)
        return last  # CDATA is text
    try:
        child = next_node()
    except StopIteration:
        raise _mismatch(name) from None
    if is_element(child):
        raise _mismatch(name)
    if span.text_end < 0:
        span.text_end = start
    if last is not None:
        last.tail_end = start
    new = spans[child] = Span(start, end, end, end, end, -1, node)
    return new


def _map_epilog(
    text: str, tokens: Iterator[re.Match[str]], next_node: Callable[[], Any], name: str
) -> None:
    """After the root: comments and processing instructions only."""
    for match in tokens:
        start, end = match.span()
        kind = text[start + 1]
        if kind == "?" or text.startswith(("<!--", "<![CDATA["), start):
            continue
        if text.startswith("<!D", start):
            _check_doctype(text, end, name)
            continue
        raise DocumentError(f"{name}: content after the root element")
    try:
        next_node()
    except StopIteration:
        return
    raise _mismatch(name)


def repair_declarations(text: str) -> tuple[str, list[str]]:
    """``text`` without the namespace declarations that repeat, in the same start tag and
    with the same namespace, one made before (files that older releases wrote).

    Returns the text and one note per repaired start tag. A prefix declared twice with
    different namespaces is left alone: nobody can tell which one was meant.
    """
    notes: list[str] = []
    parts: list[str] = []
    pos = 0
    for match in TOKEN.finditer(text):
        token = match.group()
        if token[1] in "!?/":
            continue
        seen: dict[str, str] = {}
        repeats: Counter[str] = Counter()
        drop: list[tuple[int, int]] = []
        for attr in ATTR.finditer(token):
            qname = attr.group(2)
            if qname != "xmlns" and not qname.startswith("xmlns:"):
                continue
            value = attr.group(4) if attr.group(4) is not None else attr.group(5)
            if qname not in seen:
                seen[qname] = value
            elif seen[qname] == value:
                drop.append(attr.span())
                repeats[qname] += 1
        if not drop:
            continue
        for a, b in drop:
            parts.append(text[pos : match.start() + a])
            pos = match.start() + b
        tag = re.match(r"<([^\s/>]+)", token)
        where = tag.group(1) if tag else "?"
        notes.extend(
            f"{qname} was declared {n + 1} times on <{where}>; kept one"
            for qname, n in repeats.items()
        )
    if not notes:
        return text, []
    parts.append(text[pos:])
    return "".join(parts), notes
