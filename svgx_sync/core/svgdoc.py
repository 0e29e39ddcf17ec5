"""The SVG document model: a hardened parse, an id index, and a writer that keeps bytes.

Guarantees:

* Parsing never loads a DTD, never expands an entity and never touches the network. A
  DOCTYPE without an internal subset (the usual ``<!DOCTYPE svg PUBLIC ...>``) is kept
  byte for byte and ignored; a DOCTYPE with an internal subset (where entities are
  declared) is refused with :class:`DocumentError`. Size, nesting depth and the length of
  one value are bounded (:data:`MAX_BYTES`, :data:`MAX_DEPTH`, :data:`MAX_VALUE`), and
  :attr:`SvgDocument.size_bound` follows the size through every edit, so that live
  operations can be held to the same limits (``ops``).
* Every element is reachable in O(1) by its ``id``. Duplicate ids are reported in
  :attr:`SvgDocument.duplicate_ids`, never merged; the index points at the first one.
  Elements without an id are addressed by their position (``/0/3/1``: element-child
  indices from the root) and no id is ever invented for them.
* :meth:`SvgDocument.render` returns the original text with only the edited parts
  replaced. While parsing we record where every node sits in the source (its *span*,
  :mod:`.spans`); the writer (:mod:`.writer`) copies an untouched subtree from the
  source, rewrites only the start tag of an element whose attributes changed, and writes
  new elements in the indentation of their siblings.
* Namespaces follow the text, not lxml: :meth:`SvgDocument.scope` is what the written
  file binds at an element (:mod:`.bindings`). Every name the writer puts out uses a
  binding in that scope, and a start tag it rewrites keeps its declarations and adds
  only the ones edits brought, so no sequence of edits can write a prefix undeclared or
  declared twice. A namespace an edit brings in is declared once, on the root.
* A file whose start tag declares one prefix twice with the same namespace (older
  releases wrote ``xmlns:svgx`` again on each constraint) is read with the repeats
  dropped; :attr:`SvgDocument.repairs` says what was repaired and a warning is logged.

All edits go through the mutation methods here (``set_attribute``, ``set_text``,
``insert``, ``remove``, ``move``) so the writer knows what changed.
"""

from __future__ import annotations

import gc
import logging
import operator
import threading
from collections.abc import Iterator
from itertools import islice
from typing import Any, cast

from lxml import etree

from ..errors import DocumentError, NotFound
from . import siblings, writer
from .bindings import TextBindings
from .namespaces import KNOWN_PREFIXES, XML_NS
from .siblings import Siblings
from .spans import Span, SpanMap, check_prolog, map_source, repair_declarations, root_start_tag
from .writer import Edits
from .xmltext import (
    declaration,
    decode,
    escape_attr,
    escape_text,
    index_among_elements,
    is_blank,
    is_element,
)

__all__ = [
    "DEFAULT_FILE",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_VALUE",
    "Span",
    "SvgDocument",
    "element_paths",
    "escape_attr",
    "escape_text",
    "format_style",
    "height",
    "is_blank",
    "is_element",
    "parse_style",
    "repair_declarations",
    "well_formed",
]

log = logging.getLogger(__name__)

DEFAULT_FILE = "document.svg"
"""The file a new document is created with, and the one an operation without ``file`` edits."""

MAX_BYTES = 64 * 1024 * 1024
"""The largest file read, in bytes."""
MAX_DEPTH = 256
"""The deepest nesting of elements read, the root counting as one (libxml2 refuses more
without ``huge_tree``)."""
MAX_VALUE = 10_000_000
"""The longest attribute value or text, in bytes, that libxml2 reads without ``huge_tree``."""

# What an edit may add beyond its values, at most: a name's prefix, quotes, an end tag.
_SLACK = 64

_LOCAL = threading.local()


def _parser() -> etree.XMLParser:
    """One hardened parser per thread (lxml parsers must not be shared across threads)."""
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_blank_text=False,
            remove_comments=False,
            remove_pis=False,
            strip_cdata=False,
        )
    return parser


class _NoTree:
    """A parser target without callbacks: lxml reads the file and builds nothing."""

    def close(self) -> None:
        return None


def well_formed(data: bytes) -> bool:
    """Whether the documents' parser (libxml2, set as :func:`_parser`) reads ``data``
    without an error, building nothing: a well-formedness error, or a namespace error
    (which only a parser building a tree raises, and this one leaves in its log).

    libxml2 reads without Python's lock here (no callback runs), so a worker thread
    checking a big file does not hold up the event loop: 6 MB in about 50 ms with the
    loop's longest wait about 1 ms, where expat holds the lock for the whole pass."""
    parser = etree.XMLParser(
        target=cast(Any, _NoTree()),  # the stubs' target protocol asks for every callback
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    try:
        etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        return False
    return not len(parser.error_log)


def parse_style(style: str) -> dict[str, str]:
    """The declarations of a ``style`` attribute, property to value, in order."""
    props: dict[str, str] = {}
    for decl in style.split(";"):
        if ":" in decl:
            key, value = decl.split(":", 1)
            props[key.strip()] = value.strip()
    return props


def format_style(props: dict[str, str]) -> str:
    """A ``style`` attribute's text for these declarations."""
    return ";".join(f"{k}:{v}" for k, v in props.items())


class SvgDocument:
    """One SVG file: the lxml tree, its id index and its original text."""

    def __init__(self, data: bytes, *, name: str = "document.svg") -> None:
        if len(data) > MAX_BYTES:
            raise DocumentError(f"{name}: larger than {MAX_BYTES} bytes")
        self.name = name
        text, self.encoding = decode(data)
        self.repairs: list[str] = []
        """What was repaired while reading (see :func:`repair_declarations`)."""
        try:
            self.root = etree.fromstring(data, _parser())
        except etree.XMLSyntaxError as exc:
            text, self.repairs = repair_declarations(text)
            if not self.repairs:
                raise DocumentError(f"{name}: not well-formed XML: {exc}") from exc
            try:
                self.root = etree.fromstring(text.encode(self.encoding), _parser())
            except etree.XMLSyntaxError:
                raise DocumentError(f"{name}: not well-formed XML: {exc}") from exc
            log.warning("%s: repaired on reading: %s", name, "; ".join(self.repairs))
        self.source = text
        self.size_bound = len(data)
        """At least as many bytes as :meth:`render` would give now, kept up to date by
        every edit without writing (exact after :meth:`commit_render`)."""
        # Bytes per ASCII character: 1 in UTF-8 and the single-byte encodings, 2 in UTF-16.
        self._ascii_width = len("aa".encode(self.encoding)) - len("a".encode(self.encoding))
        self.edits = Edits()
        self.bindings = TextBindings(self)
        check_prolog(text, name)
        if "&" in text and next(self.root.iter(etree.Entity), None) is not None:
            # An entity lxml kept as a node (one a DTD outside the file may define); a
            # text without "&" refers to none, and its tree is not walked for one.
            raise DocumentError(f"{name}: markup does not match the parsed tree")
        self.ids: dict[str, Any]
        self.duplicate_ids: dict[str, list[Any]]
        self.ids, self.duplicate_ids = _index(self.root)
        # Where each node sits in the source, read when first needed (by the writer and
        # the comparisons by text): loading a document does not pay for it.
        self._spans: dict[Any, Span] | None = None
        # The parents with many children, each with its children's places (siblings.py).
        self._siblings: dict[Any, Siblings] = {}

    @property
    def spans(self) -> dict[Any, Span]:
        """Every node's :class:`Span` in :attr:`source` (see :mod:`.spans`)."""
        if self._spans is None:
            self._spans = map_source(self.source, self.root, self.name, MAX_DEPTH).spans
        return self._spans

    def move_spans(self, copied: list[tuple[int, int, int]]) -> int:
        """The source was written again, ``copied`` as ``writer.Output.copied`` has it:
        the spans are moved along (when read, :class:`~.spans.SpanMap`). Returns how many
        moves the spans have had, what a span made for the new text has had."""
        moved = [c for c in copied if c[2] and c[0] < c[1]]
        spans = self.spans
        if not moved:
            return spans.moves if isinstance(spans, SpanMap) else 0
        if not isinstance(spans, SpanMap):
            spans = self._spans = SpanMap(spans)
        spans.move(moved)
        return spans.moves

    @classmethod
    def mapped(cls, data: bytes, *, name: str = DEFAULT_FILE) -> SvgDocument:
        """``data`` parsed with its source mapped: all a render needs, for a tree read
        beside the event loop to be used on it."""
        doc = cls(data, name=name)
        doc.spans  # noqa: B018 (mapped now, not on the loop)
        return doc

    @property
    def spans_mapped(self) -> bool:
        """Whether :attr:`spans` is mapped already (a render costs no whole-source map)."""
        return self._spans is not None

    def root_start_tag(self) -> tuple[int, int]:
        """Where the root's start tag is in :attr:`source` (start, end), without mapping
        the whole source when it is not mapped yet."""
        if self._spans is None:
            found = root_start_tag(self.source)
            if found is not None:
                return found
        span = self.spans[self.root]
        return span.start, span.stag_end

    # -- the index -------------------------------------------------------------------

    def _index_add(self, el: Any) -> None:
        ident = el.get("id")
        if ident is None:
            return
        if ident in self.ids and self.ids[ident] is not el:
            self.duplicate_ids.setdefault(ident, [self.ids[ident]]).append(el)
        else:
            self.ids[ident] = el

    def _index_remove(self, el: Any) -> None:
        ident = el.get("id")
        if ident is None:
            return
        dups = self.duplicate_ids.get(ident)
        if dups is not None:
            if el in dups:
                dups.remove(el)
            if self.ids.get(ident) is el:
                self.ids[ident] = dups[0]
            if len(dups) <= 1:
                del self.duplicate_ids[ident]
        elif self.ids.get(ident) is el:
            del self.ids[ident]

    def get(self, address: str) -> Any:
        """The element with this id, or at this ``/i/j`` position; raises NotFound."""
        el = self.find(address)
        if el is None:
            raise NotFound(f"no element {address!r} in {self.name}")
        return el

    def find(self, address: str) -> Any | None:
        if address.startswith("/"):
            el: Any = self.root
            for part in address.strip("/").split("/") if address.strip("/") else []:
                if not part.isdigit():
                    return None
                el = self.element_child(el, int(part))
                if el is None:
                    return None
            return el
        return self.ids.get(address)

    def address_of(self, el: Any) -> str:
        """The element's id, or its position when it has none."""
        ident: str | None = el.get("id")
        if ident is not None and self.ids.get(ident) is el:
            return ident
        return self.position_of(el)

    def position_of(self, el: Any) -> str:
        """The element's ``/i/j`` position, whether it has an id or not."""
        parts = []
        node = el
        while node is not self.root:
            parent = node.getparent()
            parts.append(str(self.child_index(node)[1]))
            node = parent
        return "/" + "/".join(reversed(parts))

    def elements(self) -> Iterator[Any]:
        return self.root.iter(etree.Element)

    # -- places among siblings ---------------------------------------------------------

    def child_index(self, el: Any) -> tuple[int, int]:
        """``el``'s index among its parent's child nodes (``parent.index(el)``) and among
        its element children (comments not counted). Walks the siblings before it only
        until the parent has many: then the parent's :class:`.Siblings` answers."""
        parent = el.getparent()
        known = self._siblings.get(parent)
        if known is not None:
            return known.position(el)
        position = int(parent.index(el))
        if position >= siblings.INDEXED_FROM:
            self._siblings[parent] = Siblings(parent)
        return position, index_among_elements(el, position)

    def child_node(self, parent: Any, index: int) -> Any | None:
        """``parent[index]`` (all child nodes count), or None past the last."""
        known = self._known_siblings(parent, index)
        if known is not None:
            return known.node_at(index)
        try:
            return parent[index]  # walks up to it only: no count of all
        except IndexError:
            return None

    def element_child(self, parent: Any, index: int, *, leaving: Any = None) -> Any | None:
        """The ``index``-th element child of ``parent``, or None past the last;
        ``leaving``: a child to count as gone (it is being moved)."""
        if leaving is not None and leaving.getparent() is parent:
            if self.child_index(leaving)[1] <= index:
                index += 1
        known = self._known_siblings(parent, index)
        if known is not None:
            return known.element_at(index)
        # Only the children up to the one wanted are walked (lxml's C code skips comments).
        return next(islice(parent.iterchildren(etree.Element), index, None), None)

    def keep_places_ahead(self) -> None:
        """Keep the places of the children of the root and of its children, where they
        are many (a flat drawing, Inkscape's layers), before any edit needs them: for a
        document made in a worker thread, whose first delete would build them on the loop
        (0.3 s at 561k children)."""
        for parent in (self.root, *self.root.iterchildren(etree.Element)):
            if parent not in self._siblings and len(parent) >= siblings.INDEXED_FROM:
                self._siblings[parent] = Siblings(parent)

    def _known_siblings(self, parent: Any, index: int) -> Siblings | None:
        known = self._siblings.get(parent)
        if known is None and index >= siblings.INDEXED_FROM:
            known = self._siblings[parent] = Siblings(parent)
        return known

    def depth_of(self, el: Any) -> int:
        """How deep ``el`` sits, the root counting as one (as :data:`MAX_DEPTH` counts)."""
        return 1 + sum(1 for _ in el.iterancestors())

    # -- mutations -------------------------------------------------------------------

    def set_attribute(
        self, el: Any, key: str, value: str | None, *, prefix: str | None = None
    ) -> None:
        """Set (or with None remove) one attribute, keeping the id index true.

        ``key`` is lxml's ``{namespace}local``; a namespace not in scope at ``el`` is
        declared on the root, under ``prefix`` when that is free.
        """
        if value is not None and key.startswith("{"):
            self.bindings.bind(el, etree.QName(key).namespace, prefix)
        old = el.get(key)
        if value is not None:
            self.size_bound += self.bytes_of(escape_attr(value)) + len(key) + _SLACK
        if old is not None and el.getparent() is not None:
            self.size_bound -= len(old)  # it was written at least this long
        if el not in self.edits.attributes:
            self.edits.attributes[el] = dict(el.attrib)
        if key == "id":
            self._index_remove(el)
        if value is None:
            el.attrib.pop(key, None)
        else:
            el.set(key, value)
        if key == "id":
            self._index_add(el)

    def set_text(self, el: Any, text: str | None) -> None:
        self._resize_text(el, el.text, text)
        el.text = text
        self.edits.text.add(el)

    def set_tail(self, node: Any, tail: str | None) -> None:
        self._resize_text(node, node.tail, tail)
        node.tail = tail
        self.edits.tails.add(node)

    def _resize_text(self, node: Any, old: str | None, new: str | None) -> None:
        if new:
            self.size_bound += self.bytes_of(escape_text(new)) + len(str(node.tag)) + _SLACK
        if old and node.getparent() is not None:
            self.size_bound -= len(old)

    def bytes_of(self, text: str) -> int:
        """At least as many bytes as ``text`` takes in this file's encoding."""
        if text.isascii():
            return len(text) * self._ascii_width
        return len(text.encode(self.encoding, "xmlcharrefreplace"))

    def new_element(self, tag: str, attrib: dict[str, str] | None = None) -> Any:
        """A detached element; attach it with :meth:`insert`.

        Known namespaces get their usual prefix (lxml would make up ``ns0``), which is
        the one :meth:`insert` declares when the document has none for them yet.
        """
        names = (tag, *(attrib or {}))
        usual = {
            KNOWN_PREFIXES[ns]: ns
            for name in names
            if name.startswith("{")
            and (ns := etree.QName(name).namespace) in KNOWN_PREFIXES
            and ns != XML_NS
        }
        el = etree.Element(tag, nsmap=usual)
        for key, value in (attrib or {}).items():
            el.set(key, value)
        return el

    def insert(self, parent: Any, index: int | None, el: Any, *, before: Any = None) -> None:
        """Insert ``el`` (with its subtree) as the ``index``-th child (all nodes count;
        None: the last), or just before the child node ``before`` when it is given.
        Appending counts nothing: a flat drawing's 60k children are walked only to reach
        an index."""
        spans = self.spans  # read while the tree is still the source's
        if before is None and index is not None:
            before = self.child_node(parent, max(0, index))
        last = next(parent.iterchildren(reversed=True), None) if before is None else None
        if last is not None:
            # Appending: the new last child takes the closing indentation and the old
            # last child gets the indentation of a sibling line.
            closing = last.tail or ""
            if is_blank(closing):
                self.set_tail(last, self._indent_of(last) or closing)
                el.tail = closing
            else:
                el.tail = ""
        elif before is None:
            closing = parent.text or ""
            indent = self._child_indent(parent)
            if is_blank(closing) and "\n" in indent:
                self.set_text(parent, indent)
                if "\n" in closing:
                    el.tail = closing
                else:
                    el.tail = self._indent_of(parent) if parent.getparent() is not None else "\n"
            else:
                el.tail = ""
        else:
            el.tail = self._indent_of(before)
        if before is None:
            parent.append(el)
        else:
            before.addprevious(el)
        known = self._siblings.get(parent)
        if known is not None:
            known.inserted(el, before)
        # An empty parent written as <g/> gains an end tag.
        self.size_bound += len(str(parent.tag))
        if el in spans:
            self.bindings.keep(el)
            # Its text is the source's, which the size counts already (removals keep it).
            self.size_bound += self.bytes_of(el.tail or "") + _SLACK
        else:
            self.bindings.bind_new(el)
            fresh = writer.write_fresh(self, el, None)
            self.size_bound += self.bytes_of(fresh) + self.bytes_of(el.tail or "") + _SLACK
        self.edits.children.add(parent)
        self.edits.tails.add(el)
        for node in el.iter(etree.Element):
            self._index_add(node)

    def remove(self, el: Any) -> int:
        """Detach ``el`` with its subtree; returns its index among all child nodes."""
        parent = el.getparent()
        if parent is None:
            raise DocumentError("the root element cannot be removed")
        self.spans  # noqa: B018 -- read while the tree is still the source's
        index = self.child_index(el)[0]
        prev = el.getprevious()
        tail = el.tail
        if el.getnext() is None and is_blank(tail):
            # Keep the closing indentation of the parent, but never over mixed content:
            # text before the removed element stays.
            if prev is not None:
                if is_blank(prev.tail):
                    self.set_tail(prev, tail)
            elif is_blank(parent.text):
                self.set_text(parent, tail)
        elif tail and not is_blank(tail):
            # Mixed content: the text after the element stays in the document.
            if prev is not None:
                self.set_tail(prev, (prev.tail or "") + tail)
            else:
                self.set_text(parent, (parent.text or "") + tail)
        for node in el.iter(etree.Element):
            self._index_remove(node)
            self._siblings.pop(node, None)
        self.bindings.leaving(el, parent)
        parent.remove(el)
        known = self._siblings.get(parent)
        if known is not None:
            known.removed(el)
        self.edits.removed.append(el)
        el.tail = None
        self.edits.children.add(parent)
        return index

    def move(self, el: Any, parent: Any, index: int | None, *, before: Any = None) -> None:
        """Re-parent or reorder ``el``; refuses to put an element inside itself."""
        node = parent
        while node is not None:
            if node is el:
                raise DocumentError("an element cannot be moved inside itself")
            node = node.getparent()
        self.remove(el)
        self.insert(parent, index, el, before=before)

    # -- whitespace helpers ----------------------------------------------------------

    def _indent_of(self, node: Any) -> str:
        """The whitespace before ``node`` ("" when that is content)."""
        prev = node.getprevious()
        text = (prev.tail if prev is not None else node.getparent().text) or ""
        return text if is_blank(text) else ""

    def _child_indent(self, parent: Any) -> str:
        if parent.getparent() is None:
            return "\n  "
        own = self._indent_of(parent)
        if "\n" in own:
            return own + "  "
        return ""

    # -- writing ---------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        return bool(self.edits)

    def render(self) -> str:
        """The file text: the source with only the edited parts replaced."""
        return writer.write(self).text if self.dirty else self.source

    def to_bytes(self) -> bytes:
        return self.render().encode(self.encoding)

    def measured_size(self) -> int:
        """The file's exact size now (rendered), which :attr:`size_bound` may overstate
        (a removal counts only once the file is written); it becomes the bound."""
        self.size_bound = len(self.to_bytes())
        return self.size_bound

    def commit_render(self) -> bytes:
        """Render, and make the result the new source (after it was written out)."""
        if not self.dirty:
            return self.source.encode(self.encoding)
        w = writer.write(self)
        data = w.text.encode(self.encoding)
        self._adopt(w, data)
        return data

    def adopt_render(self, data: bytes) -> bool:
        """:meth:`commit_render` when the render is exactly ``data`` (an outside save that
        holds these very elements): rendered once, nothing parsed; False otherwise."""
        if not self.dirty:
            return self.source.encode(self.encoding) == data
        w = writer.write(self)
        if w.text.encode(self.encoding) != data:
            return False
        self._adopt(w, data)
        return True

    def _adopt(self, w: writer.Output, data: bytes) -> None:
        writer.adopt(self, w)
        self.bindings.clear()
        self.edits.clear()
        self.size_bound = len(data)

    # -- namespaces ------------------------------------------------------------------

    def scope(self, el: Any) -> dict[str | None, str]:
        """The namespace bindings in scope at ``el`` as the text (being) written has them."""
        return self.bindings.scope(el)

    # -- comparing by source text ---------------------------------------------------------

    def source_start_tag(self, el: Any) -> str | None:
        """``el``'s start tag as the source has it, while that still describes ``el``.

        None for elements added since the source was read and for elements whose
        attributes changed. Two elements with equal start tags have equal tags and
        attributes when their documents declare the same namespaces, all on the root
        (:meth:`namespaces_on_root_only`); comparing the text is much cheaper than
        reading the attributes from lxml.
        """
        if el in self.edits.attributes:
            return None
        span = self.spans.get(el)
        return None if span is None else self.source[span.start : span.stag_end]

    def namespaces_on_root_only(self) -> bool:
        """Whether the source declares namespaces on the root's start tag and nowhere else.

        Asked of a document with no edits yet; a mention of ``xmlns`` anywhere else (even
        in text) answers False, which only turns comparisons by text off.
        """
        if self.dirty:
            return False
        return self.source.find("xmlns", self.root_start_tag()[1]) < 0

    # -- whole-element text ------------------------------------------------------------

    def markup_of(self, el: Any) -> str:
        """The element's markup as it would be written now (for inverses and diffs): it
        declares every binding it uses that the root does not."""
        # Self-contained beyond the root's declarations, so that a client can read it
        # too (parse_fragment would also know the usual prefixes).
        scope = self.scope(self.root)
        span = self.spans.get(el)
        parent = el.getparent()
        inherited = self.scope(parent) if parent is not None else {}
        if span is not None and not self.dirty and inherited == scope:
            return self.source[span.start : span.end]
        return writer.write_fresh(self, el, scope)

    def fragment_scope(self) -> dict[str | None, str]:
        """The bindings :meth:`parse_fragment` declares: the root's, and the usual prefix
        of each known namespace whose prefix the root leaves free."""
        known: dict[str | None, str] = {p: u for u, p in KNOWN_PREFIXES.items() if u != XML_NS}
        return {**known, **self.scope(self.root)}

    def parse_fragment(self, markup: str) -> Any:
        """Parse one element of markup in this document's namespaces."""
        decls = " ".join(declaration(p, u) for p, u in self.fragment_scope().items())
        wrapper = f"<svgx-wrapper {decls}>{markup}</svgx-wrapper>".encode()
        if b"<!DOCTYPE" in wrapper or b"<!ENTITY" in wrapper:
            raise DocumentError("markup may not contain a DOCTYPE or entity declarations")
        try:
            holder = etree.fromstring(wrapper, _parser())
        except etree.XMLSyntaxError as exc:
            raise DocumentError(f"markup is not well-formed: {exc}") from exc
        children = [c for c in holder if is_element(c)]
        if len(children) != 1:
            raise DocumentError("markup must hold exactly one element")
        el = children[0]
        el.tail = None
        return el


_GET_ID = operator.methodcaller("get", "id")


def _index(root: Any) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The id index in document order: the first holder of each id, and every holder of
    an id held more than once."""
    # One Python object per element, none of which can be garbage yet: the collector,
    # which those allocations would start again and again over the whole heap, waits.
    paused = gc.isenabled()
    gc.disable()
    try:
        elements = list(root.iter(etree.Element))
    finally:
        if paused:
            gc.enable()
    keys = list(map(_GET_ID, elements))
    # A repeated key keeps its first place and takes the last value (fixed below).
    ids = dict(zip(keys, elements, strict=True))
    ids.pop(None, None)
    duplicates: dict[str, list[Any]] = {}
    if len(ids) != len(keys) - keys.count(None):
        holders: dict[str, list[Any]] = {}
        for key, el in zip(keys, elements, strict=True):
            if key is not None:
                holders.setdefault(key, []).append(el)
        duplicates = {key: els for key, els in holders.items() if len(els) > 1}
        for key, els in duplicates.items():
            ids[key] = els[0]
    return ids, duplicates


def element_paths(root: Any) -> dict[Any, str]:
    """Every element's ``/i/j`` position (:meth:`SvgDocument.position_of`), in one walk."""
    paths: dict[Any, str] = {root: "/"}
    for el in root.iter(etree.Element):
        prefix = paths[el].rstrip("/")
        index = 0
        for child in el:
            if is_element(child):
                paths[child] = f"{prefix}/{index}"
                index += 1
    return paths


def height(el: Any) -> int:
    """How many levels of elements ``el``'s subtree has: 1 for an element without any."""
    best = 0
    stack = [(el, 1)]
    while stack:
        node, level = stack.pop()
        best = max(best, level)
        stack.extend((c, level + 1) for c in node if is_element(c))
    return best
