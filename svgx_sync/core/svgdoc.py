"""The SVG document model: a hardened parse, an id index, and a writer that keeps bytes.

Guarantees:

* Parsing never loads a DTD, never expands an entity and never touches the network. A
  DOCTYPE without an internal subset (the usual ``<!DOCTYPE svg PUBLIC ...>``) is kept
  byte for byte and ignored; a DOCTYPE with an internal subset (where entities are
  declared) is refused with :class:`DocumentError`. Size and nesting depth are bounded.
* Every element is reachable in O(1) by its ``id``. Duplicate ids are reported in
  :attr:`SvgDocument.duplicate_ids`, never merged; the index points at the first one.
  Elements without an id are addressed by their position (``/0/3/1``: element-child
  indices from the root) and no id is ever invented for them.
* :meth:`SvgDocument.render` returns the original text with only the edited parts
  replaced. While parsing we record where every node sits in the source (its *span*); an
  untouched subtree is copied from the source, an element whose attributes changed gets
  only its start tag rewritten (unchanged attributes keep their quoting and spacing), and
  new elements are written in the indentation of their siblings. lxml's own serialiser
  rewrites every byte of a real file, which is why we do not use it for files.

* Namespaces follow the text, not lxml (whose calls move bindings around in ways the
  text does not follow): :meth:`SvgDocument.scope` is what the written file binds at an
  element. Every name the writer puts out uses a binding in that scope, and a start tag
  it rewrites keeps its declarations and adds only the ones edits brought, so no sequence
  of edits can write a prefix undeclared or declared twice. A namespace an edit brings
  in is declared once, on the root, under the prefix its source used (or its usual one,
  :data:`KNOWN_PREFIXES`, or a fresh ``nsN``) -- never a prefix bound to another
  namespace anywhere in the file, so no declaration below can shadow it.
* A file whose start tag declares one prefix twice with the same namespace (older
  releases wrote ``xmlns:svgx`` again on each constraint) is read with the repeats
  dropped; :attr:`SvgDocument.repairs` says what was repaired and a warning is logged.

All edits go through the mutation methods here (``set_attribute``, ``set_text``,
``insert``, ``remove``, ``move``) so the writer knows what changed.
"""

from __future__ import annotations

import codecs
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from ..errors import DocumentError, NotFound
from .namespaces import KNOWN_PREFIXES, XML_NS, clark

log = logging.getLogger(__name__)

DEFAULT_FILE = "document.svg"
"""The file a new document is created with, and the one an operation without ``file`` edits."""

MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 256

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


# One token of markup, dispatched on its second character. Attribute values may contain
# '>' so start tags are matched with their quoted strings (an unrolled loop with possessive
# quantifiers: several times faster in ``re`` than an alternation per character).
_TOKEN = re.compile(
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
_ATTR = re.compile(r"(\s+)([^\s=/>]+)(\s*=\s*)(?:\"([^\"]*)\"|'([^']*)')")
_ENCODING_DECL = re.compile(rb"^<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


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


def _decode(data: bytes) -> tuple[str, str]:
    """Decode the file as its XML declaration says, refusing lossy round trips."""
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    match = _ENCODING_DECL.match(data)
    encoding = match.group(1).decode("ascii").lower() if match else "utf-8"
    try:
        text = data.decode(encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise DocumentError(f"cannot decode the file as {encoding}: {exc}") from exc
    if text.encode(encoding) != data:
        raise DocumentError(f"the file does not round-trip through {encoding}")
    return text, encoding


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


def is_element(node: Any) -> bool:
    return isinstance(node.tag, str)


def is_blank(text: str | None) -> bool:
    """No text, or only whitespace (indentation)."""
    return not text or text.isspace()


_ELEMENT = etree._Element


def repair_declarations(text: str) -> tuple[str, list[str]]:
    """``text`` without the namespace declarations that repeat, in the same start tag and
    with the same namespace, one made before (files that older releases wrote).

    Returns the text and one note per repaired start tag. A prefix declared twice with
    different namespaces is left alone: nobody can tell which one was meant.
    """
    notes: list[str] = []
    parts: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[1] in "!?/":
            continue
        seen: dict[str, str] = {}
        repeats: Counter[str] = Counter()
        drop: list[tuple[int, int]] = []
        for attr in _ATTR.finditer(token):
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


def _check_doctype(text: str, end: int, name: str) -> None:
    if text[end - 1] == "[":
        raise DocumentError(
            f"{name}: a DOCTYPE with an internal subset (entity declarations) is refused"
        )


class SvgDocument:
    """One SVG file: the lxml tree, its id index and its original text."""

    def __init__(self, data: bytes, *, name: str = "document.svg") -> None:
        if len(data) > MAX_BYTES:
            raise DocumentError(f"{name}: larger than {MAX_BYTES} bytes")
        self.name = name
        text, self.encoding = _decode(data)
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
        self._load(text)

    # -- loading ---------------------------------------------------------------------

    def _load(self, text: str) -> None:
        self.source = text
        self.spans: dict[Any, Span] = {}
        self._attr_dirty: dict[Any, dict[str, str]] = {}  # element -> attributes before
        self._text_dirty: set[Any] = set()
        self._tail_dirty: set[Any] = set()
        self._struct_dirty: set[Any] = set()
        # Namespaces as the text has them (lxml's own bindings are not used for writing:
        # its calls rewrite them in ways the text does not follow).
        self._added: dict[Any, dict[str | None, str]] = {}  # declarations to write
        self._token_decls: dict[Any, dict[str | None, str]] = {}  # cache of the source's
        self._scope_before: dict[Any, dict[str | None, str]] = {}  # of removed elements
        self._removed: list[Any] = []
        self.ids: dict[str, Any] = {}
        self.duplicate_ids: dict[str, list[Any]] = {}
        self._map_spans(text)

    def _map_spans(self, text: str) -> None:
        """Pair every node of the tree with its place in ``text``, in document order.

        The id index is built in the same pass (elements come in document order, so the
        first holder of an id is the one indexed). This runs on every parse, so the loop
        is kept to a few operations per token.
        """
        name = self.name
        spans = self.spans
        ids = self.ids
        dups = self.duplicate_ids
        next_node = self.root.iter().__next__
        tokens = _TOKEN.finditer(text)
        stack: list[tuple[Any, Span]] = []  # the open elements above ``node``

        def mismatch() -> DocumentError:
            return DocumentError(f"{name}: markup does not match the parsed tree")

        # The prolog: up to the root's start tag.
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
                raise mismatch()
            try:
                node = next_node()
            except StopIteration:
                raise mismatch() from None
            if not is_element(node):
                raise mismatch()
            ident = node.get("id")
            if ident is not None:
                ids[ident] = node
            if text[end - 2] == "/":
                span = spans[node] = Span(start, end, end, end, end, end, None)
            else:
                span = spans[node] = Span(start, end, -1, end, end, -1, None)
            break
        else:
            raise mismatch()

        # The body: until the root's end tag. ``last`` is the child of ``node`` that
        # closed last; its tail runs up to whatever comes next.
        if span.text_end < 0:
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
                        break
                    node, span = stack.pop()
                    continue
                if kind == "!" or kind == "?":
                    if kind == "!" and not text.startswith("<!--", start):
                        if text.startswith("<!D", start):
                            _check_doctype(text, end, name)
                        continue  # CDATA is text
                    try:
                        child = next_node()
                    except StopIteration:
                        raise mismatch() from None
                    if is_element(child):
                        raise mismatch()
                    if span.text_end < 0:
                        span.text_end = start
                    if last is not None:
                        last.tail_end = start
                    last = spans[child] = Span(start, end, end, end, end, -1, node)
                    continue
                try:
                    child = next_node()
                except StopIteration:
                    raise mismatch() from None
                if type(child) is not _ELEMENT and not is_element(child):
                    raise mismatch()
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
                if len(stack) >= MAX_DEPTH:
                    raise DocumentError(f"{name}: nested deeper than {MAX_DEPTH}")
                span = spans[child] = Span(start, end, -1, end, end, -1, node)
                node = child
            else:
                raise mismatch()

        # The epilog: comments and processing instructions only.
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
        raise mismatch()

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
            el = self.root
            for part in address.strip("/").split("/") if address.strip("/") else []:
                if not part.isdigit():
                    return None
                children = [c for c in el if is_element(c)]
                index = int(part)
                if index >= len(children):
                    return None
                el = children[index]
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
            parts.append(str([c for c in parent if is_element(c)].index(node)))
            node = parent
        return "/" + "/".join(reversed(parts))

    def elements(self) -> Iterator[Any]:
        return self.root.iter(etree.Element)

    # -- mutations -------------------------------------------------------------------

    def set_attribute(
        self, el: Any, key: str, value: str | None, *, prefix: str | None = None
    ) -> None:
        """Set (or with None remove) one attribute, keeping the id index true.

        ``key`` is lxml's ``{namespace}local``; a namespace not in scope at ``el`` is
        declared on the root, under ``prefix`` when that is free.
        """
        if value is not None and key.startswith("{"):
            self._bind(el, etree.QName(key).namespace, prefix)
        if el not in self._attr_dirty:
            self._attr_dirty[el] = dict(el.attrib)
        if key == "id":
            self._index_remove(el)
        if value is None:
            el.attrib.pop(key, None)
        else:
            el.set(key, value)
        if key == "id":
            self._index_add(el)

    def set_text(self, el: Any, text: str | None) -> None:
        el.text = text
        self._text_dirty.add(el)

    def set_tail(self, node: Any, tail: str | None) -> None:
        node.tail = tail
        self._tail_dirty.add(node)

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

    def insert(self, parent: Any, index: int, el: Any) -> None:
        """Insert ``el`` (with its subtree) as the ``index``-th child (all nodes count)."""
        children = list(parent)
        index = max(0, min(index, len(children)))
        if index == len(children) and children:
            # Appending: the new last child takes the closing indentation and the old
            # last child gets the indentation of a sibling line.
            closing = children[-1].tail or ""
            if is_blank(closing):
                self.set_tail(children[-1], self._indent_of(children[-1]) or closing)
                el.tail = closing
            else:
                el.tail = ""
        elif index == len(children):
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
            el.tail = self._indent_before(parent, index)
        parent.insert(index, el)
        if el in self.spans:
            self._keep_bindings(el)
        else:
            self._bind_new(el)
        self._struct_dirty.add(parent)
        self._tail_dirty.add(el)
        for node in el.iter(etree.Element):
            self._index_add(node)

    def remove(self, el: Any) -> int:
        """Detach ``el`` with its subtree; returns its index among all child nodes."""
        parent = el.getparent()
        if parent is None:
            raise DocumentError("the root element cannot be removed")
        children = list(parent)
        index = children.index(el)
        tail = el.tail
        if index == len(children) - 1 and is_blank(tail):
            # Keep the closing indentation of the parent, but never over mixed content:
            # text before the removed element stays.
            if index > 0:
                if is_blank(children[index - 1].tail):
                    self.set_tail(children[index - 1], tail)
            elif is_blank(parent.text):
                self.set_text(parent, tail)
        elif tail and not is_blank(tail):
            # Mixed content: the text after the element stays in the document.
            if index > 0:
                prev = children[index - 1]
                self.set_tail(prev, (prev.tail or "") + tail)
            else:
                self.set_text(parent, (parent.text or "") + tail)
        for node in el.iter(etree.Element):
            self._index_remove(node)
        self._scope_before[el] = self.scope(parent)
        parent.remove(el)
        self._removed.append(el)
        el.tail = None
        self._struct_dirty.add(parent)
        return index

    def move(self, el: Any, parent: Any, index: int) -> None:
        """Re-parent or reorder ``el``; refuses to put an element inside itself."""
        node = parent
        while node is not None:
            if node is el:
                raise DocumentError("an element cannot be moved inside itself")
            node = node.getparent()
        self.remove(el)
        self.insert(parent, index, el)

    # -- namespaces ------------------------------------------------------------------

    def scope(self, el: Any) -> dict[str | None, str]:
        """The namespace bindings in scope at ``el`` as the text (being) written has them:
        the declarations of its start tag and its ancestors', with those edits added."""
        chain = [el, *el.iterancestors()]
        out: dict[str | None, str] = {}
        for node in reversed(chain):
            out.update(self._declarations(node))
        return out

    def _declarations(self, el: Any) -> dict[str | None, str]:
        """What ``el``'s start tag declares: its source's, and those added by edits."""
        own = self._token_decls.get(el)
        if own is None:
            span = self.spans.get(el)
            own = {} if span is None else _declared(self.source[span.start : span.stag_end])
            self._token_decls[el] = own
        added = self._added.get(el)
        return {**own, **added} if added else own

    def _bind(self, el: Any, ns: str | None, hint: str | None, *, tag: bool = False) -> None:
        """Make ``ns`` usable at ``el`` by a prefix (for a ``tag`` the default namespace
        does too): when it is not in scope, it is declared on the root under a prefix
        that binds nothing else anywhere in the file, so that no declaration below can
        shadow it."""
        if ns is None or ns == XML_NS:
            return
        if any(u == ns and (p is not None or tag) for p, u in self.scope(el).items()):
            return
        bound = self._all_bindings()
        prefix = _free_prefix(ns, hint, bound)
        self._added.setdefault(self.root, {})[prefix] = ns
        self._attr_dirty.setdefault(self.root, dict(self.root.attrib))

    def _all_bindings(self) -> dict[str, set[str]]:
        """prefix -> the namespaces it is bound to anywhere in the text being written."""
        bound: dict[str, set[str]] = {}
        for match in _DECLARATION.finditer(self.source):
            if match.group(1):
                bound.setdefault(match.group(1), set()).add(match.group(2) or match.group(3) or "")
        for decls in self._added.values():
            for p, u in decls.items():
                if p is not None:
                    bound.setdefault(p, set()).add(u)
        return bound

    def _bind_new(self, el: Any) -> None:
        """Bind the names of a new subtree where it now sits.

        An element in a default namespace other than the one in scope declares it itself
        (as its source did); any other namespace missing is declared on the root, under
        the prefix the subtree's source used for it. Elements inside that the file
        already has keep their text and their bindings (:meth:`_keep_bindings`).
        """
        pending = [el]
        while pending:
            node = pending.pop()
            if node is not el and node in self.spans:
                continue
            self._added.pop(node, None)
            ns = etree.QName(node).namespace
            scope = self.scope(node)
            if ns is not None and ns != XML_NS:
                if scope.get(None) != ns and not any(p and u == ns for p, u in scope.items()):
                    if node.prefix is None:
                        self._added[node] = {None: ns}
                    else:
                        self._bind(node, ns, node.prefix, tag=True)
            elif ns is None and scope.get(None):
                self._added[node] = {None: ""}  # xmlns="": in no namespace
            for key in node.attrib:
                if key.startswith("{"):
                    ans = etree.QName(key).namespace
                    hint = next((p for p, u in node.nsmap.items() if p and u == ans), None)
                    self._bind(node, ans, hint)
            pending.extend(c for c in reversed(node) if is_element(c))

    def _keep_bindings(self, el: Any) -> None:
        """A spanned element back in the tree (moved, or a removal undone): its text was
        written for the bindings it had; those the new place lacks go on its start tag."""
        before = self._scope_before.get(el)
        if before is None:
            return
        own = self._declarations(el)
        parent = el.getparent()
        now = self.scope(parent) if parent is not None else {}
        missing = {p: u for p, u in before.items() if p not in own and now.get(p) != u}
        if None in now and None not in before and None not in own:
            missing[None] = ""
        if missing:
            self._added.setdefault(el, {}).update(missing)
            self._attr_dirty.setdefault(el, dict(el.attrib))

    # -- whitespace helpers ----------------------------------------------------------

    def _indent_before(self, parent: Any, index: int) -> str:
        """The whitespace before the ``index``-th child node ("" when that is content)."""
        text = (parent[index - 1].tail if index > 0 else parent.text) or ""
        return text if is_blank(text) else ""

    def _indent_of(self, node: Any) -> str:
        parent = node.getparent()
        return self._indent_before(parent, parent.index(node))

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
        return bool(self._attr_dirty or self._text_dirty or self._tail_dirty or self._struct_dirty)

    def render(self) -> str:
        """The file text: the source with only the edited parts replaced."""
        return self._write().text if self.dirty else self.source

    def _write(self) -> _Writer:
        touched: set[Any] = set()
        for el in (*self._attr_dirty, *self._text_dirty, *self._struct_dirty):
            self._touch(el, touched)
        for node in self._tail_dirty:
            parent = node.getparent()
            if parent is not None:
                self._touch(parent, touched)
        root_span = self.spans[self.root]
        w = _Writer()
        w.add(self.source[: root_span.start])
        self._render(self.root, touched, w, None)
        w.tail_ends[self.root] = w.pos
        w.add(self.source[root_span.end :])
        w.text = "".join(w.parts)
        return w

    def to_bytes(self) -> bytes:
        return self.render().encode(self.encoding)

    def commit_render(self) -> bytes:
        """Render, and make the result the new source (after it was written out).

        The spans are moved along with the text instead of re-read from it: untouched
        subtrees shift by a constant, rewritten nodes got their new spans while written.
        """
        if not self.dirty:
            return self.source.encode(self.encoding)
        w = self._write()
        spans = self.spans
        for node in self._removed:
            if node not in w.spans and node not in w.parents:
                for d in node.iter():
                    spans.pop(d, None)
        for node, delta in w.shifts:
            if delta:
                for d in node.iter():
                    sp = spans[d]
                    sp.start += delta
                    sp.stag_end += delta
                    sp.text_end += delta
                    sp.etag_start += delta
                    sp.end += delta
                    sp.tail_end += delta
        spans.update(w.spans)
        for node, parent in w.parents.items():
            spans[node].parent = parent
        for node, pos in w.tail_ends.items():
            spans[node].tail_end = pos
        self.source = w.text
        self._clear_marks()
        return w.text.encode(self.encoding)

    def _clear_marks(self) -> None:
        self._added.clear()
        self._token_decls.clear()
        self._scope_before.clear()
        self._attr_dirty.clear()
        self._text_dirty.clear()
        self._tail_dirty.clear()
        self._struct_dirty.clear()
        self._removed.clear()

    def _touch(self, el: Any, touched: set[Any]) -> None:
        node = el
        while node is not None and node not in touched:
            touched.add(node)
            node = node.getparent()

    def _render(self, node: Any, touched: set[Any], w: _Writer, parent: Any) -> None:
        span = self.spans.get(node)
        if span is None:
            self._render_fresh(node, w, parent)
            return
        if node not in touched:
            w.shifts.append((node, w.pos - span.start))
            w.add(self.source[span.start : span.end])
            return
        src = self.source
        start = w.pos
        self_closing = span.etag_start == span.end and span.stag_end == span.end
        has_content = len(node) > 0 or bool(node.text)
        stag = (
            self._start_tag(node, span)
            if node in self._attr_dirty
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
        if node in self._text_dirty or self_closing:
            w.add(escape_text(node.text))
        else:
            w.add(src[span.stag_end : span.text_end])
        text_end = w.pos
        for child in node:
            self._render(child, touched, w, node)
            w.parents[child] = node
            cspan = self.spans.get(child)
            if cspan is None or child in self._tail_dirty or cspan.parent is not node:
                w.add(escape_text(child.tail))
            else:
                w.add(src[cspan.end : cspan.tail_end])
            w.tail_ends[child] = w.pos
        etag_start = w.pos
        if self_closing:
            w.add(f"</{self._qname(node, node.tag)}>")
        else:
            w.add(src[span.etag_start : span.end])
        w.spans[node] = Span(start, stag_end, text_end, etag_start, w.pos, -1, parent)

    def _start_tag(self, el: Any, span: Span) -> str:
        """Rewrite only the changed attributes of an original start tag."""
        token = self.source[span.start : span.stag_end]
        before = self._attr_dirty[el]
        current = dict(el.attrib)
        match = re.match(r"<[^\s/>]+", token)
        assert match is not None
        parts = [match.group()]
        pos = match.end()
        seen: set[str] = set()
        declared: set[str | None] = set()
        last_ws = " "
        nsmap = self.scope(el)
        for attr in _ATTR.finditer(token, pos):
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
        for prefix, ns in self._added.get(el, {}).items():
            if prefix not in declared:
                parts.append(last_ws + _declaration(prefix, ns))
        for key, value in current.items():
            if key not in seen:
                parts.append(f'{last_ws}{self._qname(el, key, attr=True)}="{escape_attr(value)}"')
        rest = token[pos:]
        parts.append(rest)
        return "".join(parts)

    def _qname(self, el: Any, key: str, *, attr: bool = False) -> str:
        """The prefixed name for lxml's ``key`` at ``el``, by a binding in scope there (which
        the text declares too): the default namespace for elements, else the usual
        prefix, else any other prefix bound to it."""
        if not key.startswith("{"):
            return key
        qn = etree.QName(key)
        ns, local = qn.namespace, qn.localname
        if ns == XML_NS:
            return f"xml:{local}"
        nsmap = self.scope(el)
        if not attr and nsmap.get(None) == ns:
            return local
        usual = KNOWN_PREFIXES.get(ns) if ns is not None else None
        if usual is not None and nsmap.get(usual) == ns:
            return f"{usual}:{local}"
        for prefix, uri in nsmap.items():
            if uri == ns and prefix is not None:
                return f"{prefix}:{local}"
        raise DocumentError(f"{self.name}: no prefix in scope for {key} (a bug: not written)")

    def _render_fresh(
        self, node: Any, w: _Writer, parent: Any, outer: dict[str | None, str] | None = None
    ) -> None:
        """Write a new node in the document's own prefixes."""
        start = w.pos
        if not is_element(node):
            if isinstance(node, etree._Comment):
                w.add(f"<!--{node.text or ''}-->")
            elif isinstance(node, etree._ProcessingInstruction):
                w.add(f"<?{node.target} {node.text or ''}?>")
            w.spans[node] = Span(start, w.pos, w.pos, w.pos, w.pos, -1, parent)
            return
        name = self._qname(node, node.tag)
        # Exactly the bindings the tree makes here (new subtrees were adopted on insert,
        # so usually none); ``outer`` is the scope a fragment's reader will declare.
        own = self._declarations(node)
        if outer is not None:  # the top of a fragment: what its reader will not declare
            own = {**{p: u for p, u in self.scope(node).items() if outer.get(p) != u}, **own}
        decls = "".join(" " + _declaration(p, u) for p, u in own.items())
        attrs = decls + "".join(
            f' {self._qname(node, k, attr=True)}="{escape_attr(v)}"' for k, v in node.attrib.items()
        )
        if len(node) == 0 and not node.text:
            w.add(f"<{name}{attrs}/>")
            w.spans[node] = Span(start, w.pos, w.pos, w.pos, w.pos, -1, parent)
            return
        w.add(f"<{name}{attrs}>")
        stag_end = w.pos
        w.add(escape_text(node.text))
        text_end = w.pos
        for child in node:
            self._render_fresh(child, w, node)
            w.parents[child] = node
            w.add(escape_text(child.tail))
            w.tail_ends[child] = w.pos
        etag_start = w.pos
        w.add(f"</{name}>")
        w.spans[node] = Span(start, stag_end, text_end, etag_start, w.pos, -1, parent)

    # -- comparing by source text ---------------------------------------------------------

    def source_start_tag(self, el: Any) -> str | None:
        """``el``'s start tag as the source has it, while that still describes ``el``.

        None for elements added since the source was read and for elements whose
        attributes changed. Two elements with equal start tags have equal tags and
        attributes when their documents declare the same namespaces, all on the root
        (:meth:`namespaces_on_root_only`); comparing the text is much cheaper than
        reading the attributes from lxml.
        """
        if el in self._attr_dirty:
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
        return self.source.find("xmlns", self.spans[self.root].stag_end) < 0

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
        w = _Writer()
        self._render_fresh(el, w, el.getparent(), scope)
        return "".join(w.parts)

    def fragment_scope(self) -> dict[str | None, str]:
        """The bindings :meth:`parse_fragment` declares: the root's, and the usual prefix
        of each known namespace whose prefix the root leaves free."""
        known: dict[str | None, str] = {p: u for u, p in KNOWN_PREFIXES.items() if u != XML_NS}
        return {**known, **self.scope(self.root)}

    def parse_fragment(self, markup: str) -> Any:
        """Parse one element of markup in this document's namespaces."""
        decls = " ".join(_declaration(p, u) for p, u in self.fragment_scope().items())
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


def _declaration(prefix: str | None, ns: str) -> str:
    return f'xmlns{":" + prefix if prefix else ""}="{escape_attr(ns)}"'


_DECLARATION = re.compile(r"""\sxmlns(?::([^\s=/>]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _declared(start_tag: str) -> dict[str | None, str]:
    """The namespace declarations of one start tag (references left as written)."""
    return {
        m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _DECLARATION.finditer(start_tag)
    }


_NCNAME = re.compile(r"^[A-Za-z_][\w.\-]*$")


def _free_prefix(ns: str, hint: str | None, bound: dict[str, set[str]]) -> str:
    """A prefix for ``ns`` that binds nothing else anywhere in the document: ``hint``, the
    usual one, or ``ns1``, ``ns2``..."""

    def free(p: str | None) -> bool:
        return (
            p is not None
            and bool(_NCNAME.match(p))
            and not p.lower().startswith("xml")
            and bound.get(p, {ns}) == {ns}
        )

    elsewhere = sorted(p for p, uris in bound.items() if ns in uris)
    for candidate in (hint, KNOWN_PREFIXES.get(ns), *elsewhere):
        if free(candidate):
            return candidate  # type: ignore[return-value]
    n = 1
    while not free(f"ns{n}"):
        n += 1
    return f"ns{n}"


class _Writer:
    """Output text being written, with the new span of every node written so far."""

    __slots__ = ("parents", "parts", "pos", "shifts", "spans", "tail_ends", "text")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.text = ""
        self.spans: dict[Any, Span] = {}  # rewritten and new nodes
        self.shifts: list[tuple[Any, int]] = []  # untouched subtrees copied, and by how much
        self.parents: dict[Any, Any] = {}
        self.tail_ends: dict[Any, int] = {}

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += len(text)
