"""What changed between two sets of files, element by element, for people to read.

:mod:`svgx_sync.core.diff` says how to *turn* one version into another (operations in an
order that applies); this module says *what is different*, one entry per element, the way
the visual diff page lists and tints them. It keeps these rules:

* Elements are matched exactly as :func:`~svgx_sync.core.diff.match_elements` matches
  them (by ``id``, else by position among same-tag siblings of a matched parent), so the
  page and the operations never disagree about which element is which.
* Every element is one of: ``added`` (only in the new version), ``removed`` (only in the
  old one), ``changed`` (in both, with a different attribute, a different own text, or a
  different place) or unchanged (not listed). An element inside an added or removed
  subtree is listed too: each one is drawn, so each one is tinted.
* An element's own text is its text and the tails of its children (what
  ``<text>a<tspan>b</tspan>c</text>`` says itself: ``ac``); whitespace alone counts as
  none, so indentation changes nothing.
* ``moved`` is true for an element that has another parent, or that is out of order
  among the siblings that stayed with it: the fewest such elements (the others form
  the longest run in their old order), so moving one element to the front marks that
  one, not every sibling it jumped over.
* Attributes are named as operations name them (``xlink:href``), in the new version's
  order, then the removed ones; ``old``/``new`` is None where the attribute is absent.
* A file only one side has lists each of its elements as added or removed.
* Entries come per file (sorted by path): the new version's elements in document order
  (added and changed), then the removed ones in the old version's document order.

Pure: documents in, dicts out; neither document is changed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

from lxml import etree

from ..errors import OperationError
from .diff import match_elements
from .namespaces import attribute_name
from .regions import WORTH_FROM, regions_changes
from .svgdoc import SvgDocument, element_paths
from .xmltext import is_blank, is_element

__all__ = [
    "ADDED",
    "CHANGED",
    "REMOVED",
    "changes_from_text",
    "document_changes",
    "element_changes",
]

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"


def element_changes(
    old_files: Mapping[str, SvgDocument],
    new_files: Mapping[str, SvgDocument],
    known: Mapping[str, list[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """The changed elements from ``old_files`` to ``new_files`` (path -> document).

    Each entry: ``{"file", "element_id", "path", "kind", "tag", "attributes": [{"name",
    "old", "new"}], "text": {"old", "new"} or None, "moved"}``. ``element_id`` is the
    element's ``id``, or its ``/i/j`` position when it has none (in the new version, or
    the old one for a removed element); ``path`` is ``{"old", "new"}``: its position in
    each version (None on the side that lacks it), so a page can find it in both.
    ``known``: the entries of files compared already (:func:`changes_from_text`), which
    neither mapping holds.
    """
    known = known or {}
    changes: list[dict[str, Any]] = []
    for file in sorted(old_files.keys() | new_files.keys() | known.keys()):
        if file in known:
            changes.extend(known[file])
        else:
            changes.extend(document_changes(old_files.get(file), new_files.get(file), file))
    return changes


def changes_from_text(old: bytes, new: bytes, file: str) -> list[dict[str, Any]] | None:
    """:func:`document_changes` of the two versions' parses, told from their text where
    they differ in a few places (:func:`~.regions.regions_changes`), or None when only
    the parses can tell. A big drawing with one fill changed is then never built whole:
    at 561k elements, parsing and matching both versions took 29 s and 3.1 GB."""
    if len(new) < WORTH_FROM:
        return None
    return regions_changes(old, new, file, document_changes)


def document_changes(
    old: SvgDocument | None, new: SvgDocument | None, file: str
) -> list[dict[str, Any]]:
    """The entries of :func:`element_changes` for one file (None: the side lacks it)."""
    if old is None and new is None:
        return []
    if old is None:
        assert new is not None
        return [_one_sided(new, el, file, ADDED) for el in _elements(new.root)]
    if new is None:
        return [_one_sided(old, el, file, REMOVED) for el in _elements(old.root)]
    match = match_elements(old, new)
    moved = _moved(match)
    old_paths = element_paths(old.root)
    new_paths = element_paths(new.root)
    out: list[dict[str, Any]] = []
    for el in _elements(new.root):
        before = match.get(el)
        if before is None:
            out.append(_one_sided(new, el, file, ADDED, new_paths))
            continue
        attributes = _attribute_changes(old, before, new, el)
        text = _text_change(_own_text(before), _own_text(el))
        is_moved = el in moved
        if attributes or text is not None or is_moved:
            out.append(
                _entry(
                    file,
                    _element_id(el, new_paths),
                    CHANGED,
                    el,
                    attributes,
                    text,
                    {"old": old_paths[before], "new": new_paths[el]},
                    moved=is_moved,
                )
            )
    kept = set(match.values())
    for el in _elements(old.root):
        if el not in kept:
            out.append(_one_sided(old, el, file, REMOVED, old_paths))
    return out


# -- one element -------------------------------------------------------------------------


def _entry(
    file: str,
    element_id: str,
    kind: str,
    el: Any,
    attributes: list[dict[str, str | None]],
    text: dict[str, str | None] | None,
    path: dict[str, str | None],
    *,
    moved: bool = False,
) -> dict[str, Any]:
    return {
        "file": file,
        "element_id": element_id,
        "path": path,
        "kind": kind,
        "tag": str(etree.QName(el).localname),
        "attributes": attributes,
        "text": text,
        "moved": moved,
    }


def _one_sided(
    doc: SvgDocument, el: Any, file: str, kind: str, paths: Mapping[Any, str] | None = None
) -> dict[str, Any]:
    """An element only one version has: every attribute (and its text) appears or goes."""
    added = kind == ADDED
    attributes: list[dict[str, str | None]] = []
    for key, value in el.attrib.items():
        name = _name(doc, el, key)
        attributes.append(
            {"name": name, "old": None, "new": value}
            if added
            else {"name": name, "old": value, "new": None}
        )
    own = _own_text(el)
    text = (
        None if own is None else ({"old": None, "new": own} if added else {"old": own, "new": None})
    )
    position = paths[el] if paths is not None else doc.position_of(el)
    ident = el.get("id")
    element_id = ident if ident and el is not doc.root else position
    path = {"old": None, "new": position} if added else {"old": position, "new": None}
    return _entry(file, element_id, kind, el, attributes, text, path)


def _element_id(el: Any, paths: Mapping[Any, str]) -> str:
    ident = el.get("id")
    return str(ident) if ident and el.getparent() is not None else paths[el]


def _attribute_changes(
    old: SvgDocument, before: Any, new: SvgDocument, after: Any
) -> list[dict[str, str | None]]:
    old_attrib, new_attrib = before.attrib, after.attrib
    changes: list[dict[str, str | None]] = []
    for key, value in new_attrib.items():
        was = old_attrib.get(key)
        if was != value:
            changes.append({"name": _name(new, after, key), "old": was, "new": value})
    for key, was in old_attrib.items():
        if key not in new_attrib:
            changes.append({"name": _name(old, before, key), "old": was, "new": None})
    return changes


def _name(doc: SvgDocument, el: Any, key: str) -> str:
    try:
        return attribute_name(doc, el, key)
    except OperationError:  # cannot be: lxml read the namespace from the file
        return key


def _own_text(el: Any) -> str | None:
    """The element's text and its children's tails, or None when that is only blank."""
    parts = [el.text or ""]
    parts.extend(child.tail or "" for child in el)
    text = "".join(parts)
    return None if is_blank(text) else text


def _text_change(old: str | None, new: str | None) -> dict[str, str | None] | None:
    return None if old == new else {"old": old, "new": new}


# -- places ------------------------------------------------------------------------------


def _elements(root: Any) -> list[Any]:
    return list(root.iter(etree.Element))


def _moved(match: Mapping[Any, Any]) -> set[Any]:
    """The matched new elements that changed parent or left the order of their siblings.

    Per new parent, the children that stayed with its old match keep their longest run in
    old order (longest increasing subsequence of their old indices); the rest moved.
    """
    moved: set[Any] = set()
    for new_parent, old_parent in match.items():
        stayed: list[Any] = []
        for child in new_parent:
            if not is_element(child) or child not in match:
                continue
            before = match[child]
            if before.getparent() is not old_parent:
                moved.add(child)
            else:
                stayed.append(child)
        if len(stayed) < 2:
            continue
        old_index = {c: i for i, c in enumerate(c for c in old_parent if is_element(c))}
        order = [old_index[match[child]] for child in stayed]
        keep = _longest_increasing(order)
        moved.update(child for i, child in enumerate(stayed) if i not in keep)
    return moved


def _longest_increasing(values: list[int]) -> set[int]:
    """The positions in ``values`` of one longest strictly increasing subsequence."""
    tails: list[int] = []  # values[tail_at[k]] is the least end of a run of length k+1
    tail_at: list[int] = []
    previous: list[int] = [-1] * len(values)
    for i, value in enumerate(values):
        k = bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
            tail_at.append(i)
        else:
            tails[k] = value
            tail_at[k] = i
        previous[i] = tail_at[k - 1] if k else -1
    keep: set[int] = set()
    i = tail_at[-1] if tail_at else -1
    while i != -1:
        keep.add(i)
        i = previous[i]
    return keep
