"""Three-way merge of SVG documents, element by element.

Guarantees (pure: bytes in, bytes and data out; no files, no git, no clock):

* The three versions travel together as :class:`Versions` ``(base, ours, theirs)``.
  :func:`merge_documents` starts from *ours* and replays *theirs'* changes relative to
  *base* through :class:`~svgx_sync.core.svgdoc.SvgDocument`'s mutation methods, so the merged
  file keeps ours' bytes everywhere theirs changed nothing. When theirs changed nothing
  the result is ours byte for byte; when ours changed nothing it is theirs.
* Conflicts are data in the :class:`MergeResult`, never exceptions. On every conflict the
  result keeps ours, and the conflict records the base, ours and theirs values so either
  side can be chosen later (:func:`resolve_marked`). Flags (a reference or a constraint
  left pointing at an element the other side deleted) are conflicts with
  ``blocking=False``.
* Only elements are merged. Formatting (quoting, attribute order, indentation) is not a
  change; ``style`` is merged declaration by declaration. Comments and processing
  instructions are kept as ours has them.

Theory of operation. Every element of each version gets a *key*: ``("id", id)`` when it
has an id that is unique in all three versions, otherwise a positional key under its
parent's key, found by aligning the id-less children of matched parents on their tag,
attributes and text (the same tag in order when the content changed). Comparing base with
each side per key gives deletions, insertions, attribute and text edits, re-parenting and
reordering. Theirs' changes are then replayed on ours in a fixed order: insertions and
moves in theirs' document order (so each lands after its nearest surviving previous
sibling), after reorders of the children both sides kept, then attribute and text edits, and deletions last (so elements theirs
moved out of a deleted group survive). Everything that would overwrite an edit of ours,
or break the tree (a cycle, a move into a deleted group), becomes a conflict instead.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from enum import StrEnum
from typing import Any, Generic, NamedTuple, TypeVar

from lxml import etree

from ..errors import DocumentError, NotFound, OperationError
from .namespaces import (
    KNOWN_PREFIXES,
    SVGX_NS,
    USUAL_NAMESPACES,
    XLINK_NS,
    attribute_name,
    clark,
)
from .svgdoc import SvgDocument, escape_attr, is_element, parse_style

__all__ = [
    "CONFLICTS_ID",
    "Conflict",
    "ConflictKind",
    "MergeResult",
    "Versions",
    "fresh_id",
    "mark_conflicts",
    "merge_documents",
    "read_conflicts",
    "remove_marks",
    "resolve_marked",
]

T = TypeVar("T")

CONFLICTS_ID = "svgx-conflicts"
"""Id of the ``<metadata>`` element that holds conflict marks in a merged file."""

CONFLICT_TAG = f"{{{SVGX_NS}}}conflict"
CONSTRAINT_TAG = f"{{{SVGX_NS}}}constraint"


class Versions(NamedTuple, Generic[T]):
    """The three versions of one thing, always in this order."""

    base: T
    ours: T
    theirs: T


class ConflictKind(StrEnum):
    ATTRIBUTE = "attribute"
    """Both sides set one attribute (or one ``style`` declaration) to different values."""
    TEXT = "text"
    """Both sides changed an element's text (or the text after it) differently."""
    DELETE_EDIT = "delete_edit"
    """Ours deleted an element that theirs edited (or edited inside)."""
    EDIT_DELETE = "edit_delete"
    """Ours edited an element (or inside it) that theirs deleted."""
    REORDER = "reorder"
    """Both sides reordered the same children differently."""
    PARENT = "parent"
    """Both sides moved one element under different parents."""
    MOVE_INTO_DELETED = "move_into_deleted"
    """One side moved an element into a group the other side deleted."""
    CYCLE = "cycle"
    """Theirs' move would put an element inside itself, given ours' moves."""
    DUPLICATE_ID = "duplicate_id"
    """Both sides created different elements with one id; theirs was renamed."""
    FILE_DELETE_MODIFY = "file_delete_modify"
    """One side deleted the file, the other changed it."""
    ADD_ADD = "add_add"
    """Both sides created the file with different content."""
    DANGLING_REFERENCE = "dangling_reference"
    """Flag: a reference (``href``, ``url(#id)``) to an element that is gone."""
    DANGLING_CONSTRAINT = "dangling_constraint"
    """Flag: a constraint whose element is gone."""


FLAGS = frozenset({ConflictKind.DANGLING_REFERENCE, ConflictKind.DANGLING_CONSTRAINT})


@dataclass(frozen=True, slots=True)
class Conflict:
    """One conflict (or, with ``blocking=False``, one flag) of a merge.

    ``element_id`` is the element's id, or its ``/i/j`` position in the merged document
    (in theirs when the merge does not have it). ``attribute`` names the attribute
    (``style:fill`` for one style declaration, ``tail`` for the text after the element)
    or is None. ``base``/``ours``/``theirs`` are the values (attribute values, text,
    element markup, parent addresses or child orders, by kind); None means absent.
    ``parent`` says where a deleted element would go back (for ``delete_edit``).
    """

    kind: ConflictKind
    file: str
    element_id: str
    attribute: str | None = None
    base: str | None = None
    ours: str | None = None
    theirs: str | None = None
    blocking: bool = True
    parent: str | None = None
    detail: str = ""
    mark_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: every field, ``kind`` as its string."""
        out = asdict(self)
        out["kind"] = str(self.kind)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conflict:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["kind"] = ConflictKind(fields["kind"])
        return cls(**fields)


@dataclass(slots=True)
class MergeResult:
    """The merged file (None when it is deleted), its conflicts and notes for people."""

    merged: bytes | None
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> list[Conflict]:
        return [c for c in self.conflicts if c.blocking]

    @property
    def clean(self) -> bool:
        return not self.blocking


# -- entry point -------------------------------------------------------------------------


def merge_documents(versions: Versions[bytes | None], *, file: str) -> MergeResult:
    """Merge theirs into ours relative to base; None stands for a missing file.

    Raises :class:`DocumentError` when a version present is not an SVG we can read.
    """
    base, ours, theirs = versions
    if ours == theirs:
        return MergeResult(ours)
    if ours is None or theirs is None:
        present = ours if ours is not None else theirs
        assert present is not None
        if base is None:
            return MergeResult(present)
        if _same_elements(base, present, file):
            return MergeResult(None)
        # Like git, keep the changed file so no edit is lost; the conflict says who deleted.
        return MergeResult(
            present,
            [
                Conflict(
                    ConflictKind.FILE_DELETE_MODIFY,
                    file,
                    "/",
                    base="present",
                    ours=None if ours is None else "modified",
                    theirs=None if theirs is None else "modified",
                    detail=f"{'ours' if ours is None else 'theirs'} deleted the file, "
                    f"{'theirs' if ours is None else 'ours'} changed it",
                )
            ],
        )
    if base is None:
        if _same_elements(ours, theirs, file):
            return MergeResult(ours)
        return MergeResult(
            ours,
            [
                Conflict(
                    ConflictKind.ADD_ADD,
                    file,
                    "/",
                    ours="added",
                    theirs="added",
                    detail="both sides created the file with different content",
                )
            ],
        )
    if theirs == base:
        SvgDocument(ours, name=file)  # still refuse what we cannot read
        return MergeResult(ours)
    if ours == base:
        SvgDocument(theirs, name=file)
        return MergeResult(theirs)
    docs = Versions(
        SvgDocument(base, name=file), SvgDocument(ours, name=file), SvgDocument(theirs, name=file)
    )
    return _Merge(docs, file).run()


def _same_elements(a: bytes, b: bytes, file: str) -> bool:
    if a == b:
        return True
    ta = _Tree.build(SvgDocument(a, name=file), None, "base", frozenset())
    tb = _Tree.build(SvgDocument(b, name=file), ta, "ours", frozenset())
    return ta.states() == tb.states()


def fresh_id(ident: str, taken: Container[str | None], *, first: int = 2) -> str:
    """``ident-N`` for the first ``N`` from ``first`` that is not ``taken``."""
    n = first
    while f"{ident}-{n}" in taken:
        n += 1
    return f"{ident}-{n}"


# -- element keys and snapshots ----------------------------------------------------------

Key = tuple[Any, ...]
ROOT: Key = ("root",)


def _norm(text: str | None) -> str:
    """Text that is only whitespace is formatting, not content."""
    return text if text and not text.isspace() else ""


def _shallow(el: Any) -> tuple[Any, ...]:
    return (el.tag, tuple(sorted(el.attrib.items())), _norm(el.text))


def _deep(el: Any) -> tuple[Any, ...]:
    return (_shallow(el), tuple(_deep(c) for c in el if is_element(c)))


@dataclass(slots=True)
class _Node:
    key: Key
    el: Any
    parent: Key | None
    children: list[Key]

    @property
    def tag(self) -> str:
        return str(self.el.tag)

    @property
    def attrs(self) -> dict[str, str]:
        return dict(self.el.attrib)

    @property
    def text(self) -> str:
        return _norm(self.el.text)

    @property
    def tail(self) -> str:
        return _norm(self.el.tail)


class _Tree:
    """One version's elements by key."""

    def __init__(self, doc: SvgDocument) -> None:
        self.doc = doc
        self.nodes: dict[Key, _Node] = {}
        self.key_of: dict[Any, Key] = {}
        self._signatures: dict[Key, tuple[Any, ...]] = {}

    def shallow(self, key: Key) -> tuple[Any, ...]:
        """:func:`_shallow` of an element, computed once (for the base, which never changes)."""
        sig = self._signatures.get(key)
        if sig is None:
            sig = self._signatures[key] = _shallow(self.nodes[key].el)
        return sig

    @classmethod
    def build(
        cls,
        doc: SvgDocument,
        base: _Tree | None,
        side: str,
        unusable: frozenset[str],
        alias: dict[Key, Key] | None = None,
    ) -> _Tree:
        tree = cls(doc)
        nodes, key_of = tree.nodes, tree.key_of
        root = nodes[ROOT] = _Node(ROOT, doc.root, None, [])
        key_of[doc.root] = ROOT
        stack = [root]
        alias = alias or {}
        while stack:
            pnode = stack.pop()
            if not len(pnode.el):
                continue  # a leaf: nothing to key
            pkey = pnode.key
            kids = [c for c in pnode.el if is_element(c)]
            keys: list[Key | None] = [None] * len(kids)
            loose: list[int] = []
            for i, child in enumerate(kids):
                ident = child.get("id")
                if ident is not None and ident not in unusable:
                    keys[i] = ("id", ident)
                else:
                    loose.append(i)
            if loose:
                bnode = base.nodes.get(pkey) if base is not None else None
                if bnode is None:
                    counts: dict[str, int] = {}
                    for i in loose:
                        tag = kids[i].tag
                        keys[i] = ("pos", pkey, tag, counts.get(tag, 0))
                        counts[tag] = counts.get(tag, 0) + 1
                else:
                    assert base is not None
                    bkeys = [k for k in bnode.children if k[0] == "pos"]
                    matched = _align(
                        [base.shallow(k) for k in bkeys],
                        [_shallow(kids[i]) for i in loose],
                    )
                    counts = {}
                    for j, i in enumerate(loose):
                        b = matched.get(j)
                        if b is not None:
                            keys[i] = bkeys[b]
                        else:
                            tag = kids[i].tag
                            new = ("new", side, pkey, tag, counts.get(tag, 0))
                            counts[tag] = counts.get(tag, 0) + 1
                            keys[i] = alias.get(new, new)
            children = pnode.children
            for child, key in zip(kids, keys, strict=True):
                assert key is not None
                if key in nodes:  # cannot happen with unique ids; never lose an element
                    key = ("dup", key, id(child))
                node = nodes[key] = _Node(key, child, pkey, [])
                key_of[child] = key
                children.append(key)
                stack.append(node)
        return tree

    def __contains__(self, key: object) -> bool:
        return key in self.nodes

    def parent(self, key: Key) -> Key | None:
        return self.nodes[key].parent

    def subtree(self, key: Key) -> Iterator[Key]:
        stack = [key]
        while stack:
            k = stack.pop()
            yield k
            stack.extend(reversed(self.nodes[k].children))

    def address(self, key: Key) -> str:
        if key[0] == "id":
            return str(key[1])
        return self.doc.address_of(self.nodes[key].el)

    def markup(self, key: Key) -> str:
        return _markup(self.nodes[key].el)

    def states(self) -> set[tuple[Any, ...]]:
        """What an element-level comparison sees: per key, its content and parent."""
        return {(k, n.tag, _attr_state(n.attrs), n.text, n.parent) for k, n in self.nodes.items()}


def _attr_state(attrs: dict[str, str]) -> tuple[Any, ...]:
    out = []
    for k, v in sorted(attrs.items()):
        out.append((k, tuple(sorted(_style(v).items())) if k == "style" else v))
    return tuple(out)


def _align(base: list[Any], side: list[Any]) -> dict[int, int]:
    """Pair id-less children: equal content first, then the same tag in order."""
    out: dict[int, int] = {}
    sm = SequenceMatcher(None, base, side, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            for n in range(i2 - i1):
                out[j1 + n] = i1 + n
        elif op == "replace":
            i = i1
            for j in range(j1, j2):
                for b in range(i, i2):
                    if base[b][0] == side[j][0]:
                        out[j] = b
                        i = b + 1
                        break
    return out


def _markup(el: Any) -> str:
    clone = copy.deepcopy(el)
    clone.tail = None
    text: str = etree.tostring(clone, encoding="unicode")
    return text


# -- style declarations -------------------------------------------------------------------


def _style(value: str | None) -> dict[str, str]:
    """:func:`~svgx_sync.core.svgdoc.parse_style` of a value that may be absent, without
    declarations that have no property name."""
    return {name: val for name, val in parse_style(value or "").items() if name}


def _edit_style(raw: str, changes: dict[str, str | None]) -> str:
    """Apply declaration changes to ``raw`` keeping its spacing and order."""
    parts = raw.split(";")
    done: set[str] = set()
    out: list[str] = []
    for part in parts:
        if ":" not in part:
            out.append(part)
            continue
        name, val = part.split(":", 1)
        prop = name.strip()
        if prop in changes:
            done.add(prop)
            new = changes[prop]
            if new is None:
                continue
            lead = val[: len(val) - len(val.lstrip())]
            trail = val[len(val.rstrip()) :]
            out.append(f"{name}:{lead}{new}{trail}")
        else:
            out.append(part)
    added = [(p, v) for p, v in changes.items() if p not in done and v is not None]
    if not added:
        return ";".join(out)
    decls = [p for p in parts if ":" in p]
    sep = " " if any(p.startswith(" ") for p in decls[1:]) else ""
    space = " " if decls and decls[0].split(":", 1)[1].startswith(" ") else ""
    body = [p for p in out if p.strip()]
    for prop, val in added:
        body.append(f"{sep if body else ''}{prop}:{space}{val}")
    return ";".join(body) + (";" if raw.rstrip().endswith(";") else "")


# -- references ----------------------------------------------------------------------------

_URL_REF = re.compile(r"url\(\s*['\"]?#([^)'\"\s]+)")
_HREFS = ("href", f"{{{XLINK_NS}}}href")


def _references(el: Any) -> Iterator[tuple[str, str]]:
    """(attribute, target id) for every same-document reference the element makes."""
    for key, value in el.attrib.items():
        if key in _HREFS and value.startswith("#"):
            yield key, value[1:]
        elif "url(" in value:
            for target in _URL_REF.findall(value):
                yield key, target


def _prefixed(key: str, *places: tuple[SvgDocument, Any]) -> str:
    """The name a conflict gives attribute ``key``: prefixed as the first of ``places``
    (document, element) that has its namespace in scope writes it, else in lxml's
    ``{namespace}local``."""
    if not key.startswith("{"):
        return key
    ns = key[1:].split("}", 1)[0]
    for doc, el in places:
        if ns in KNOWN_PREFIXES or ns in doc.scope(el).values():
            return attribute_name(doc, el, key)
    return key


def _prefix_for(key: str, el: Any) -> str | None:
    """The prefix ``el``'s document binds to ``key``'s namespace (a hint for declaring
    it where the merge puts the attribute)."""
    if not key.startswith("{"):
        return None
    ns = key[1:].split("}", 1)[0]
    return next((p for p, u in el.nsmap.items() if p and u == ns), None)


def _conflict_key(name: str, el: Any) -> str:
    """lxml's key for a conflict's attribute name (see :func:`_prefixed`): by the
    element's bindings, else the usual prefixes; the merge's own names (``style:fill``,
    one already ``{namespace}local``) and unknown prefixes stay as they are."""
    if name.startswith(("style:", "{")):
        return name
    return clark(name, el.nsmap, USUAL_NAMESPACES) or name


# -- the merge ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    kind: ConflictKind
    key: Key
    attribute: str | None = None
    base: str | None = None
    ours: str | None = None
    theirs: str | None = None
    parent: Key | None = None
    detail: str = ""
    blocking: bool = True
    where: str = "merged"


class _Merge:
    def __init__(self, docs: Versions[SvgDocument], file: str) -> None:
        self.file = file
        self.doc = docs.ours
        unusable = frozenset(
            {i for d in docs for i in d.duplicate_ids}
            | {i for d in docs if (i := d.root.get("id")) is not None}
        )
        self.B = _Tree.build(docs.base, None, "base", unusable)
        self.O = _Tree.build(docs.ours, self.B, "ours", unusable)
        self.T = _Tree.build(docs.theirs, self.B, "theirs", unusable)
        self.pending: list[_Pending] = []
        self.notes: list[str] = []
        self._same_inserts(docs.theirs, unusable)
        # Elements of base and theirs with equal start tags (as text) have equal tags and
        # attributes; see SvgDocument.source_start_tag.
        self._by_text = (
            docs.base.namespaces_on_root_only()
            and docs.theirs.namespaces_on_root_only()
            and docs.base.root.nsmap == docs.theirs.root.nsmap
        )
        self.el: dict[Key, Any] = {k: n.el for k, n in self.O.nodes.items()}
        self.key_of: dict[Any, Key] = dict(self.O.key_of)

    # -- matching what both sides created ---------------------------------------------

    def _same_inserts(self, theirs_doc: SvgDocument, unusable: frozenset[str]) -> None:
        B, O, T = self.B, self.O, self.T
        alias: dict[Key, Key] = {}
        renames = 0
        all_ids = set(self.B.doc.ids) | set(self.O.doc.ids) | set(theirs_doc.ids)
        for key, tnode in list(T.nodes.items()):
            if key in B.nodes:
                continue
            if key[0] == "new":
                pkey = tnode.parent
                onode = O.nodes.get(pkey) if pkey is not None else None
                if onode is None:
                    continue
                sig = _deep(tnode.el)
                for okey in onode.children:
                    if okey[0] == "new" and okey not in alias.values():
                        if _deep(O.nodes[okey].el) == sig:
                            alias[key] = okey
                            break
            elif key[0] == "id" and key in O.nodes:
                onode = O.nodes[key]
                if _shallow(onode.el) == _shallow(tnode.el) and onode.parent == tnode.parent:
                    continue
                old = str(key[1])
                fresh = fresh_id(old, all_ids)
                all_ids.add(fresh)
                theirs_doc.set_attribute(tnode.el, "id", fresh)
                renames += 1
                self.pending.append(
                    _Pending(
                        ConflictKind.DUPLICATE_ID,
                        ("id", fresh),
                        base=None,
                        ours=old,
                        theirs=fresh,
                        detail=f"both sides created an element with id {old!r}; theirs was "
                        f"renamed to {fresh!r} (offer renumbering)",
                    )
                )
        if alias or renames:
            self.T = _Tree.build(theirs_doc, B, "theirs", unusable, alias)

    # -- the run -------------------------------------------------------------------------

    def run(self) -> MergeResult:
        B, O, T = self.B, self.O, self.T
        self.deleted_by_theirs = {k for k in B.nodes if k in O.nodes and k not in T.nodes}
        self.deleted_by_ours = {k for k in B.nodes if k in T.nodes and k not in O.nodes}
        self.protected: set[Key] = set()
        self.handled: set[Key] = set()
        self._check_theirs_deletes()
        self._check_ours_deletes()
        self._reorder()
        self._place_theirs()
        self._edit_contents()
        self._delete()
        self._flag_references()
        merged = self.doc.to_bytes()
        return MergeResult(merged, self._finish(), self.notes)

    def _changed(self, side: _Tree, key: Key) -> bool:
        """Whether ``side`` created, edited or re-parented this element."""
        if key not in self.B:
            return True
        b, s = self.B.nodes[key], side.nodes[key]
        return (
            _attr_state(b.attrs) != _attr_state(s.attrs) or b.text != s.text or b.parent != s.parent
        )

    def _check_theirs_deletes(self) -> None:
        O, B = self.O, self.B
        gone = self.deleted_by_theirs
        for root in [k for k in gone if O.parent(k) not in gone]:
            edited = False
            moved_in: list[Key] = []
            stack = [root]
            while stack:
                k = stack.pop()
                if k not in gone and k in B:
                    if O.parent(k) != B.parent(k):
                        moved_in.append(k)
                    # else theirs moved it out before deleting the group
                    continue
                if self._changed(O, k):
                    edited = True
                stack.extend(O.nodes[k].children)
            if not edited and not moved_in:
                continue
            self.protected.update(O.subtree(root))
            if edited:
                self.pending.append(
                    _Pending(
                        ConflictKind.EDIT_DELETE,
                        root,
                        base=B.markup(root),
                        ours=O.markup(root),
                        theirs=None,
                        parent=O.parent(root),
                        detail="theirs deleted an element that ours edited; ours kept",
                    )
                )
            for k in moved_in:
                self.handled.add(k)
                self.pending.append(
                    self._placement(
                        ConflictKind.MOVE_INTO_DELETED,
                        k,
                        self._addr(self.T, self.T.parent(k)) if k in self.T else None,
                        f"ours moved it into {self._addr(O, root)}, which theirs deleted; "
                        "the group is kept",
                    )
                )

    def _check_ours_deletes(self) -> None:
        T, B = self.T, self.B
        gone = self.deleted_by_ours
        for root in [k for k in gone if T.parent(k) not in gone]:
            edited = False
            stack = [root]
            while stack:
                k = stack.pop()
                if k not in gone and k in B:
                    if T.parent(k) != B.parent(k):
                        self.handled.add(k)
                        self.pending.append(
                            self._placement(
                                ConflictKind.MOVE_INTO_DELETED,
                                k,
                                self._addr(T, T.parent(k)),
                                f"theirs moved it into {self._addr(T, root)}, which ours "
                                "deleted; it stays where ours has it",
                            )
                        )
                    continue
                if self._changed(T, k):
                    edited = True
                stack.extend(T.nodes[k].children)
            if edited:
                self.pending.append(
                    _Pending(
                        ConflictKind.DELETE_EDIT,
                        root,
                        base=B.markup(root),
                        ours=None,
                        theirs=T.markup(root),
                        parent=T.parent(root),
                        detail="ours deleted an element that theirs edited; it stays deleted",
                        where="theirs",
                    )
                )

    def _placement(self, kind: ConflictKind, key: Key, theirs: str | None, detail: str) -> _Pending:
        """A conflict over where ``key`` goes: its parent in base and ours, and ``theirs``."""
        B, O = self.B, self.O
        return _Pending(
            kind,
            key,
            base=self._addr(B, B.parent(key)),
            ours=self._addr(O, O.parent(key)),
            theirs=theirs,
            detail=detail,
        )

    def _addr(self, tree: _Tree, key: Key | None) -> str | None:
        if key is None:
            return None
        return tree.address(key)

    # -- insertions and moves -----------------------------------------------------------

    def _place_theirs(self) -> None:
        B, O, T = self.B, self.O, self.T
        stack = [ROOT]
        while stack:
            pkey = stack.pop()
            for key in T.nodes[pkey].children:
                if key not in B.nodes and key not in O.nodes:
                    if pkey in self.el and not (pkey not in B.nodes and pkey not in O.nodes):
                        self._insert_copy(key, pkey)
                elif key in B.nodes and T.parent(key) != B.parent(key) and key in O.nodes:
                    self._move(key, pkey)
            stack.extend(reversed(T.nodes[pkey].children))

    def _insert_copy(self, key: Key, pkey: Key) -> None:
        """Copy theirs' new subtree, without the existing elements theirs moved into it."""
        T = self.T
        source = T.nodes[key].el
        clone = copy.deepcopy(source)
        clone.tail = None
        pairs = list(zip(source.iter(), clone.iter(), strict=True))
        drop = []
        for orig, new in pairs:
            if not is_element(orig):
                continue
            k = T.key_of[orig]
            if k in self.B or k in self.O:
                drop.append(new)
            else:
                self.el[k] = new
                self.key_of[new] = k
        for new in drop:
            if any(a in drop for a in new.iterancestors()):
                continue
            _detach(new)
        self._put(key, clone, pkey, new=True)

    def _move(self, key: Key, pkey: Key) -> None:
        O, B, T = self.O, self.B, self.T
        if key in self.handled:
            return
        if O.parent(key) == pkey:
            return
        if O.parent(key) != B.parent(key):
            self.pending.append(
                self._placement(
                    ConflictKind.PARENT,
                    key,
                    self._addr(T, pkey),
                    "both sides moved it under different parents; ours kept",
                )
            )
            return
        target = self.el.get(pkey)
        if target is None or pkey in self.deleted_by_ours or not self._attached(target):
            self.pending.append(
                self._placement(
                    ConflictKind.MOVE_INTO_DELETED,
                    key,
                    self._addr(T, pkey),
                    "theirs moved it into a group ours deleted; it stays where it was",
                )
            )
            return
        el = self.el[key]
        node = target
        while node is not None:
            if node is el:
                self.pending.append(
                    self._placement(
                        ConflictKind.CYCLE,
                        key,
                        self._addr(T, pkey),
                        "theirs' move would put it inside itself after ours' moves; "
                        "ours' structure kept",
                    )
                )
                return
            node = node.getparent()
        self._put(key, el, pkey, new=False)

    def _attached(self, el: Any) -> bool:
        node = el
        while node.getparent() is not None:
            node = node.getparent()
        return node is self.doc.root

    def _put(self, key: Key, el: Any, pkey: Key, *, new: bool) -> None:
        """Insert after theirs' nearest previous sibling that the merge has."""
        parent = self.el[pkey]
        siblings = self.T.nodes[pkey].children
        anchor = None
        for prev in reversed(siblings[: siblings.index(key)]):
            pe = self.el.get(prev)
            if pe is not None and pe is not el and pe.getparent() is parent:
                anchor = pe
                break
        if el.getparent() is not None:
            self.doc.remove(el)
        elems = [c for c in parent if is_element(c)]
        pos = elems.index(anchor) + 1 if anchor is not None else 0
        base_kids = set(self.B.nodes[pkey].children) if pkey in self.B else set()
        theirs_kids = set(siblings)
        skipped = []
        while pos < len(elems):
            k = self.key_of.get(elems[pos])
            if k is None or k in base_kids or k in theirs_kids:
                break
            skipped.append(k)
            pos += 1
        index = list(parent).index(elems[pos]) if pos < len(elems) else len(parent)
        self.doc.insert(parent, index, el)
        if skipped and new:
            self.notes.append(
                f"both sides inserted at the same place in {self._addr_merged(pkey)}: "
                f"ours' {', '.join(self._addr_merged(k) for k in skipped)} first, then "
                f"theirs' {self._addr_merged(key)}"
            )

    def _addr_merged(self, key: Key) -> str:
        if key[0] == "id":
            return str(key[1])
        el = self.el.get(key)
        if el is not None and self._attached(el):
            return self.doc.address_of(el)
        return self.T.address(key) if key in self.T else self.O.address(key)

    # -- reorders --------------------------------------------------------------------------

    def _reorder(self) -> None:
        B, O, T = self.B, self.O, self.T
        for pkey, bnode in B.nodes.items():
            if len(bnode.children) < 2:
                continue  # nothing to reorder
            if pkey not in O.nodes or pkey not in T.nodes or pkey in self.protected:
                continue
            tkids = set(T.nodes[pkey].children)
            okids = set(O.nodes[pkey].children)
            common = [k for k in bnode.children if k in tkids and k in okids]
            if len(common) < 2:
                continue
            cs = set(common)
            o3 = [k for k in O.nodes[pkey].children if k in cs]
            t3 = [k for k in T.nodes[pkey].children if k in cs]
            if t3 == common or t3 == o3:
                continue
            if o3 != common:
                self.pending.append(
                    _Pending(
                        ConflictKind.REORDER,
                        pkey,
                        base=" ".join(B.address(k) for k in common),
                        ours=" ".join(O.address(k) for k in o3),
                        theirs=" ".join(T.address(k) for k in t3),
                        detail="both sides reordered these children differently; ours kept",
                    )
                )
                continue
            self._apply_order(pkey, cs, t3)

    def _apply_order(self, pkey: Key, common: set[Key], order: list[Key]) -> None:
        parent = self.el[pkey]
        current = [self.key_of[c] for c in parent if is_element(c)]
        wanted = list(order)
        target = [wanted.pop(0) if k in common else k for k in current]
        sm = SequenceMatcher(None, current, target, autojunk=False)
        stay = set()
        for block in sm.get_matching_blocks():
            stay.update(current[block.a : block.a + block.size])
        for i, k in enumerate(target):
            if k in stay:
                continue
            el = self.el[k]
            self.doc.remove(el)
            if i == 0:
                first = next((c for c in parent if is_element(c)), None)
                index = list(parent).index(first) if first is not None else len(parent)
            else:
                index = list(parent).index(self.el[target[i - 1]]) + 1
            self.doc.insert(parent, index, el)

    # -- attributes and text ----------------------------------------------------------------

    def _edit_contents(self) -> None:
        B, O, T = self.B, self.O, self.T
        by_text = self._by_text
        bsrc, tsrc = B.doc.source, T.doc.source
        bspans, tspans = B.doc.spans, T.doc.spans
        for key, tnode in T.nodes.items():
            onode = O.nodes.get(key)
            if onode is None:
                continue
            bnode = B.nodes.get(key)
            el = self.el[key]
            same_attributes = False
            if by_text and bnode is not None and key != ROOT:
                # Base and theirs as read, compared as text: the start tag fixes the tag
                # and attributes, the text up to the first child and the tail are text.
                bs, ts = bspans.get(bnode.el), tspans.get(tnode.el)
                if bs is not None and ts is not None:
                    if bsrc[bs.start : bs.text_end] == tsrc[ts.start : ts.text_end]:
                        if bsrc[bs.end : bs.tail_end] == tsrc[ts.end : ts.tail_end]:
                            continue  # theirs changed nothing here
                        same_attributes = True
                    else:
                        same_attributes = (
                            bsrc[bs.start : bs.stag_end] == tsrc[ts.start : ts.stag_end]
                        )
            if not same_attributes:
                self._edit_attributes(key, el, bnode, onode, tnode)
            self._edit_text(key, el, bnode, onode, tnode)

    def _edit_attributes(
        self, key: Key, el: Any, bnode: _Node | None, onode: _Node, tnode: _Node
    ) -> None:
        battrs = bnode.attrs if bnode is not None else {}
        oattrs, tattrs = onode.attrs, tnode.attrs
        for name in dict.fromkeys([*battrs, *tattrs]):
            b, t = battrs.get(name), tattrs.get(name)
            if b == t:
                continue
            o = oattrs.get(name)
            if name == "style":
                self._merge_style(key, el, b, o, t)
                continue
            if o == b:
                self.doc.set_attribute(el, name, t, prefix=_prefix_for(name, tnode.el))
            elif o != t:
                self.pending.append(
                    _Pending(
                        ConflictKind.ATTRIBUTE,
                        key,
                        attribute=_prefixed(name, (self.doc, el), (self.T.doc, tnode.el)),
                        base=b,
                        ours=o,
                        theirs=t,
                        detail="both sides set it differently; ours kept",
                    )
                )

    def _edit_text(
        self, key: Key, el: Any, bnode: _Node | None, onode: _Node, tnode: _Node
    ) -> None:
        btext = bnode.text if bnode is not None else ""
        if tnode.text != btext:
            if onode.text == btext:
                self.doc.set_text(el, tnode.el.text)
            elif onode.text != tnode.text:
                self.pending.append(
                    _Pending(
                        ConflictKind.TEXT,
                        key,
                        base=btext or None,
                        ours=onode.text or None,
                        theirs=tnode.text or None,
                        detail="both sides changed the text; ours kept",
                    )
                )
        if bnode is None or not (bnode.parent == onode.parent == tnode.parent):
            return
        if tnode.tail != bnode.tail:
            if onode.tail == bnode.tail:
                self.doc.set_tail(el, tnode.el.tail)
            elif onode.tail != tnode.tail:
                self.pending.append(
                    _Pending(
                        ConflictKind.TEXT,
                        key,
                        attribute="tail",
                        base=bnode.tail or None,
                        ours=onode.tail or None,
                        theirs=tnode.tail or None,
                        detail="both sides changed the text after it; ours kept",
                    )
                )

    def _merge_style(self, key: Key, el: Any, b: str | None, o: str | None, t: str | None) -> None:
        bs, os_, ts = _style(b), _style(o), _style(t)
        if bs == ts:
            return
        if os_ == bs:
            self.doc.set_attribute(el, "style", t)
            return
        changes: dict[str, str | None] = {}
        for prop in dict.fromkeys([*bs, *ts]):
            bv, tv, ov = bs.get(prop), ts.get(prop), os_.get(prop)
            if bv == tv or ov == tv:
                continue
            if ov == bv:
                changes[prop] = tv
            else:
                self.pending.append(
                    _Pending(
                        ConflictKind.ATTRIBUTE,
                        key,
                        attribute=f"style:{prop}",
                        base=bv,
                        ours=ov,
                        theirs=tv,
                        detail="both sides set this style declaration differently; ours kept",
                    )
                )
        if changes:
            new = _edit_style(o or "", changes)
            self.doc.set_attribute(el, "style", new if new.strip() else None)

    # -- deletions ----------------------------------------------------------------------------

    def _delete(self) -> None:
        O = self.O
        gone = self.deleted_by_theirs
        for root in [k for k in gone if O.parent(k) not in gone]:
            if root in self.protected:
                continue
            el = self.el[root]
            if el.getparent() is not None and self._attached(el):
                self.doc.remove(el)

    # -- flags ---------------------------------------------------------------------------------

    def _flag_references(self) -> None:
        doc = self.doc
        known = set(self.O.doc.ids) | set(self.T.doc.ids) | set(self.B.doc.ids)
        present = set(doc.ids)
        for el in doc.elements():
            if el.tag == CONSTRAINT_TAG:
                targets = [el.get("element") or "", *(el.get("targets") or "").split()]
                for target in targets:
                    if target and target not in present and target in known:
                        self.pending.append(
                            _Pending(
                                ConflictKind.DANGLING_CONSTRAINT,
                                self.key_of.get(el, ("el", el)),
                                attribute="element" if target == el.get("element") else "targets",
                                theirs=target,
                                detail=f"constraint on {target!r}, which the merge deleted",
                                blocking=False,
                            )
                        )
                continue
            stag = doc.source_start_tag(el)
            if stag is not None and "href" not in stag and "url(" not in stag and "&" not in stag:
                continue  # as read, no attribute refers to anything (an entity could hide one)
            for attr, target in _references(el):
                if target not in present and target in known:
                    self.pending.append(
                        _Pending(
                            ConflictKind.DANGLING_REFERENCE,
                            self.key_of.get(el, ("el", el)),
                            attribute=_prefixed(attr, (doc, el)),
                            theirs=target,
                            detail=f"refers to #{target}, which the merge deleted",
                            blocking=False,
                        )
                    )

    def _finish(self) -> list[Conflict]:
        out = []
        for p in self.pending:
            if p.key[0] == "el":
                element_id = self.doc.address_of(p.key[1])
            elif p.where == "theirs" and p.key[0] != "id":
                element_id = self.T.address(p.key)
            else:
                element_id = self._addr_merged(p.key)
            parent = self._addr_merged(p.parent) if p.parent is not None else None
            out.append(
                Conflict(
                    p.kind,
                    self.file,
                    element_id,
                    p.attribute,
                    p.base,
                    p.ours,
                    p.theirs,
                    p.blocking,
                    parent,
                    p.detail,
                )
            )
        return out


def _detach(el: Any) -> None:
    """Take an element out of a detached copy, keeping the indentation around it."""
    parent = el.getparent()
    kids = list(parent)
    i = kids.index(el)
    if i == len(kids) - 1:
        if i > 0:
            kids[i - 1].tail = el.tail
        else:
            parent.text = el.tail
    parent.remove(el)


# -- conflict marks in files ----------------------------------------------------------------

_MARK_FIELDS = ("kind", "element", "attribute", "base", "ours", "theirs", "parent", "detail")


def mark_conflicts(result: MergeResult, *, flags: bool = False) -> bytes:
    """The merged file with its conflicts written into it, in our namespace.

    The marks are ``<svgx:conflict>`` elements inside ``<metadata id="svgx-conflicts">``
    at the end of the root element, so the file stays valid SVG that any viewer shows as
    ours. Flags are written only with ``flags=True``. Removing the last mark
    (:func:`resolve_marked`) gives back the bytes without the block.
    """
    if result.merged is None:
        raise DocumentError("a deleted file cannot carry conflict marks")
    chosen = [c for c in result.conflicts if c.blocking or flags]
    if not chosen:
        return result.merged
    doc = SvgDocument(result.merged)
    taken = {m.get("id") for m in doc.elements()}
    marks: list[str] = []
    for conflict in chosen:
        mid = fresh_id("svgx-conflict", taken, first=1)
        taken.add(mid)
        marks.append(_mark(conflict, mid))
    src = doc.source
    existing = doc.ids.get(CONFLICTS_ID)
    if existing is not None and len(existing):
        # A file merged again before it was resolved: add to the block already there.
        span = doc.spans[existing]
        last = doc.spans[list(existing)[-1]]
        closing = src[last.end : span.etag_start]
        closing = closing if _blank(closing) else ""
        body = "".join(f"{closing}  {m}" if closing else m for m in marks)
        text = src[: last.end] + body + src[last.end :]
        return text.encode(doc.encoding)
    root = doc.spans[doc.root]
    if root.etag_start == root.end:
        raise DocumentError("the root element is empty; there is nowhere to put the marks")
    kids = list(doc.root)
    after = doc.spans[kids[-1]].end if kids else root.stag_end
    closing = src[after : root.etag_start]
    if not _blank(closing):
        closing = ""
    # The block sits one level deeper than the root's closing tag, and takes over the
    # closing whitespace, so that removing it gives back the original bytes.
    indent = (closing or "\n") + "  "
    lines = "".join(f"{indent}  {m}" for m in marks)
    block = (
        f'{indent}<metadata id="{CONFLICTS_ID}" xmlns:svgx="{SVGX_NS}">{lines}{indent}</metadata>'
    )
    if not closing:
        block += "\n"
    text = src[:after] + block + closing + src[after + len(closing) :]
    return text.encode(doc.encoding)


def _blank(text: str) -> bool:
    return not text or text.isspace()


def _mark(conflict: Conflict, mid: str) -> str:
    attrs = [f'id="{mid}"']
    values = {
        "kind": str(conflict.kind),
        "element": conflict.element_id,
        "attribute": conflict.attribute,
        "base": conflict.base,
        "ours": conflict.ours,
        "theirs": conflict.theirs,
        "parent": conflict.parent,
        "detail": conflict.detail or None,
    }
    for name in _MARK_FIELDS:
        value = values[name]
        if value is not None:
            attrs.append(f'{name}="{escape_attr(value)}"')
    if not conflict.blocking:
        attrs.append('blocking="false"')
    attrs.append(f'file="{escape_attr(conflict.file)}"')
    return f"<svgx:conflict {' '.join(attrs)}/>"


def _marks(doc: SvgDocument) -> list[Any]:
    holder = doc.ids.get(CONFLICTS_ID)
    if holder is None:
        return []
    return [m for m in holder if is_element(m) and m.tag == CONFLICT_TAG]


def read_conflicts(svg: bytes, *, file: str | None = None) -> list[Conflict]:
    """The conflicts marked in a file, in order, each with its ``mark_id``."""
    doc = SvgDocument(svg, name=file or "document.svg")
    return [_read_mark(mark, file) for mark in _marks(doc)]


def _read_mark(mark: Any, file: str | None) -> Conflict:
    return Conflict(
        ConflictKind(mark.get("kind")),
        file if file is not None else mark.get("file", ""),
        mark.get("element", ""),
        mark.get("attribute"),
        mark.get("base"),
        mark.get("ours"),
        mark.get("theirs"),
        mark.get("blocking") != "false",
        mark.get("parent"),
        mark.get("detail", ""),
        mark.get("id"),
    )


def resolve_marked(svg: bytes, conflict_id: str, choice: str) -> bytes:
    """Carry out a choice for one marked conflict and remove its mark.

    ``choice`` is ``"ours"``, ``"theirs"``, ``"base"`` or, with the prefix ``"value:"``,
    a value of one's own (``"value:#f00"``) for attribute and text conflicts. Raises
    :class:`NotFound` for an unknown conflict id and :class:`OperationError` when the
    choice cannot be carried out.
    """
    doc = SvgDocument(svg)
    mark = next((m for m in _marks(doc) if m.get("id") == conflict_id), None)
    if mark is None:
        raise NotFound(f"no conflict {conflict_id!r} in this file")
    _apply_choice(doc, _read_mark(mark, None), choice)
    holder = mark.getparent()
    doc.remove(mark)
    if not any(is_element(c) for c in holder):
        doc.remove(holder)
    return doc.to_bytes()


def remove_marks(svg: bytes) -> bytes:
    """The file without its conflict block (the choices already in it stay)."""
    doc = SvgDocument(svg)
    holder = doc.ids.get(CONFLICTS_ID)
    if holder is None:
        return svg
    doc.remove(holder)
    return doc.to_bytes()


def _value_for(conflict: Conflict, choice: str) -> str | None:
    if choice == "ours":
        return conflict.ours
    if choice == "theirs":
        return conflict.theirs
    if choice == "base":
        return conflict.base
    if choice.startswith("value:"):
        return choice[len("value:") :]
    raise OperationError(f"unknown choice {choice!r}: ours, theirs, base or value:V")


def _apply_choice(doc: SvgDocument, conflict: Conflict, choice: str) -> None:
    kind = conflict.kind
    if kind in FLAGS or kind in (ConflictKind.FILE_DELETE_MODIFY, ConflictKind.ADD_ADD):
        return
    value = _value_for(conflict, choice)
    el = doc.find(conflict.element_id)
    if kind in (ConflictKind.ATTRIBUTE, ConflictKind.TEXT):
        if el is None:
            raise OperationError(f"element {conflict.element_id!r} is gone")
        name = conflict.attribute
        if kind == ConflictKind.TEXT:
            if name == "tail":
                doc.set_tail(el, value)
            else:
                doc.set_text(el, value)
        elif name is not None and name.startswith("style:"):
            prop = name[len("style:") :]
            raw = el.get("style") or ""
            if prop in _style(raw):
                new = _edit_style(raw, {prop: value})
            else:
                new = _edit_style(raw, {prop: value}) if value is not None else raw
            doc.set_attribute(el, "style", new if new.strip() else None)
        elif name is not None:
            doc.set_attribute(el, _conflict_key(name, el), value)
        return
    if choice.startswith("value:") and kind != ConflictKind.DUPLICATE_ID:
        raise OperationError(f"a {kind} conflict takes ours, theirs or base, not a value")
    if kind in (ConflictKind.EDIT_DELETE, ConflictKind.DELETE_EDIT):
        if value is None:
            if el is not None:
                doc.remove(el)
            return
        new = doc.parse_fragment(value)
        if el is not None:
            parent = el.getparent()
            index = doc.remove(el)
        else:
            parent = doc.find(conflict.parent or "/") if conflict.parent else doc.root
            if parent is None:
                raise OperationError("the element's parent is gone; cannot put it back")
            index = len(parent)
        doc.insert(parent, index, new)
        return
    if kind in (ConflictKind.PARENT, ConflictKind.CYCLE, ConflictKind.MOVE_INTO_DELETED):
        if el is None or value is None:
            return
        target = doc.find(value)
        if target is None:
            raise OperationError(f"the chosen parent {value!r} is not in the file")
        if el.getparent() is not target:
            doc.move(el, target, len(target))
        return
    if kind == ConflictKind.REORDER:
        if el is None or value is None:
            return
        wanted = [doc.find(a) for a in value.split()]
        if any(w is None or w.getparent() is not el for w in wanted):
            raise OperationError("the chosen order names children that are not there")
        for w in wanted:
            doc.move(w, el, len(el))
        return
    if kind == ConflictKind.DUPLICATE_ID:
        renamed, original = doc.find(conflict.element_id), conflict.ours or ""
        if renamed is None:
            return
        if choice == "theirs":
            # Swap: theirs' element takes the id, ours' element the fresh one.
            mine = doc.ids.get(original)
            fresh = conflict.element_id
            doc.set_attribute(renamed, "id", f"{fresh}.swap")
            if mine is not None:
                doc.set_attribute(mine, "id", fresh)
            doc.set_attribute(renamed, "id", original)
        elif choice.startswith("value:"):
            doc.set_attribute(renamed, "id", choice[len("value:") :])
        return


def states(data: bytes) -> set[tuple[Any, ...]]:
    """An element-level view of a file for comparisons: key, tag, attributes, text, parent."""
    doc = SvgDocument(data)
    unusable = frozenset(doc.duplicate_ids)
    return _Tree.build(doc, None, "base", unusable).states()


def conflict_key(conflicts: Iterable[Conflict]) -> list[tuple[str, str, str | None]]:
    """(kind, element_id, attribute) of each conflict, sorted: what fixtures list."""
    return sorted((str(c.kind), c.element_id, c.attribute) for c in conflicts)
