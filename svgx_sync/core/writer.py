"""The writer that keeps bytes: a file's source with only the edited parts replaced.

An untouched subtree is copied from the source by its span, and the untouched siblings
between the children that changed (edited, added or moved) in one slice each, without
visiting them (a flat drawing's thousands); an element whose attributes changed gets
only its start tag rewritten (unchanged attributes keep their quoting and
spacing, its declarations stay and the edits' are added); new elements are written in
the document's own prefixes. lxml's own serialiser rewrites every byte of a real file,
which is why it is not used for files.

:class:`Edits` is what changed since the source was read; :func:`write` gives the new
text with the new span of every node it rewrote, and :func:`adopt` makes that text the
source, moving the spans along instead of reading them again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

from .namespaces import clark
from .spans import ATTR, Span
from .xmltext import declaration, escape_attr, escape_text, is_element

if TYPE_CHECKING:
    from .svgdoc import SvgDocument

__all__ = ["Edits", "Output", "adopt", "write", "write_fresh"]


@dataclass(slots=True)
class Edits:
    """What changed since the source was read; the writer rewrites only these."""

    attributes: dict[Any, dict[str, str]] = field(default_factory=dict)  # el -> attrs before
    text: set[Any] = field(default_factory=set)
    tails: set[Any] = field(default_factory=set)
    children: set[Any] = field(default_factory=set)  # elements whose children changed
    removed: list[Any] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.attributes or self.text or self.tails or self.children)

    def clear(self) -> None:
        self.attributes.clear()
        self.text.clear()
        self.tails.clear()
        self.children.clear()
        self.removed.clear()


class Output:
    """Output text being written, with the new span of every node written so far."""

    __slots__ = ("copied", "parents", "parts", "pos", "spans", "tail_ends", "text")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.text = ""
        self.spans: dict[Any, Span] = {}  # rewritten and new nodes
        # The source copied as it is (untouched subtrees, runs of untouched siblings with
        # their tails): from, to, and how far later it is written.
        self.copied: list[tuple[int, int, int]] = []
        self.parents: dict[Any, Any] = {}
        self.tail_ends: dict[Any, int] = {}

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += len(text)


def write(doc: SvgDocument) -> Output:
    """The document's text now: its source with the edited parts rewritten."""
    edits = doc.edits
    touched: set[Any] = set()
    for el in (*edits.attributes, *edits.text, *edits.children):
        _touch(el, touched)
    for node in edits.tails:
        parent = node.getparent()
        if parent is not None:
            _touch(parent, touched)
    root_span = doc.spans[doc.root]
    w = Output()
    w.add(doc.source[: root_span.start])
    _Rewriter(doc, touched, w).node(doc.root, None)
    w.tail_ends[doc.root] = w.pos
    w.add(doc.source[root_span.end :])
    w.text = "".join(w.parts)
    return w


def write_fresh(doc: SvgDocument, el: Any, outer: dict[str | None, str] | None) -> str:
    """``el``'s markup written anew, declaring what its reader (who declares ``outer``)
    would lack; with ``outer`` None, as the document would write it where it is."""
    w = Output()
    _Rewriter(doc, set(), w).fresh(el, el.getparent(), outer)
    return "".join(w.parts)


def adopt(doc: SvgDocument, w: Output) -> None:
    """Make the written text ``doc``'s source. The spans are moved along with the text
    instead of re-read from it: the copied source moved by a constant per range (each
    span is moved when next read: :class:`~.spans.SpanMap`), rewritten nodes got their
    new spans while written."""
    spans = doc.spans
    for node in doc.edits.removed:
        if node not in w.spans and node not in w.parents:
            for d in node.iter():
                spans.pop(d, None)
    moves = doc.move_spans(w.copied)
    spans = doc.spans
    for span in w.spans.values():
        span.moved = moves
    spans.update(w.spans)
    for node, parent in w.parents.items():
        spans[node].parent = parent
    for node, pos in w.tail_ends.items():
        spans[node].tail_end = pos
    doc.source = w.text


def _has_children(node: Any) -> bool:
    """Whether ``node`` has a child: lxml's ``len`` counts them all (17 ms for a root of
    60k elements), the first is enough."""
    return next(iter(node), None) is not None


def _touch(el: Any, touched: set[Any]) -> None:
    node = el
    while node is not None and node not in touched:
        touched.add(node)
        node = node.getparent()


class _Rewriter:
    """One write of one document; ``touched`` holds the edited elements and their
    ancestors (everything else is copied)."""

    def __init__(self, doc: SvgDocument, touched: set[Any], w: Output) -> None:
        self.doc = doc
        self.source = doc.source
        self.spans = doc.spans
        self.edits = doc.edits
        self.bindings = doc.bindings
        self.touched = touched
        self.w = w
        # The children of each element that are not copied with their tails: touched
        # (edited, or above an edit) or their tail edited.
        self.special: dict[Any, set[Any]] = {}
        for el in (*touched, *doc.edits.tails):
            parent = el.getparent()
            if parent is not None:
                self.special.setdefault(parent, set()).add(el)
        # Where each element's removed children were in the source: the holes that a
        # copy of the text between its other children must leave out.
        self.holes: dict[Any, list[int]] = {}
        for gone in doc.edits.removed:
            gspan = self.spans.get(gone)
            if gspan is not None and gspan.parent is not None:
                self.holes.setdefault(gspan.parent, []).append(gspan.start)

    def node(self, node: Any, parent: Any) -> None:
        span = self.spans.get(node)
        w = self.w
        if span is None:
            self.fresh(node, parent)
            return
        if node not in self.touched:
            w.copied.append((span.start, span.end, w.pos - span.start))
            w.add(self.source[span.start : span.end])
            return
        src, edits = self.source, self.edits
        start = w.pos
        self_closing = span.etag_start == span.end and span.stag_end == span.end
        has_content = _has_children(node) or bool(node.text)
        stag = (
            self.start_tag(node, span)
            if node in edits.attributes
            else src[span.start : span.stag_end]
        )
        if self_closing:
            if not has_content:
                w.add(stag)
                w.spans[node] = Span(start, w.pos, w.pos, w.pos, w.pos, -1, parent)
                return
            stag = stag[:-2].rstrip() + ">"
        w.add(stag)
        stag_end = w.pos
        if node in edits.text or self_closing:
            w.add(escape_text(node.text))
        else:
            w.add(src[span.stag_end : span.text_end])
        text_end = w.pos
        clusters = self._clusters(node, span)
        if clusters is not None:
            self._children_by_clusters(node, span, clusters)
        else:
            for child in node:
                self._child(child, node)
        etag_start = w.pos
        if self_closing:
            w.add(f"</{self.bindings.qname(node, node.tag)}>")
        else:
            w.add(src[span.etag_start : span.end])
        w.spans[node] = Span(start, stag_end, text_end, etag_start, w.pos, -1, parent)

    def _child(self, child: Any, node: Any) -> None:
        """One child of ``node`` and its tail, written on its own."""
        w = self.w
        self.node(child, node)
        w.parents[child] = node
        cspan = self.spans.get(child)
        if cspan is None or child in self.edits.tails or cspan.parent is not node:
            w.add(escape_text(child.tail))
        else:
            w.add(self.source[cspan.end : cspan.tail_end])
        w.tail_ends[child] = w.pos

    def _regular(self, child: Any, node: Any) -> bool:
        """Whether ``child`` is where the source has it, copied with its tail as it is."""
        if child in self.special.get(node, ()):
            return False
        cspan = self.spans.get(child)
        return cspan is not None and cspan.parent is node

    def _clusters(self, node: Any, span: Span) -> list[tuple[int, Any, Any, Any]] | None:
        """The runs of ``node``'s children written on their own (edited, added, moved,
        their tails edited), in document order: where the source text before each ends,
        its first and last child, and the child after it. Every other child is where the
        source has it, between them in one piece of source text. None: walk every child
        (a run's neighbours out of the source's order)."""
        spans, found = self.spans, []
        seen: set[Any] = set()
        for child in self.special.get(node, ()):
            if child in seen or child.getparent() is not node:
                continue
            first = last = child
            while (prev := first.getprevious()) is not None and not self._regular(prev, node):
                first = prev
            while (nxt := last.getnext()) is not None and not self._regular(nxt, node):
                last = nxt
            at = first
            while True:
                seen.add(at)
                if at is last:
                    break
                at = at.getnext()
            before = first.getprevious()
            key = span.text_end if before is None else spans[before].tail_end
            found.append((key, first, last, nxt))
        found.sort(key=lambda item: item[0])
        end = span.text_end
        for key, _first, _last, nxt in found:
            if key < end:
                return None
            end = span.etag_start if nxt is None else spans[nxt].start
            if end < key:
                return None
        return found

    def _children_by_clusters(
        self, node: Any, span: Span, clusters: list[tuple[int, Any, Any, Any]]
    ) -> None:
        """``node``'s children: the clusters (:meth:`_clusters`) written child by child,
        the source between them copied (a flat drawing's untouched siblings are not
        visited unless a removal left a hole among them)."""
        spans = self.spans
        cursor, after = span.text_end, None  # in the source; the child written last
        for key, first, last, nxt in clusters:
            if key > cursor:
                self._copy_between(node, after, first, cursor, key)
            child = first
            while True:
                self._child(child, node)
                if child is last:
                    break
                child = child.getnext()
            after = last
            cursor = span.etag_start if nxt is None else spans[nxt].start
        if span.etag_start > cursor:
            self._copy_between(node, after, None, cursor, span.etag_start)

    def _copy_between(self, node: Any, after: Any, stop: Any, start: int, end: int) -> None:
        """Copy the children after ``after`` (None: from the first) up to ``stop`` (None:
        the last), which the source has from ``start`` to ``end``, with their tails;
        where an element removed from among them left a hole, in a slice per side."""
        w, src, spans = self.w, self.source, self.spans
        first = next(iter(node), None) if after is None else after.getnext()
        if first is None or first is stop:
            return  # nothing but what was removed
        if not any(start <= hole < end for hole in self.holes.get(node, ())):
            w.copied.append((start, end, w.pos - start))
            w.add(src[start:end])
            return
        piece_start = spans[first].start
        piece_end = spans[first].tail_end
        at = first.getnext()
        while at is not stop:
            aspan = spans[at]
            if aspan.start != piece_end:
                w.copied.append((piece_start, piece_end, w.pos - piece_start))
                w.add(src[piece_start:piece_end])
                piece_start = aspan.start
            piece_end = aspan.tail_end
            at = at.getnext()
        w.copied.append((piece_start, piece_end, w.pos - piece_start))
        w.add(src[piece_start:piece_end])

    def start_tag(self, el: Any, span: Span) -> str:
        """Rewrite only the changed attributes of an original start tag."""
        token = self.source[span.start : span.stag_end]
        before = self.edits.attributes[el]
        current = dict(el.attrib)
        match = re.match(r"<[^\s/>]+", token)
        assert match is not None
        parts = [match.group()]
        pos = match.end()
        seen: set[str] = set()
        declared: set[str | None] = set()
        last_ws = " "
        bindings = self.bindings
        nsmap = bindings.scope(el)
        for attr in ATTR.finditer(token, pos):
            ws, qname, eq, dq, _sq = attr.groups()
            last_ws = ws
            pos = attr.end()
            if qname == "xmlns" or qname.startswith("xmlns:"):
                declared.add(qname[6:] or None)
                parts.append(attr.group())
                continue
            key = clark(qname, nsmap) or qname
            seen.add(key)
            if key not in current:
                continue
            if before.get(key) == current[key]:
                parts.append(attr.group())
            else:
                quote = '"' if dq is not None else "'"
                parts.append(f"{ws}{qname}{eq}{quote}{escape_attr(current[key], quote)}{quote}")
        for prefix, ns in bindings.added.get(el, {}).items():
            if prefix not in declared:
                parts.append(last_ws + declaration(prefix, ns))
        for key, value in current.items():
            if key not in seen:
                parts.append(
                    f'{last_ws}{bindings.qname(el, key, attr=True)}="{escape_attr(value)}"'
                )
        parts.append(token[pos:])
        return "".join(parts)

    def fresh(self, node: Any, parent: Any, outer: dict[str | None, str] | None = None) -> None:
        """Write a new node in the document's own prefixes."""
        w = self.w
        start = w.pos
        if not is_element(node):
            if isinstance(node, etree._Comment):
                w.add(f"<!--{node.text or ''}-->")
            elif isinstance(node, etree._ProcessingInstruction):
                w.add(f"<?{node.target} {node.text or ''}?>")
            w.spans[node] = Span(start, w.pos, w.pos, w.pos, w.pos, -1, parent)
            return
        bindings = self.bindings
        name = bindings.qname(node, node.tag)
        # Exactly the bindings the tree makes here (new subtrees were adopted on insert,
        # so usually none); ``outer`` is the scope a fragment's reader will declare.
        own = bindings.declarations(node)
        if outer is not None:  # the top of a fragment: what its reader will not declare
            own = {**{p: u for p, u in bindings.scope(node).items() if outer.get(p) != u}, **own}
        decls = "".join(" " + declaration(p, u) for p, u in own.items())
        attrs = decls + "".join(
            f' {bindings.qname(node, k, attr=True)}="{escape_attr(v)}"'
            for k, v in node.attrib.items()
        )
        if not _has_children(node) and not node.text:
            w.add(f"<{name}{attrs}/>")
            w.spans[node] = Span(start, w.pos, w.pos, w.pos, w.pos, -1, parent)
            return
        w.add(f"<{name}{attrs}>")
        stag_end = w.pos
        w.add(escape_text(node.text))
        text_end = w.pos
        for child in node:
            self.fresh(child, node)
            w.parents[child] = node
            w.add(escape_text(child.tail))
            w.tail_ends[child] = w.pos
        etag_start = w.pos
        w.add(f"</{name}>")
        w.spans[node] = Span(start, stag_end, text_end, etag_start, w.pos, -1, parent)
