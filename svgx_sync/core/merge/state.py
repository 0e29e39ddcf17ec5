"""What one merge knows while it runs: the three versions' trees, the merged document
(ours, edited in place), where each key's element is in it, and the conflicts found.

The phases (:mod:`.elements`, per-element decisions; :mod:`.assembly`, the merged tree)
read and add to one :class:`MergeState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..svgdoc import SvgDocument
from .records import Conflict, ConflictKind, Versions, fresh_id
from .tree import Key, Tree, attr_state, deep, shallow

__all__ = ["MergeState", "Pending"]


@dataclass(slots=True)
class Pending:
    """A conflict found, by key: its addresses are known only once the merge is done."""

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


class MergeState:
    """The state of one merge of theirs into ours (see the package docstring)."""

    def __init__(self, docs: Versions[SvgDocument], file: str) -> None:
        self.file = file
        self.doc = docs.ours
        unusable = frozenset(
            {i for d in docs for i in d.duplicate_ids}
            | {i for d in docs if (i := d.root.get("id")) is not None}
        )
        self.B = Tree.build(docs.base, None, "base", unusable)
        self.O = Tree.build(docs.ours, self.B, "ours", unusable)
        self.T = Tree.build(docs.theirs, self.B, "theirs", unusable)
        self.pending: list[Pending] = []
        self.notes: list[str] = []
        self._same_inserts(docs.theirs, unusable)
        # Elements of base and theirs with equal start tags (as text) have equal tags and
        # attributes; see SvgDocument.source_start_tag.
        self.by_text = (
            docs.base.namespaces_on_root_only()
            and docs.theirs.namespaces_on_root_only()
            and docs.base.root.nsmap == docs.theirs.root.nsmap
        )
        self.el: dict[Key, Any] = {k: n.el for k, n in self.O.nodes.items()}
        self.key_of: dict[Any, Key] = dict(self.O.key_of)
        B, O, T = self.B, self.O, self.T
        self.deleted_by_theirs = {k for k in B.nodes if k in O.nodes and k not in T.nodes}
        self.deleted_by_ours = {k for k in B.nodes if k in T.nodes and k not in O.nodes}
        self.protected: set[Key] = set()
        """Ours' elements kept although theirs deleted them (ours edited inside)."""
        self.handled: set[Key] = set()
        """Elements whose placement is already a conflict."""

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
                sig = deep(tnode.el)
                for okey in onode.children:
                    if okey[0] == "new" and okey not in alias.values():
                        if deep(O.nodes[okey].el) == sig:
                            alias[key] = okey
                            break
            elif key[0] == "id" and key in O.nodes:
                onode = O.nodes[key]
                if shallow(onode.el) == shallow(tnode.el) and onode.parent == tnode.parent:
                    continue
                old = str(key[1])
                fresh = fresh_id(old, all_ids)
                all_ids.add(fresh)
                theirs_doc.set_attribute(tnode.el, "id", fresh)
                renames += 1
                self.pending.append(
                    Pending(
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
            self.T = Tree.build(theirs_doc, B, "theirs", unusable, alias)

    # -- addresses and helpers ---------------------------------------------------------

    def changed(self, side: Tree, key: Key) -> bool:
        """Whether ``side`` created, edited or re-parented this element."""
        if key not in self.B:
            return True
        b, s = self.B.nodes[key], side.nodes[key]
        return (
            attr_state(b.attrs) != attr_state(s.attrs) or b.text != s.text or b.parent != s.parent
        )

    def placement(self, kind: ConflictKind, key: Key, theirs: str | None, detail: str) -> Pending:
        """A conflict over where ``key`` goes: its parent in base and ours, and ``theirs``."""
        B, O = self.B, self.O
        return Pending(
            kind,
            key,
            base=self.addr(B, B.parent(key)),
            ours=self.addr(O, O.parent(key)),
            theirs=theirs,
            detail=detail,
        )

    def addr(self, tree: Tree, key: Key | None) -> str | None:
        if key is None:
            return None
        return tree.address(key)

    def attached(self, el: Any) -> bool:
        node = el
        while node.getparent() is not None:
            node = node.getparent()
        return node is self.doc.root

    def addr_merged(self, key: Key) -> str:
        if key[0] == "id":
            return str(key[1])
        el = self.el.get(key)
        if el is not None and self.attached(el):
            return self.doc.address_of(el)
        return self.T.address(key) if key in self.T else self.O.address(key)

    def conflicts(self) -> list[Conflict]:
        out = []
        for p in self.pending:
            if p.key[0] == "el":
                element_id = self.doc.address_of(p.key[1])
            elif p.where == "theirs" and p.key[0] != "id":
                element_id = self.T.address(p.key)
            else:
                element_id = self.addr_merged(p.key)
            parent = self.addr_merged(p.parent) if p.parent is not None else None
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
