"""Per-element decisions: what each element of theirs changed, set against ours.

Deletions against edits (an element one side deleted and the other edited is kept, or
stays deleted, with a conflict), attribute and text edits (``style`` declaration by
declaration), and the flags for references and constraints left dangling. Everything
that would overwrite an edit of ours becomes a conflict instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..namespaces import KNOWN_PREFIXES, XLINK_NS, attribute_name
from ..svgdoc import SvgDocument
from .records import CONSTRAINT_TAG, ConflictKind
from .state import MergeState, Pending
from .style import edit_style, style_of
from .tree import ROOT, Key, Node

__all__ = ["check_deletes", "edit_contents", "flag_references"]


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


def check_deletes(m: MergeState) -> None:
    """Deletions of either side against edits of the other (before anything moves)."""
    _check_theirs_deletes(m)
    _check_ours_deletes(m)


def _check_theirs_deletes(m: MergeState) -> None:
    O, B = m.O, m.B
    gone = m.deleted_by_theirs
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
            if m.changed(O, k):
                edited = True
            stack.extend(O.nodes[k].children)
        if not edited and not moved_in:
            continue
        m.protected.update(O.subtree(root))
        if edited:
            m.pending.append(
                Pending(
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
            m.handled.add(k)
            m.pending.append(
                m.placement(
                    ConflictKind.MOVE_INTO_DELETED,
                    k,
                    m.addr(m.T, m.T.parent(k)) if k in m.T else None,
                    f"ours moved it into {m.addr(O, root)}, which theirs deleted; "
                    "the group is kept",
                )
            )


def _check_ours_deletes(m: MergeState) -> None:
    T, B = m.T, m.B
    gone = m.deleted_by_ours
    for root in [k for k in gone if T.parent(k) not in gone]:
        edited = False
        stack = [root]
        while stack:
            k = stack.pop()
            if k not in gone and k in B:
                if T.parent(k) != B.parent(k):
                    m.handled.add(k)
                    m.pending.append(
                        m.placement(
                            ConflictKind.MOVE_INTO_DELETED,
                            k,
                            m.addr(T, T.parent(k)),
                            f"theirs moved it into {m.addr(T, root)}, which ours "
                            "deleted; it stays where ours has it",
                        )
                    )
                continue
            if m.changed(T, k):
                edited = True
            stack.extend(T.nodes[k].children)
        if edited:
            m.pending.append(
                Pending(
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


def edit_contents(m: MergeState) -> None:
    B, O, T = m.B, m.O, m.T
    by_text = m.by_text
    bsrc, tsrc = B.doc.source, T.doc.source
    bspans, tspans = B.doc.spans, T.doc.spans
    for key, tnode in T.nodes.items():
        onode = O.nodes.get(key)
        if onode is None:
            continue
        bnode = B.nodes.get(key)
        el = m.el[key]
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
                    same_attributes = bsrc[bs.start : bs.stag_end] == tsrc[ts.start : ts.stag_end]
        if not same_attributes:
            _edit_attributes(m, key, el, bnode, onode, tnode)
        _edit_text(m, key, el, bnode, onode, tnode)


def _edit_attributes(
    m: MergeState, key: Key, el: Any, bnode: Node | None, onode: Node, tnode: Node
) -> None:
    battrs = bnode.attrs if bnode is not None else {}
    oattrs, tattrs = onode.attrs, tnode.attrs
    for name in dict.fromkeys([*battrs, *tattrs]):
        b, t = battrs.get(name), tattrs.get(name)
        if b == t:
            continue
        o = oattrs.get(name)
        if name == "style":
            _merge_style(m, key, el, b, o, t)
            continue
        if o == b:
            m.doc.set_attribute(el, name, t, prefix=_prefix_for(name, tnode.el))
        elif o != t:
            m.pending.append(
                Pending(
                    ConflictKind.ATTRIBUTE,
                    key,
                    attribute=_prefixed(name, (m.doc, el), (m.T.doc, tnode.el)),
                    base=b,
                    ours=o,
                    theirs=t,
                    detail="both sides set it differently; ours kept",
                )
            )


def _edit_text(
    m: MergeState, key: Key, el: Any, bnode: Node | None, onode: Node, tnode: Node
) -> None:
    btext = bnode.text if bnode is not None else ""
    if tnode.text != btext:
        if onode.text == btext:
            m.doc.set_text(el, tnode.el.text)
        elif onode.text != tnode.text:
            m.pending.append(
                Pending(
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
            m.doc.set_tail(el, tnode.el.tail)
        elif onode.tail != tnode.tail:
            m.pending.append(
                Pending(
                    ConflictKind.TEXT,
                    key,
                    attribute="tail",
                    base=bnode.tail or None,
                    ours=onode.tail or None,
                    theirs=tnode.tail or None,
                    detail="both sides changed the text after it; ours kept",
                )
            )


def _merge_style(
    m: MergeState, key: Key, el: Any, b: str | None, o: str | None, t: str | None
) -> None:
    bs, os_, ts = style_of(b), style_of(o), style_of(t)
    if bs == ts:
        return
    if os_ == bs:
        m.doc.set_attribute(el, "style", t)
        return
    changes: dict[str, str | None] = {}
    for prop in dict.fromkeys([*bs, *ts]):
        bv, tv, ov = bs.get(prop), ts.get(prop), os_.get(prop)
        if bv == tv or ov == tv:
            continue
        if ov == bv:
            changes[prop] = tv
        else:
            m.pending.append(
                Pending(
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
        new = edit_style(o or "", changes)
        m.doc.set_attribute(el, "style", new if new.strip() else None)


def flag_references(m: MergeState) -> None:
    doc = m.doc
    known = set(m.O.doc.ids) | set(m.T.doc.ids) | set(m.B.doc.ids)
    present = set(doc.ids)
    for el in doc.elements():
        if el.tag == CONSTRAINT_TAG:
            targets = [el.get("element") or "", *(el.get("targets") or "").split()]
            for target in targets:
                if target and target not in present and target in known:
                    m.pending.append(
                        Pending(
                            ConflictKind.DANGLING_CONSTRAINT,
                            m.key_of.get(el, ("el", el)),
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
                m.pending.append(
                    Pending(
                        ConflictKind.DANGLING_REFERENCE,
                        m.key_of.get(el, ("el", el)),
                        attribute=_prefixed(attr, (doc, el)),
                        theirs=target,
                        detail=f"refers to #{target}, which the merge deleted",
                        blocking=False,
                    )
                )
