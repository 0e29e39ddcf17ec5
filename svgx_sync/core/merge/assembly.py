"""Tree assembly: theirs' new elements, moves, reorders and deletions put into ours.

Replayed in a fixed order: reorders of the children both sides kept, then insertions
and moves in theirs' document order (so each lands after its nearest surviving previous
sibling), and deletions last (so elements theirs moved out of a deleted group survive).
What would break the tree (a cycle, a move into a deleted group) becomes a conflict.
"""

from __future__ import annotations

import copy
from difflib import SequenceMatcher
from typing import Any

from ..svgdoc import is_element
from .records import ConflictKind
from .state import MergeState, Pending
from .tree import ROOT, Key

__all__ = ["delete", "place_theirs", "reorder"]


def place_theirs(m: MergeState) -> None:
    B, O, T = m.B, m.O, m.T
    stack = [ROOT]
    while stack:
        pkey = stack.pop()
        for key in T.nodes[pkey].children:
            if key not in B.nodes and key not in O.nodes:
                if pkey in m.el and not (pkey not in B.nodes and pkey not in O.nodes):
                    _insert_copy(m, key, pkey)
            elif key in B.nodes and T.parent(key) != B.parent(key) and key in O.nodes:
                _move(m, key, pkey)
        stack.extend(reversed(T.nodes[pkey].children))


def _insert_copy(m: MergeState, key: Key, pkey: Key) -> None:
    """Copy theirs' new subtree, without the existing elements theirs moved into it."""
    T = m.T
    source = T.nodes[key].el
    clone = copy.deepcopy(source)
    clone.tail = None
    pairs = list(zip(source.iter(), clone.iter(), strict=True))
    drop = []
    for orig, new in pairs:
        if not is_element(orig):
            continue
        k = T.key_of[orig]
        if k in m.B or k in m.O:
            drop.append(new)
        else:
            m.el[k] = new
            m.key_of[new] = k
    for new in drop:
        if any(a in drop for a in new.iterancestors()):
            continue
        _detach(new)
    _put(m, key, clone, pkey, new=True)


def _move(m: MergeState, key: Key, pkey: Key) -> None:
    O, B, T = m.O, m.B, m.T
    if key in m.handled:
        return
    if O.parent(key) == pkey:
        return
    if O.parent(key) != B.parent(key):
        m.pending.append(
            m.placement(
                ConflictKind.PARENT,
                key,
                m.addr(T, pkey),
                "both sides moved it under different parents; ours kept",
            )
        )
        return
    target = m.el.get(pkey)
    if target is None or pkey in m.deleted_by_ours or not m.attached(target):
        m.pending.append(
            m.placement(
                ConflictKind.MOVE_INTO_DELETED,
                key,
                m.addr(T, pkey),
                "theirs moved it into a group ours deleted; it stays where it was",
            )
        )
        return
    el = m.el[key]
    node = target
    while node is not None:
        if node is el:
            m.pending.append(
                m.placement(
                    ConflictKind.CYCLE,
                    key,
                    m.addr(T, pkey),
                    "theirs' move would put it inside itself after ours' moves; "
                    "ours' structure kept",
                )
            )
            return
        node = node.getparent()
    _put(m, key, el, pkey, new=False)


def _put(m: MergeState, key: Key, el: Any, pkey: Key, *, new: bool) -> None:
    """Insert after theirs' nearest previous sibling that the merge has."""
    parent = m.el[pkey]
    siblings = m.T.nodes[pkey].children
    anchor = None
    for prev in reversed(siblings[: siblings.index(key)]):
        pe = m.el.get(prev)
        if pe is not None and pe is not el and pe.getparent() is parent:
            anchor = pe
            break
    if el.getparent() is not None:
        m.doc.remove(el)
    elems = [c for c in parent if is_element(c)]
    pos = elems.index(anchor) + 1 if anchor is not None else 0
    base_kids = set(m.B.nodes[pkey].children) if pkey in m.B else set()
    theirs_kids = set(siblings)
    skipped = []
    while pos < len(elems):
        k = m.key_of.get(elems[pos])
        if k is None or k in base_kids or k in theirs_kids:
            break
        skipped.append(k)
        pos += 1
    index = list(parent).index(elems[pos]) if pos < len(elems) else len(parent)
    m.doc.insert(parent, index, el)
    if skipped and new:
        m.notes.append(
            f"both sides inserted at the same place in {m.addr_merged(pkey)}: "
            f"ours' {', '.join(m.addr_merged(k) for k in skipped)} first, then "
            f"theirs' {m.addr_merged(key)}"
        )


def reorder(m: MergeState) -> None:
    B, O, T = m.B, m.O, m.T
    for pkey, bnode in B.nodes.items():
        if len(bnode.children) < 2:
            continue  # nothing to reorder
        if pkey not in O.nodes or pkey not in T.nodes or pkey in m.protected:
            continue
        if T.nodes[pkey].children == bnode.children:
            continue  # theirs kept these children as they were
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
            m.pending.append(
                Pending(
                    ConflictKind.REORDER,
                    pkey,
                    base=" ".join(B.address(k) for k in common),
                    ours=" ".join(O.address(k) for k in o3),
                    theirs=" ".join(T.address(k) for k in t3),
                    detail="both sides reordered these children differently; ours kept",
                )
            )
            continue
        _apply_order(m, pkey, cs, t3)


def _apply_order(m: MergeState, pkey: Key, common: set[Key], order: list[Key]) -> None:
    parent = m.el[pkey]
    current = [m.key_of[c] for c in parent if is_element(c)]
    wanted = list(order)
    target = [wanted.pop(0) if k in common else k for k in current]
    sm = SequenceMatcher(None, current, target, autojunk=False)
    stay = set()
    for block in sm.get_matching_blocks():
        stay.update(current[block.a : block.a + block.size])
    for i, k in enumerate(target):
        if k in stay:
            continue
        el = m.el[k]
        m.doc.remove(el)
        if i == 0:
            first = next((c for c in parent if is_element(c)), None)
            index = list(parent).index(first) if first is not None else len(parent)
        else:
            index = list(parent).index(m.el[target[i - 1]]) + 1
        m.doc.insert(parent, index, el)


def delete(m: MergeState) -> None:
    O = m.O
    gone = m.deleted_by_theirs
    for root in [k for k in gone if O.parent(k) not in gone]:
        if root in m.protected:
            continue
        el = m.el[root]
        if el.getparent() is not None and m.attached(el):
            m.doc.remove(el)


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
