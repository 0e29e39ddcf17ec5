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

from collections.abc import Iterable
from typing import Any

from ..regions import WORTH_FROM, regions_merge
from ..svgdoc import SvgDocument
from . import assembly, elements
from .marks import mark_conflicts, read_conflicts, remove_marks, resolve_marked
from .records import CONFLICTS_ID, Conflict, ConflictKind, MergeResult, Versions, fresh_id
from .state import MergeState
from .tree import Tree

__all__ = [
    "CONFLICTS_ID",
    "Conflict",
    "ConflictKind",
    "MergeResult",
    "Versions",
    "conflict_key",
    "fresh_id",
    "mark_conflicts",
    "merge_documents",
    "read_conflicts",
    "remove_marks",
    "resolve_marked",
    "states",
]


def merge_documents(versions: Versions[bytes | None], *, file: str) -> MergeResult:
    """Merge theirs into ours relative to base; None stands for a missing file.

    Raises :class:`DocumentError` when a version present is not an SVG we can read.
    """
    return _merge(versions, file, by_regions=True)


def _merge(versions: Versions[bytes | None], file: str, *, by_regions: bool) -> MergeResult:
    """:func:`merge_documents`; ``by_regions``: where the versions differ in a few places,
    merge small documents of those places (:mod:`..regions`), with the same result."""
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
        return MergeResult(ours, touched=[])
    if ours == base:
        SvgDocument(theirs, name=file)
        return MergeResult(theirs)
    if by_regions and len(ours) >= WORTH_FROM:
        found = regions_merge((base, ours, theirs), lambda b, o, t: _run(Versions(b, o, t), file))
        if found is not None:
            return MergeResult(*found)
    docs = Versions(
        SvgDocument(base, name=file), SvgDocument(ours, name=file), SvgDocument(theirs, name=file)
    )
    return _run(docs, file)


def _same_elements(a: bytes, b: bytes, file: str) -> bool:
    if a == b:
        return True
    ta = Tree.build(SvgDocument(a, name=file), None, "base", frozenset())
    tb = Tree.build(SvgDocument(b, name=file), ta, "ours", frozenset())
    return ta.states() == tb.states()


def _run(docs: Versions[SvgDocument], file: str) -> MergeResult:
    """Theirs' changes replayed on ours, in the order the package docstring gives."""
    m = MergeState(docs, file)
    elements.check_deletes(m)
    assembly.reorder(m)
    assembly.place_theirs(m)
    elements.edit_contents(m)
    assembly.delete(m)
    elements.flag_references(m)
    merged = m.doc.to_bytes()
    return MergeResult(merged, m.conflicts(), m.notes)


def states(data: bytes) -> set[tuple[Any, ...]]:
    """An element-level view of a file for comparisons: key, tag, attributes, text, parent."""
    doc = SvgDocument(data)
    unusable = frozenset(doc.duplicate_ids)
    return Tree.build(doc, None, "base", unusable).states()


def conflict_key(conflicts: Iterable[Conflict]) -> list[tuple[str, str, str | None]]:
    """(kind, element_id, attribute) of each conflict, sorted: what fixtures list."""
    return sorted((str(c.kind), c.element_id, c.attribute) for c in conflicts)
