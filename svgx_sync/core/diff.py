"""Element-level differences between two versions of an SVG file, as operations.

Guarantees:

* :func:`diff_trees` returns operations that, applied in order to a parse of the old
  document, give a document whose elements (tag, attributes, non-blank text and tails,
  order) equal the new one's. Formatting alone (quotes, attribute order, indentation,
  namespace declarations, line endings) yields no operation.
* Elements are matched by ``id``; elements without one (and the second and later
  holders of a duplicated id) are matched by position among the unmatched such children
  of their matched parent that have the same tag. No element is ever lost: an element
  that moves out of a deleted one is moved before its old container goes.
* The order applies cleanly: deletes of whole removed subtrees first (reverse document
  order, so positional addresses stay valid), then the new tree in document order
  (``create`` and ``move``), then the deletes that had to wait for their contents to move
  out, then one ``update`` per changed element (attributes, text, tail).
* Pure: values in, values out. The old document given to :func:`diff_trees` is not
  changed.

Addresses follow :mod:`svgx_sync.core.svgdoc`: an element is named by its ``id`` when that id
is unambiguous in both versions, otherwise by its ``/i/j`` position at the moment the
operation applies.

Two pseudo-kinds describe whole files and are not :class:`~svgx_sync.core.ops.Operation`\\ s:
``{"operation_type": "file_add", "file": f, "data": {"markup": text}}`` and
``{"operation_type": "file_delete", "file": f}``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from lxml import etree

from ..errors import OperationError
from .namespaces import KNOWN_PREFIXES, XML_NS, attribute_key
from .ops import (
    Operation,
    OperationType,
    apply_operation,
    coerce_operation,
)
from .regions import WORTH_FROM, regions_diff
from .svgdoc import SvgDocument
from .xmltext import ID_RE, decode, escape_attr, escape_text, is_blank, is_element

__all__ = [
    "FILE_ADD",
    "FILE_DELETE",
    "FILE_OPERATIONS",
    "SweepingChange",
    "diff_documents",
    "diff_trees",
    "match_elements",
    "summarise",
]

FILE_ADD = "file_add"
FILE_DELETE = "file_delete"
FILE_OPERATIONS = frozenset({FILE_ADD, FILE_DELETE})
"""Entries that add or remove a whole file; they carry ``file`` and no ``element_id``."""

_STRUCTURAL = frozenset({OperationType.CREATE, OperationType.DELETE, OperationType.MOVE})


class SweepingChange(Exception):
    """The change needs more element placements than the caller allows (``most_placed``):
    each one walks its parent's children, so a rewrite of most of a big file is cheaper
    taken whole than as operations."""


DIFF_USER = "svgx-diff"
"""``user_id`` of the operations :func:`diff_trees` makes (an Operation needs one)."""


def diff_documents(
    old: bytes | None,
    new: bytes | None,
    file: str,
    *,
    new_read: bool = False,
    most_placed: int | None = None,
) -> list[dict[str, Any]]:
    """The changes from ``old`` to ``new`` (None: the file is absent) as plain dicts.

    Each dict is ``{"operation_type", "element_id", "data", "file"}``; add a ``user_id``
    and :func:`~svgx_sync.core.ops.coerce_operation` accepts it. A whole file added or removed
    is one ``file_add`` / ``file_delete`` pseudo-operation. Raises
    :class:`~svgx_sync.errors.DocumentError` when either version cannot be parsed.
    ``new_read``: expat has read ``new`` whole already (:func:`.intake.screen_svg`).
    ``most_placed``: raise :class:`SweepingChange` rather than give more ``create``,
    ``delete`` and ``move`` operations than that (the work stops there).
    """
    if old == new:
        return []
    if old is None:
        assert new is not None
        return [{"operation_type": FILE_ADD, "file": file, "data": {"markup": decode(new)[0]}}]
    if new is None:
        return [{"operation_type": FILE_DELETE, "file": file}]
    ops = None
    if len(new) >= WORTH_FROM:
        ops = regions_diff(
            old,
            new,
            file,
            lambda a, b: _Differ(a, b, file, DIFF_USER, most_placed=most_placed),
            new_read=new_read,
        )
        if most_placed is not None and ops is not None:
            if sum(op.operation_type in _STRUCTURAL for op in ops) > most_placed:
                raise SweepingChange(f"more than {most_placed} elements placed")
    if ops is None:
        ops = _complete_diff(old, new, file, most_placed=most_placed)
    return [_as_dict(op) for op in ops]


def _complete_diff(
    old: bytes, new: bytes, file: str, *, most_placed: int | None = None
) -> list[Operation]:
    """:func:`diff_documents` with both versions parsed whole (no shortcut by text)."""
    old_doc = SvgDocument(old, name=file)
    new_doc = SvgDocument(new, name=file)
    # The old parse is ours alone, so it serves as the working copy.
    return _Differ(old_doc, new_doc, file, DIFF_USER, most_placed=most_placed).run()


def diff_trees(
    old_doc: SvgDocument, new_doc: SvgDocument, file: str | None = None, *, user_id: str = DIFF_USER
) -> list[Operation]:
    """The operations that turn ``old_doc``'s elements into ``new_doc``'s."""
    work = SvgDocument(old_doc.render().encode(old_doc.encoding), name=old_doc.name)
    return _Differ(work, new_doc, file, user_id).run()


def match_elements(old_doc: SvgDocument, new_doc: SvgDocument) -> dict[Any, Any]:
    """new element -> the old element it is (the matching :func:`diff_trees` uses);
    an element of either version left out was added or removed. Neither tree changes."""
    differ = _Differ(old_doc, new_doc, None, DIFF_USER)
    differ._match()
    return differ.match


def _as_dict(op: Operation) -> dict[str, Any]:
    return {
        "operation_type": op.operation_type.value,
        "element_id": op.element_id,
        "data": op.data,
        "file": op.file,
    }


# -- matching ----------------------------------------------------------------------------


def _elements(root: Any) -> Iterator[Any]:
    return root.iter(etree.Element)  # type: ignore[no-any-return]


def _element_children(el: Any) -> list[Any]:
    if not len(el):  # most elements are leaves: skip building an iterator
        return []
    return [c for c in el if is_element(c)]


def _with_ids(root: Any) -> list[tuple[Any, str | None]]:
    """Every element in document order with its id, read once per diff."""
    return [(el, el.get("id")) for el in _elements(root)]


def _keyed(root: Any, elements: list[tuple[Any, str | None]]) -> dict[str, Any]:
    """id -> the first element (in document order) that holds it; the root is left out."""
    first: dict[str, Any] = {}
    for el, ident in elements:
        if ident is not None and ident not in first and el is not root:
            first[ident] = el
    return first


def _local(el: Any) -> str:
    return str(etree.QName(el).localname)


class _Differ:
    """One diff: matches the trees, then replays the changes on ``work`` as it goes.

    ``work`` starts as a parse of the old version and ends equal to the new one; reading
    it (rather than reasoning about it) is what keeps positions and tails right.
    """

    def __init__(
        self,
        work: SvgDocument,
        new: SvgDocument,
        file: str | None,
        user: str,
        *,
        most_placed: int | None = None,
    ) -> None:
        self.work = work
        self.placements_left = most_placed
        self.new = new
        self.file = file
        self.user = user
        self.ops: list[Operation] = []
        self.match: dict[Any, Any] = {}  # new element -> old (working) element
        self.matched_old: set[Any] = set()
        self.placed: dict[Any, Any] = {}  # new element -> its working element
        self.last_placed: dict[Any, Any] = {}  # working parent -> last child put in place
        self.new_index: dict[Any, int] = {}
        self.new_paths: dict[Any, str] = {}
        self.deferred: list[Any] = []  # removed elements that had to wait for their contents
        # Markup declares what the old root does not, so that clients can read it as is.
        self._fragment_ns: dict[str | None, str] = work.scope(work.root)
        # Unchanged elements are recognised by their start tags as text (the common case
        # by far), which needs no attribute to be read from lxml.
        # The root's bindings first: telling where else namespaces are declared maps
        # each whole source.
        self._by_text = (
            work.root.nsmap == new.root.nsmap
            and work.namespaces_on_root_only()
            and new.namespaces_on_root_only()
        )
        self._old_elements = _with_ids(work.root)
        self._new_elements = _with_ids(new.root)

    def _same_start_tag(self, old_el: Any, new_el: Any) -> bool:
        """Whether both elements come from byte-identical start tags (so equal tag and
        attributes); False when that cannot be told from the source."""
        if not self._by_text or new_el is self.new.root:
            return False
        old_tag = self.work.source_start_tag(old_el)
        return old_tag is not None and old_tag == self.new.source_start_tag(new_el)

    # -- the steps -------------------------------------------------------------------

    def run(self) -> list[Operation]:
        self._match()
        self._safe_ids()
        deferred = self.deferred = self._delete_removed()
        self._walk()
        self._delete_deferred(deferred)
        self._update_content()
        return self.ops

    def _match(self) -> None:
        old_root, new_root = self.work.root, self.new.root
        old_keyed = _keyed(old_root, self._old_elements)
        new_keyed = _keyed(new_root, self._new_elements)
        self.old_keyed = set(old_keyed.values())
        self.new_keyed = set(new_keyed.values())
        self._pair(new_root, old_root)
        for ident, new_el in new_keyed.items():
            old_el = old_keyed.get(ident)
            if old_el is not None and self._compatible(old_el, new_el):
                self._pair(new_el, old_el)
        # Positional matching, top-down from every matched pair (the list grows).
        pending = list(self.match.items())
        while pending:
            new_el, old_el = pending.pop()
            if not len(new_el) or not len(old_el):
                continue  # no children to pair
            old_free: dict[Any, list[Any]] = {}
            for child in _element_children(old_el):
                if child not in self.old_keyed and child not in self.matched_old:
                    old_free.setdefault(child.tag, []).append(child)
            if not old_free:
                continue
            taken: dict[Any, int] = {}
            for child in _element_children(new_el):
                if child in self.new_keyed or child in self.match:
                    continue
                tag = child.tag
                candidates = old_free.get(tag, [])
                n = taken.get(tag, 0)
                if n < len(candidates):
                    taken[tag] = n + 1
                    if self._compatible(candidates[n], child):
                        self._pair(child, candidates[n])
                        pending.append((child, candidates[n]))

    def _pair(self, new_el: Any, old_el: Any) -> None:
        self.match[new_el] = old_el
        self.matched_old.add(old_el)

    def _compatible(self, old_el: Any, new_el: Any) -> bool:
        """Can ``old_el`` become ``new_el`` by updates alone? (Any attribute can be set:
        one in a namespace the old version lacks travels with ``data.namespaces``.)"""
        return bool(old_el.tag == new_el.tag)

    def _safe_ids(self) -> None:
        """Ids that name one and the same element in both versions (or one side only)."""
        old_count = Counter(ident for _el, ident in self._old_elements if ident)
        new_count = Counter(ident for _el, ident in self._new_elements if ident)
        self.safe: set[str] = set()
        for ident in old_count.keys() | new_count.keys():
            if old_count[ident] > 1 or new_count[ident] > 1 or not ID_RE.match(ident):
                continue
            self.safe.add(ident)
        for new_el, new_id in self._new_elements:
            if new_id in self.safe and old_count[new_id]:
                old_el = self.match.get(new_el)
                if old_el is None or old_el.get("id") != new_id:
                    self.safe.discard(new_id)
        for root_id in (self.work.root.get("id"), self.new.root.get("id")):
            if root_id is not None:
                self.safe.discard(root_id)

    def _delete_removed(self) -> list[Any]:
        """Delete removed subtrees that hold nothing kept; return the ones that must wait."""
        doomed: list[Any] = []
        deferred: list[Any] = []
        for el in _elements(self.work.root):
            if el in self.matched_old or el.getparent() not in self.matched_old:
                continue
            if any(d in self.matched_old for d in _elements(el)):
                deferred.append(el)
            else:
                doomed.append(el)
        # Reverse document order: removing a later element never shifts an earlier one.
        for el in reversed(doomed):
            self._emit(OperationType.DELETE, self._work_address(el), {})
            self.work.remove(el)
        return deferred

    def _walk(self, parent: Any | None = None) -> None:
        """Place the children of ``parent`` (default: the root) in document order."""
        if parent is None:
            parent = self.new.root
            self.placed[parent] = self.work.root
        work_parent = self.placed[parent]
        children = _element_children(parent)
        for index, child in enumerate(children):
            self.new_index[child] = index
        for index, child in enumerate(children):
            if self._place(child, parent, work_parent, index) and len(child):
                self._walk(child)

    def _place(self, child: Any, parent: Any, work_parent: Any, index: int) -> bool:
        """Put ``child`` in place in ``work``; returns whether its children need a walk."""
        old = self.match.get(child)
        if old is not None:
            if not (
                old.getparent() is work_parent
                and _previous_element(old) is self.last_placed.get(work_parent)
            ):
                self._emit(
                    OperationType.MOVE,
                    self._work_address(old),
                    {"parent": self._new_address(parent), "index": index},
                )
                self.work.move(old, work_parent, None, before=self._next_place(work_parent))
            self.placed[child] = old
            self.last_placed[work_parent] = old
            return True
        whole = self._can_create_whole(child)
        markup = self._markup(child, whole=whole)
        ident = child.get("id")
        element_id = ident if ident in self.safe else self._new_address(child)
        self._emit(
            OperationType.CREATE,
            element_id,
            {"markup": markup, "parent": self._new_address(parent), "index": index},
        )
        made = self.work.parse_fragment(markup)
        self.work.insert(work_parent, None, made, before=self._next_place(work_parent))
        self.placed[child] = made
        self.last_placed[work_parent] = made
        if whole:
            for new_el, work_el in zip(_elements(child), _elements(made), strict=True):
                self.placed[new_el] = work_el
            return False
        return True

    def _next_place(self, work_parent: Any) -> Any:
        """The element the next child of ``work_parent`` goes before (None: at the end).

        Children are put in place in order, so those placed so far come first: the next
        one goes right after the last placed, before whatever element follows it. Found
        from there, not by counting (an index would walk all the children before it)."""
        last = self.last_placed.get(work_parent)
        if last is None:
            return next(work_parent.iterchildren(etree.Element), None)
        return next(last.itersiblings(etree.Element), None)

    def _can_create_whole(self, el: Any) -> bool:
        """A subtree can be created in one piece when nothing in it already exists."""
        for node in _elements(el):
            if node in self.match:
                return False
            ident = node.get("id")
            if node is not el and ident is not None and ident in self.work.ids:
                return False
        return True

    def _delete_deferred(self, deferred: list[Any]) -> None:
        located = [(self._work_path(el), el) for el in deferred]
        located.sort(key=lambda item: item[0], reverse=True)
        for _path, el in located:
            self._emit(OperationType.DELETE, self._work_address(el), {})
            self.work.remove(el)

    def _update_content(self) -> None:
        new_root = self.new.root
        placed = self.placed
        for new_el, _ident in self._new_elements:
            work_el = placed[new_el]
            data: dict[str, Any] = {}
            if not self._same_start_tag(work_el, new_el):
                attributes, bindings = self._attribute_changes(work_el, new_el)
                if attributes:
                    data["attributes"] = attributes
                if bindings:
                    data["namespaces"] = bindings
            old_text, new_text = work_el.text, new_el.text
            if old_text != new_text and not (is_blank(old_text) and is_blank(new_text)):
                data["text"] = new_text or ""
            if new_el is not new_root:
                old_tail, new_tail = work_el.tail, new_el.tail
                if old_tail != new_tail and not (is_blank(old_tail) and is_blank(new_tail)):
                    data["tail"] = new_tail or ""
            if data:
                self._emit(OperationType.UPDATE, self._new_address(new_el), data)

    def _attribute_changes(
        self, work_el: Any, new_el: Any
    ) -> tuple[dict[str, str | None], dict[str, str]]:
        """The changed attributes by wire name, and the ``namespaces`` those names need."""
        attributes: dict[str, str | None] = {}
        bindings: dict[str, str] = {}
        if work_el.items() == new_el.items():
            return attributes, bindings  # the same, in the same order: read once, in C
        old_attrib, new_attrib = work_el.attrib, new_el.attrib
        changed = [
            (key, value) for key, value in new_attrib.items() if old_attrib.get(key) != value
        ]
        gone = [key for key in old_attrib if key not in new_attrib]
        if not (changed or gone):
            return attributes, bindings  # laid out otherwise, the same attributes
        # The bindings in scope name only namespaced attributes (and cost a walk up).
        namespaced = any(key[0] == "{" for key, _ in changed) or any(key[0] == "{" for key in gone)
        work_scope = self.work.scope(work_el) if namespaced else {}
        for key, value in changed:
            attributes[_wire_name(key, work_scope, new_el.nsmap, bindings)] = value
        for key in gone:
            attributes[_wire_name(key, work_scope, None, bindings)] = None
        return attributes, bindings

    # -- names and addresses -----------------------------------------------------------

    def _emit(self, kind: OperationType, element_id: str, data: dict[str, Any]) -> None:
        if self.placements_left is not None and kind in _STRUCTURAL:
            if not self.placements_left:
                raise SweepingChange("more elements placed than allowed")
            self.placements_left -= 1
        self.ops.append(
            Operation(
                operation_type=kind,
                user_id=self.user,
                element_id=element_id,
                data=data,
                file=self.file,
            )
        )

    def _new_address(self, el: Any) -> str:
        """Address of a new-tree element already in place in ``work``."""
        ident = el.get("id")
        if ident is not None and ident in self.safe and el is not self.new.root:
            return str(ident)
        return self._new_path(el)

    def _new_path(self, el: Any) -> str:
        path = self.new_paths.get(el)
        if path is None:
            parent = el.getparent()
            if parent is None:
                path = "/"
            else:
                index = self.new_index.get(el)
                if index is None:
                    index = _element_children(parent).index(el)
                prefix = self._new_path(parent)
                path = f"{prefix.rstrip('/')}/{index}"
            self.new_paths[el] = path
        return path

    def _work_address(self, el: Any) -> str:
        """Address of an element of ``work`` as it stands now."""
        ident = el.get("id")
        if ident is not None and ident in self.safe:
            return str(ident)
        parts = self._work_path(el)
        return "/" + "/".join(str(p) for p in parts)

    def _work_path(self, el: Any) -> tuple[int, ...]:
        parts: list[int] = []
        node = el
        while True:
            parent = node.getparent()
            if parent is None:
                break
            n = 0
            sibling = node.getprevious()
            while sibling is not None:
                if is_element(sibling):
                    n += 1
                sibling = sibling.getprevious()
            parts.append(n)
            node = parent
        return tuple(reversed(parts))

    # -- markup for created elements --------------------------------------------------

    def _markup(self, el: Any, *, whole: bool) -> str:
        """``el`` as markup that ``work.parse_fragment`` reads back to the same element.

        Names are written with the old root's prefixes; any other namespace is declared
        where it is first used, under the new version's prefix.
        """
        out: list[str] = []
        _serialise(el, dict(self._fragment_ns), out, whole=whole)
        return "".join(out)


def _wire_name(
    key: str,
    work_scope: Mapping[str | None, str],
    new_scope: Mapping[str | None, str] | None,
    bindings: dict[str, str],
) -> str:
    """``xlink:href`` for ``{http://www.w3.org/1999/xlink}href``: what ops expect.

    The prefix is the old version's for that namespace, else the new one's (a namespace
    the other program brought in). Unless it is the namespace's usual prefix, meaning the
    same in every document, its binding goes into ``bindings``, one namespace per prefix.
    """
    if not key.startswith("{"):
        return key
    ns, local = key[1:].split("}", 1)
    if ns == XML_NS:
        return f"xml:{local}"
    prefix = _prefix_in(work_scope, ns)
    if prefix is None and new_scope is not None:
        prefix = _prefix_in(new_scope, ns)
    usual = KNOWN_PREFIXES.get(ns)
    if prefix is None:
        prefix = usual or "ns1"
    if prefix == usual and work_scope.get(prefix, ns) == ns and prefix not in bindings:
        return f"{prefix}:{local}"
    name, n = prefix, 0
    while bindings.get(name, ns) != ns:
        n += 1
        name = f"{prefix}{n}"
    bindings[name] = ns
    return f"{name}:{local}"


def _prefix_in(nsmap: Mapping[str | None, str], ns: str) -> str | None:
    """The prefix bound to ``ns`` in ``nsmap``, its usual one first."""
    usual = KNOWN_PREFIXES.get(ns)
    if usual is not None and nsmap.get(usual) == ns:
        return usual
    return next((p for p, u in nsmap.items() if p and u == ns), None)


def _previous_element(el: Any) -> Any:
    node = el.getprevious()
    while node is not None and not is_element(node):
        node = node.getprevious()
    return node


def _serialise(el: Any, scope: dict[str | None, str], out: list[str], *, whole: bool) -> None:
    scope = dict(scope)
    decls: list[str] = []

    def prefix_for(ns: str | None, *, attr: bool, hint: str | None) -> str | None:
        if ns is None:
            if not attr and scope.get(None):
                scope[None] = ""
                decls.append(' xmlns=""')
            return None
        if ns == XML_NS:
            return "xml"
        if not attr and scope.get(None) == ns:
            return None
        for prefix, uri in scope.items():
            if uri == ns and prefix:
                return prefix
        if not attr and hint is None:
            scope[None] = ns
            decls.append(f' xmlns="{escape_attr(ns)}"')
            return None
        n = 0
        prefix = hint if hint and hint not in scope else f"ns{n}"
        while prefix in scope:
            n += 1
            prefix = f"ns{n}"
        scope[prefix] = ns
        decls.append(f' xmlns:{prefix}="{escape_attr(ns)}"')
        return prefix

    qname = etree.QName(el)
    tag_prefix = prefix_for(qname.namespace, attr=False, hint=el.prefix)
    name = f"{tag_prefix}:{qname.localname}" if tag_prefix else qname.localname
    attrs: list[str] = []
    for key, value in el.attrib.items():
        aq = etree.QName(key)
        hint = None
        if aq.namespace:
            hint = next((p for p, u in el.nsmap.items() if u == aq.namespace and p), None)
        prefix = prefix_for(aq.namespace, attr=True, hint=hint)
        attr_name = f"{prefix}:{aq.localname}" if prefix else aq.localname
        attrs.append(f' {attr_name}="{escape_attr(value)}"')
    children = list(el) if whole else []
    start = f"<{name}{''.join(decls)}{''.join(attrs)}"
    if not children and not el.text:
        out.append(start + "/>")
        return
    out.append(start + ">" + escape_text(el.text))
    for child in children:
        if is_element(child):
            _serialise(child, scope, out, whole=True)
        elif isinstance(child, etree._Comment):
            out.append(f"<!--{child.text or ''}-->")
        elif isinstance(child, etree._ProcessingInstruction):
            out.append(
                f"<?{child.target} {child.text or ''}?>" if child.text else f"<?{child.target}?>"
            )
        out.append(escape_text(child.tail))
    out.append(f"</{name}>")


# -- a human summary ---------------------------------------------------------------------

_TAG_RE = re.compile(r"<\s*(?:[A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


def summarise(changes: Iterable[Mapping[str, Any]], old: bytes | SvgDocument | None = None) -> str:
    """A line per change, e.g. ``+ rect#r1``, ``- circle#c2``, ``~ rect#r1 x: 10 -> 20``.

    ``changes`` are dicts from :func:`diff_documents` (or :class:`Operation`\\ s). With
    ``old`` (the version the changes apply to) deleted and updated elements are named by
    tag and the old values of attributes are shown; without it only the new values are.
    """
    doc: SvgDocument | None
    if isinstance(old, bytes):
        doc = SvgDocument(old)
    else:
        doc = None if old is None else SvgDocument(old.render().encode(old.encoding))
    lines: list[str] = []
    for raw in changes:
        change = raw.model_dump() if isinstance(raw, Operation) else dict(raw)
        kind = str(getattr(change["operation_type"], "value", change["operation_type"]))
        if kind == FILE_ADD:
            lines.append(f"+ file {change['file']}")
            continue
        if kind == FILE_DELETE:
            lines.append(f"- file {change['file']}")
            continue
        element_id = str(change["element_id"])
        data = change.get("data") or {}
        el = doc.find(element_id) if doc is not None else None
        label = _label(el, element_id)
        if kind == OperationType.CREATE:
            match = _TAG_RE.match(str(data.get("markup", "")))
            tag = match.group(1) if match else "element"
            ident = element_id if not element_id.startswith("/") else f"@{element_id}"
            sep = "#" if not element_id.startswith("/") else ""
            lines.append(f"+ {tag}{sep}{ident}")
        elif kind == OperationType.DELETE:
            lines.append(f"- {label}")
        elif kind == OperationType.MOVE and set(data) <= {"parent", "index"}:
            parent = data.get("parent")
            target = _label(doc.find(str(parent)) if doc is not None else None, str(parent))
            lines.append(f"> {label} to {target}[{data.get('index')}]")
        else:
            lines.extend(_update_lines(label, el, data))
        if doc is not None:
            try:
                apply_operation(doc, coerce_operation({**change, "user_id": DIFF_USER}))
            except OperationError:
                doc = None  # the rest can no longer be followed; name by address only
    return "\n".join(lines) + ("\n" if lines else "")


def _label(el: Any, address: str) -> str:
    if el is None:
        return address if address.startswith("/") else f"#{address}"
    if address == "/":
        return _local(el)
    ident = el.get("id")
    where = f"#{ident}" if ident is not None and not address.startswith("/") else f"@{address}"
    return f"{_local(el)}{where}"


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _update_lines(label: str, el: Any, data: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, value in dict(data.get("attributes") or {}).items():
        if el is None:
            lines.append(f"~ {label} {name} = {_short(value)}")
            continue
        try:
            key = attribute_key(None, el, name, data.get("namespaces"))
        except OperationError:
            key = name
        lines.append(f"~ {label} {name}: {_plain(el.get(key))} -> {_plain(value)}")
    for field in ("text", "tail"):
        if field in data:
            before = getattr(el, field) if el is not None else None
            lines.append(f"~ {label} {field}: {_short(before)} -> {_short(data[field])}")
    other = {k: v for k, v in data.items() if k not in ("attributes", "text", "tail")}
    if other:
        lines.append(f"~ {label} " + ", ".join(f"{k}={v!r}" for k, v in other.items()))
    return lines


def _plain(value: str | None) -> str:
    if value is None:
        return "(none)"
    return value if len(value) <= 60 and " " not in value else _short(value)
