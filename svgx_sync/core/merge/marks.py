"""Conflict marks in files: a merge's conflicts written into the merged SVG, read back,
and resolved one by one by carrying out a choice.
"""

from __future__ import annotations

from typing import Any

from ...errors import DocumentError, NotFound, OperationError
from ..namespaces import SVGX_NS, USUAL_NAMESPACES, clark
from ..svgdoc import SvgDocument, escape_attr, is_element
from .records import (
    CONFLICT_TAG,
    CONFLICTS_ID,
    FLAGS,
    Conflict,
    ConflictKind,
    MergeResult,
    fresh_id,
)
from .style import edit_style, style_of

__all__ = ["mark_conflicts", "read_conflicts", "remove_marks", "resolve_marked"]

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
    """Carry out ``choice`` for ``conflict`` in ``doc``, by the conflict's kind."""
    kind = conflict.kind
    if kind in FLAGS or kind in (ConflictKind.FILE_DELETE_MODIFY, ConflictKind.ADD_ADD):
        return
    value = _value_for(conflict, choice)
    el = doc.find(conflict.element_id)
    if kind in (ConflictKind.ATTRIBUTE, ConflictKind.TEXT):
        if el is None:
            raise OperationError(f"element {conflict.element_id!r} is gone")
        _choose_content(doc, el, conflict, value)
        return
    if kind == ConflictKind.DUPLICATE_ID:
        _choose_id(doc, conflict, choice)
        return
    if choice.startswith("value:"):
        raise OperationError(f"a {kind} conflict takes ours, theirs or base, not a value")
    if kind in (ConflictKind.EDIT_DELETE, ConflictKind.DELETE_EDIT):
        _choose_element(doc, el, conflict, value)
    elif kind in (ConflictKind.PARENT, ConflictKind.CYCLE, ConflictKind.MOVE_INTO_DELETED):
        if el is not None and value is not None:
            _choose_parent(doc, el, value)
    elif kind == ConflictKind.REORDER:
        if el is not None and value is not None:
            _choose_order(doc, el, value)


def _choose_content(doc: SvgDocument, el: Any, conflict: Conflict, value: str | None) -> None:
    """An attribute, one style declaration, the text or the tail set to ``value``."""
    name = conflict.attribute
    if conflict.kind == ConflictKind.TEXT:
        if name == "tail":
            doc.set_tail(el, value)
        else:
            doc.set_text(el, value)
    elif name is not None and name.startswith("style:"):
        prop = name[len("style:") :]
        raw = el.get("style") or ""
        if prop in style_of(raw):
            new = edit_style(raw, {prop: value})
        else:
            new = edit_style(raw, {prop: value}) if value is not None else raw
        doc.set_attribute(el, "style", new if new.strip() else None)
    elif name is not None:
        doc.set_attribute(el, _conflict_key(name, el), value)


def _choose_element(doc: SvgDocument, el: Any, conflict: Conflict, value: str | None) -> None:
    """A deleted or edited element: gone (``value`` None) or put back as ``value``'s markup."""
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


def _choose_parent(doc: SvgDocument, el: Any, value: str) -> None:
    target = doc.find(value)
    if target is None:
        raise OperationError(f"the chosen parent {value!r} is not in the file")
    if el.getparent() is not target:
        doc.move(el, target, len(target))


def _choose_order(doc: SvgDocument, el: Any, value: str) -> None:
    wanted = [doc.find(a) for a in value.split()]
    if any(w is None or w.getparent() is not el for w in wanted):
        raise OperationError("the chosen order names children that are not there")
    for w in wanted:
        doc.move(w, el, len(el))


def _choose_id(doc: SvgDocument, conflict: Conflict, choice: str) -> None:
    """Theirs renamed: keep it (ours), swap the ids (theirs) or give it a value's id."""
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


def _conflict_key(name: str, el: Any) -> str:
    """lxml's key for a conflict's attribute name (see :func:`_prefixed`): by the
    element's bindings, else the usual prefixes; the merge's own names (``style:fill``,
    one already ``{namespace}local``) and unknown prefixes stay as they are."""
    if name.startswith(("style:", "{")):
        return name
    return clark(name, el.nsmap, USUAL_NAMESPACES) or name
