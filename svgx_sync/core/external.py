"""Changes made beside the daemon: other programs saving files, git moving the refs.

Rules kept here (pure: bytes, names and numbers in, decisions out; the watcher in
:mod:`svgx_sync.daemon.watcher` reads the files and carries the decisions out):

* An SVG file that changed on disk is one side of a **three-way merge**. ``base`` is what
  the daemon last wrote or loaded for that file, ``ours`` is the live state, ``theirs``
  is the file on disk. :func:`external_change` turns ``base → theirs`` into element-level
  operations (:func:`svgx_sync.core.diff.diff_documents`). The daemon submits them to the live
  session as one user of their own (:data:`EXTERNAL_USER`) with ``base_seq`` set to the
  sequence number at which ``base`` was written; the live conflict rules
  (:func:`svgx_sync.core.conflicts.arbitrate`) then see exactly the live edits made since
  ``base`` as concurrent, and the session's strategy decides every overlap. Replaying
  ``base → theirs`` on top of ``ours`` under those rules is the three-way merge: edits
  only one side made are kept, edits both made are conflicts.
* Our own writes cause no echo, recognised by content and not by timing: a file whose
  bytes equal ``base`` (the daemon's last write) or ``ours`` (the live state) is nothing
  new. A file rewritten with other formatting but the same elements (quotes, attribute
  order, indentation, line endings) gives no operation and is no change either.
* ``base`` is the version the saving program most likely loaded: of the recent versions
  the daemon wrote or took (newest first, each with its ``seq``), the one closest to the
  saved file, counted in attributes that differ (:func:`closest_version`; ties go to the
  newer). An editor that read the file several writes ago and saves its copy with one
  change of its own then brings that one change, and the live edits made since stay.
  A saved file equal to an older version of ours has no change of its own: the live
  state is written over it. The bytes also fit an up-to-date copy in which the user
  undid the live edits since; what that reading would change and the stale one leaves
  out (:func:`unread_changes`) is reported, as ``stale_save`` conflicts.
* The daemon replaces a file only when it holds bytes the daemon has seen (written,
  loaded or merged; :func:`may_replace`), checked just before the rename. Other bytes
  are an edit not merged yet: the write is skipped and the file is judged as a save.
* Only an SVG file is taken in (:func:`svgx_sync.core.intake.screen_svg`: well-formed, an SVG
  root, no entity declarations, within the size limits). A file whose end is missing (an
  editor caught mid-save, a truncated copy) is never applied: the outcome is ``wait``,
  and the next change to the file is judged afresh; one left incomplete for a grace
  period is rejected (:func:`settle_incomplete`). Anything else that is not an SVG file
  is ``rejected`` at once: nothing is applied, the base stays, and the next save is
  judged afresh against it.
* A save that drops what the live state names (ids stripped from elements that are
  still there, the constraints and assemblies of ``<metadata id="svgx-model">``) is
  applied as far as it goes, but it carries a :class:`Loss` (:func:`external_loss`):
  the daemon makes a version of the state before and tells the clients what was lost.
* A save that rewrites most of a big file (more element placements than
  :func:`most_placed` allows: each ``create``, ``delete`` or ``move`` walks its parent's
  children, so thousands of them on a big file cost minutes) is taken **whole**: the
  file becomes the saved bytes, as one entry. Beside live edits made since ``base`` it
  carries a :class:`Loss` saying so, and the live state is kept as a version first.
* A new SVG file becomes part of the document (``file_add``); a deleted one is a
  deletion (``file_delete``). A deletion against live edits made since ``base`` is a
  conflict decided by :func:`file_delete_decision`.
* A file in which git has a **merge conflict** still to settle (unmerged in git's
  index, or carrying the merge driver's conflict block or git's text markers) is not
  content: :func:`git_conflict` says so, and the watcher holds the file (nothing of it is
  taken in, nothing is written over it) until the user settles it; the settled file is
  then judged like any save.
* A HEAD or ref change made with the git command is classified by
  :func:`classify_head_move` (new commits on the branch, a branch switch, a rewind);
  the files it changed in the working tree come in as ordinary file changes.
  Which live session owns the working tree after a checkout is
  :func:`checkout_sessions`: a **detached HEAD** parks the session of the branch that
  was checked out (it goes on taking edits, journaled and checkpointed on its branch,
  and writes nothing into the detached tree); going back to that branch gives it the
  working tree again, and checking out another branch moves its clients there.
* Auto-versions (off by default) are due after a quiet period with no change
  (:func:`auto_version_due`); their message says so (:data:`AUTO_VERSION_PREFIX`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from array import array
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, TypeAlias

from lxml import etree

from ..errors import ClientError, DocumentError
from .active import ServedFile
from .conflict_record import ConflictRecord, ConflictStatus, OpRef
from .conflicts import Strategy
from .diff import FILE_ADD, FILE_DELETE, SweepingChange, diff_documents
from .intake import Verdict, screen_svg
from .merge import CONFLICTS_ID, read_conflicts
from .nearest import START_TAG, closest_by_differences, element_items, parsed_root, root_start
from .ops import EXTERNAL_USER, MODEL_ID, Operation, apply_operation, coerce_operation
from .svgdoc import SvgDocument, _parser, element_paths
from .xmltext import common_ends

__all__ = [
    "AUTO_VERSION_PREFIX",
    "Checkout",
    "DeleteDecision",
    "ExternalChange",
    "GitConflict",
    "HeadMove",
    "HeadState",
    "Loss",
    "Outcome",
    "auto_version_due",
    "auto_version_message",
    "base_after_head_move",
    "checkout_sessions",
    "classify_head_move",
    "closest_version",
    "content_id",
    "delete_conflict",
    "element_fingerprint",
    "element_ids",
    "external_change",
    "external_loss",
    "file_delete_decision",
    "git_conflict",
    "is_svg_path",
    "judged_again",
    "loss_message",
    "made_from_newest",
    "may_replace",
    "settle_incomplete",
    "to_operations",
    "unread_changes",
]

AUTO_VERSION_PREFIX = "Auto-version:"
"""First words of the message of every version made after a quiet period."""


class Outcome(StrEnum):
    IGNORE = "ignore"
    """Nothing to do: our own write, no change, or formatting only."""
    WAIT = "wait"
    """The file is not whole yet (its end is missing); judge the next change afresh."""
    REJECTED = "rejected"
    """Not an SVG file (``reason`` says why): nothing is applied, the base stays."""
    OPERATIONS = "operations"
    """Element-level operations to submit as :data:`EXTERNAL_USER` on top of ``base``."""
    FILE_ADD = "file_add"
    """A new file joins the document with the bytes on disk."""
    WHOLE = "whole"
    """The save rewrote most of the file: it becomes the bytes on disk, as one entry (see
    :func:`most_placed`); beside live edits, after a version of the live state."""
    FILE_DELETE = "file_delete"
    """The file was removed; see :func:`file_delete_decision`."""


@dataclass(frozen=True, slots=True)
class ExternalChange:
    """What to do about one file that changed on disk.

    ``operations`` are plain dicts as :func:`~svgx_sync.core.diff.diff_documents` gives them
    (``operation_type``, ``element_id``, ``data``, ``file``), in the order to apply.
    ``live_edited`` says the live state moved away from ``base`` (there are live edits
    the file does not have), which is what makes a deletion a conflict. ``loss`` names
    what the operations drop that only a version can keep (see :class:`Loss`).
    """

    outcome: Outcome
    file: str
    reason: str
    operations: tuple[dict[str, Any], ...] = ()
    data: bytes | None = None
    live_edited: bool = False
    loss: Loss | None = None
    whole: ServedFile | None = None
    """``data`` parsed and served, for a file taken whole or added (judged off the loop,
    so that the loop does not parse it again)."""


def external_change(
    base: bytes | None, live: bytes | None, disk: bytes | None, file: str
) -> ExternalChange:
    """Judge one file: ``base`` last written or loaded, ``live`` now, ``disk`` as read.

    None stands for "no such file". Never raises for a bad file on disk: a file whose
    end is missing is ``wait``, any other that is not an SVG file is ``rejected``.
    """
    live_edited = live != base
    if disk is not None and (disk == base or disk == live):
        # Content, not timing: the bytes are ones we wrote or already hold.
        why = "the daemon's own write" if disk == base else "already the live state"
        return ExternalChange(Outcome.IGNORE, file, why, live_edited=live_edited)
    if disk is None:
        if live is None:
            return ExternalChange(Outcome.IGNORE, file, "already absent")
        if base is None:
            # Created live and not written yet: the daemon's next write brings it.
            return ExternalChange(Outcome.IGNORE, file, "not written yet")
        return ExternalChange(
            Outcome.FILE_DELETE, file, "removed from the working tree", live_edited=live_edited
        )
    # The parse or diff below refuses a file nested deeper than a file may be.
    screening = screen_svg(disk, nesting=False)
    if screening.verdict is Verdict.INCOMPLETE:
        return ExternalChange(Outcome.WAIT, file, f"not a whole SVG yet: {screening.reason}")
    if screening.verdict is Verdict.REJECTED:
        return ExternalChange(Outcome.REJECTED, file, f"not an SVG file: {screening.reason}")
    whole = None
    if live is None or base is None:
        try:
            if live is None:  # added as it is, unless it is an old copy (below)
                whole = ServedFile.read(disk, file)
            else:
                SvgDocument(disk, name=file)
        except DocumentError as exc:
            return ExternalChange(Outcome.REJECTED, file, f"not an SVG file we can read: {exc}")
    if live is None:
        if base is not None and _same_elements(base, disk, file):
            # Deleted live; the file on disk is the old one in other clothes.
            return ExternalChange(Outcome.IGNORE, file, "formatting only, deleted live")
        # New, or edited on disk after a live deletion: an edit is not lost to a delete.
        reason = "new file" if base is None else "edited on disk after a live deletion"
        return ExternalChange(
            Outcome.FILE_ADD, file, reason, data=disk, live_edited=live_edited, whole=whole
        )
    origin = base if base is not None else live
    most = most_placed(origin, disk)
    try:
        try:
            changes = diff_documents(
                origin, disk, file, new_read=screening.xml_read, most_placed=most
            )
        except SweepingChange:
            whole = ServedFile.read(disk, file)  # raises for a file we cannot read
            loss = external_loss(live if live_edited else origin, disk, file, parsed=whole.doc)
            if live_edited:
                # Merging would cost minutes: the live state is kept as a version instead.
                loss = replace(loss or Loss((), (), ()), live_edits_replaced=True)
            return ExternalChange(
                Outcome.WHOLE,
                file,
                f"more than {most} elements placed: taken whole",
                data=disk,
                live_edited=live_edited,
                loss=loss,
                whole=whole,
            )
    except DocumentError as exc:
        # base came from us and parsed before, and the file on disk is whole XML: it is
        # one we cannot read (an encoding that does not round-trip, say).
        return ExternalChange(Outcome.REJECTED, file, f"not an SVG file we can read: {exc}")
    if not changes:
        return ExternalChange(Outcome.IGNORE, file, "formatting only", live_edited=live_edited)
    # Only a deletion can drop an id or the model, so the costlier check runs on those.
    deletes = any(c["operation_type"] == "delete" for c in changes)
    return ExternalChange(
        Outcome.OPERATIONS,
        file,
        f"{len(changes)} element change(s)",
        operations=tuple(changes),
        data=disk,
        live_edited=live_edited,
        loss=external_loss(origin, disk, file) if deletes else None,
    )


def judged_again(
    change: ExternalChange, base: bytes | None, live: bytes | None, disk: bytes | None
) -> ExternalChange | None:
    """``change``, judged from ``base`` while the live state was something else, made
    the judgment of :func:`external_change` for ``live`` now, without comparing the
    files again: the comparison reads ``base`` and ``disk`` alone, and only the
    shortcuts and ``live_edited`` read the live state. None where more of the judgment
    reads it (no base, no live file, a save taken whole): it must run again."""
    if base is None or live is None or disk is None:
        return None
    live_edited = live != base
    if disk == base or disk == live:
        why = "the daemon's own write" if disk == base else "already the live state"
        return ExternalChange(Outcome.IGNORE, change.file, why, live_edited=live_edited)
    if change.outcome is Outcome.IGNORE and change.reason != "formatting only":
        return None  # judged by a shortcut that no longer holds: compare now
    if change.outcome in (Outcome.WAIT, Outcome.REJECTED):
        return change  # the save alone says so
    if change.outcome in (Outcome.OPERATIONS, Outcome.IGNORE):
        return replace(change, live_edited=live_edited)
    return None


def settle_incomplete(
    change: ExternalChange, *, first_seen: float, now: float, grace_s: float
) -> ExternalChange:
    """A file that has stayed incomplete, byte for byte, since ``first_seen`` for
    ``grace_s`` seconds is no save still being written: it is ``rejected`` then. Any
    other change is returned as it is."""
    if change.outcome is not Outcome.WAIT or now - first_seen < grace_s:
        return change
    waited = f"unchanged for {now - first_seen:.1f} s"
    reason = change.reason.replace("not a whole SVG yet", f"incomplete and {waited}", 1)
    return ExternalChange(Outcome.REJECTED, change.file, reason, live_edited=change.live_edited)


# -- what an outside save drops ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loss:
    """What an outside save dropped that its base named, beyond ordinary deletions.

    ``ids_stripped``: elements that are still there (an element without an id sits
    where each was) but lost their id, so the live document cannot name them any more;
    ``ids_removed``: the other ids gone in the same save (whole elements removed, groups
    collapsed); ``metadata_dropped``: the ids of the constraints and assemblies of
    ``<metadata id="svgx-model">`` that are gone, with ``svgx-model`` itself when the
    whole element is. Ids in document order of the base.
    """

    ids_stripped: tuple[str, ...]
    ids_removed: tuple[str, ...]
    metadata_dropped: tuple[str, ...]
    live_edits_replaced: bool = False
    """The save was taken whole over live edits made since its base (see
    :attr:`Outcome.WHOLE`): they are in the version made before, not in the file."""

    def summary(self) -> str:
        """``ids stripped: a, b; metadata dropped: svgx-model`` (for messages and logs)."""
        parts = [
            f"{label}: {_shown(ids)}"
            for label, ids in (
                ("ids stripped", self.ids_stripped),
                ("ids removed", self.ids_removed),
                ("metadata dropped", self.metadata_dropped),
            )
            if ids
        ]
        if self.live_edits_replaced:
            parts.append("the live edits since it was loaded (the file was rewritten whole)")
        return "; ".join(parts)


def _shown(ids: tuple[str, ...], limit: int = 8) -> str:
    more = len(ids) - limit
    return ", ".join(ids[:limit]) + (f" and {more} more" if more > 0 else "")


PLACEMENT_STEPS = 2_000_000
"""About how many sibling steps the placements of one outside save may take before it is
taken whole instead (a step is about a microsecond; docs/editors-and-git.md)."""


def most_placed(*versions: bytes) -> int:
    """How many elements an outside save between ``versions`` may create, delete or move
    as operations: each walks its parent's children, up to every element of the file."""
    return max(1, PLACEMENT_STEPS // max(1, *(data.count(b"<") for data in versions)))


def external_loss(
    old: bytes, new: bytes, file: str, *, parsed: SvgDocument | None = None
) -> Loss | None:
    """The :class:`Loss` from ``old`` to ``new``, or None when the change drops nothing
    beyond ordinary edits. ``parsed``: ``new`` parsed already (only read here).

    A save that only deletes elements with their ids (someone deleted a shape in their
    editor) is an ordinary edit: no loss. A loss is an id stripped from an element that
    stays (matched by its position, as tools that strip ids keep the structure), or
    constraints and assemblies dropped from the model.
    """
    try:
        before = SvgDocument(old, name=file)
        after = parsed if parsed is not None else SvgDocument(new, name=file)
    except DocumentError:
        return None
    model = before.ids.get(MODEL_ID)
    in_model = {el.get("id") for el in model.iter()} if model is not None else set()
    dropped = tuple(
        el.get("id")
        for el in (model.iter() if model is not None else ())
        if el is not model and el.get("id") is not None and el.get("id") not in after.ids
    )
    if dropped and MODEL_ID not in after.ids:
        dropped = (MODEL_ID, *dropped)
    stripped: list[str] = []
    removed: list[str] = []
    # Every position of both versions, in one walk each, once one is asked for.
    positions: dict[Any, str] | None = None
    at: dict[str, Any] = {}
    for el in before.elements():
        ident = el.get("id")
        if (
            ident is None
            or ident in after.ids
            or ident in in_model
            or before.ids.get(ident) is not el
        ):
            continue
        if positions is None:
            positions = element_paths(before.root)
            at = {path: node for node, path in element_paths(after.root).items()}
        there = at.get(positions[el])
        (stripped if there is not None and there.get("id") is None else removed).append(ident)
    if not stripped and not dropped:
        return None
    return Loss(tuple(stripped), tuple(removed), dropped)


def loss_message(file: str, loss: Loss) -> str:
    """The message of the version made before a lossy outside save is applied."""
    return f"Before an outside save of {file} that dropped {loss.summary()}"


def _same_elements(a: bytes, b: bytes, file: str) -> bool:
    try:
        return not diff_documents(a, b, file)
    except DocumentError:
        return False


def to_operations(
    change: ExternalChange,
    *,
    user_id: str = EXTERNAL_USER,
    session_id: str | None = None,
    base_seq: int | None = None,
    timestamp: float | None = None,
    op_id_prefix: str | None = None,
) -> list[Operation]:
    """The element-level operations of ``change`` as :class:`Operation` values.

    Identity and time come in: ``op_id_prefix`` numbers the operations
    ``<prefix>-1``, ``<prefix>-2``... so a retried batch is recognisable.
    """
    out: list[Operation] = []
    for n, raw in enumerate(change.operations, start=1):
        if raw["operation_type"] in (FILE_ADD, FILE_DELETE):
            continue
        fields = dict(raw, user_id=user_id)
        if session_id is not None:
            fields["session_id"] = session_id
        if base_seq is not None:
            fields["base_seq"] = base_seq
        if timestamp is not None:
            fields["timestamp"] = timestamp
        if op_id_prefix is not None:
            fields["op_id"] = f"{op_id_prefix}-{n}"
        out.append(coerce_operation(fields))
    return out


# -- which version the saving program loaded, and whether a write may land ---------------

Fingerprint: TypeAlias = "array[int]"
"""One hash per element's tag, attribute, text and tail, of where the element is (its
id; without one, its tag and rank among the id-less elements of that tag), which of
these, and its value: distinct, sorted, as 64-bit machine integers. Comparing two
hashes nothing again, and a remembered one costs 8 bytes a hash (a set of Python ints
took about 60, which made a few remembered versions of a big drawing cost more than
the drawing)."""


def content_id(data: bytes) -> str:
    """The SHA-1 of a file's bytes, as the written-bases record names them."""
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def may_replace(disk: bytes | None, seen: Collection[str]) -> bool:
    """Whether a write may replace the file that holds ``disk`` (None: there is none).

    ``seen`` are the :func:`content_id` of the bytes the daemon wrote, loaded or merged
    for that file. Anything else is another program's edit that the daemon has not
    merged: replacing it would lose it. A missing file loses nothing.
    """
    return disk is None or content_id(disk) in seen


def element_fingerprint(data: bytes) -> Fingerprint | None:
    """What each element of ``data`` holds, attribute by attribute (None: not a whole
    XML file).

    Formatting (quotes, attribute order, indentation, namespace declarations) does not
    count. Cheap: one parse and one pass, no diff (about 10 ms per 1,000 elements).
    """
    root = parsed_root(data)
    if root is None:
        return None
    out: list[int] = []
    ranks: dict[str, int] = {}
    for el in root.iter(etree.Element):
        tag = str(el.tag)
        place: object = el.get("id")
        if place is None:
            ranks[tag] = rank = ranks.get(tag, 0) + 1
            place = (tag, rank)
        out.extend(hash((place, *item)) for item in element_items(el))
    return array("q", sorted(set(out)))


def element_ids(data: bytes) -> Fingerprint | None:
    """The hashes of the ids that the elements of ``data`` hold, distinct and sorted
    (None: not a whole XML file): one parse, no pass over attributes or text, and 8
    bytes an id when remembered."""
    root = parsed_root(data)
    if root is None:
        return None
    return array("q", sorted({hash(el.get("id")) for el in root.iter(etree.Element)} - _NO_ID))


_NO_ID = {hash(None)}


def _ids_apart_at_least(a: Fingerprint, b: Fingerprint, count: int) -> bool:
    """Whether at least ``count`` of the ids in ``a`` and ``b`` (:func:`element_ids`)
    are in one of them only."""
    if abs(len(a) - len(b)) >= count:
        return True
    return len(a) + len(b) - 2 * len(frozenset(a).intersection(b)) >= count


def closest_version(
    disk: bytes,
    versions: Sequence[bytes],
    fingerprint: Callable[[bytes], Fingerprint | None] = element_fingerprint,
) -> int:
    """The index in ``versions`` (newest first) of the one ``disk`` was most likely made
    from: the same bytes, else the fewest attributes (and tags, texts, elements) that
    differ; ties go to the newer.

    A ``disk`` that does not parse is judged against the newest (it waits anyway).
    Versions written alike are compared only where they differ
    (:func:`svgx_sync.core.nearest.closest_by_differences`); otherwise every file is
    fingerprinted whole: ``fingerprint`` may be a cached :func:`element_fingerprint`.
    """
    for index, version in enumerate(versions):
        if version == disk:
            return index
    if len(versions) > 1 and (nearest := closest_by_differences(disk, versions)) is not None:
        return nearest  # read where the versions differ only, as the daemon writes them
    saved = fingerprint(disk) if len(versions) > 1 else None
    if saved is None:
        return 0
    lookup = frozenset(saved)  # for this call only
    best, best_distance = 0, None
    for index, version in enumerate(versions):
        known = fingerprint(version)
        if known is None:
            continue
        # The hashes one of them has and the other has not.
        distance = len(saved) + len(known) - 2 * len(lookup.intersection(known))
        if best_distance is None or distance < best_distance:
            best, best_distance = index, distance
    return best


def made_from_newest(
    change: ExternalChange,
    disk: bytes,
    versions: Sequence[bytes],
    ids: Callable[[bytes], Fingerprint | None] = element_ids,
) -> bool:
    """Whether :func:`closest_version` would pick ``versions[0]`` (the newest) for
    ``disk``, ``change`` being ``disk`` judged from that newest, answered from the start
    tags of the few elements the change touches, without reading the rest of any file
    written like the newest.

    ``change`` must hold only attribute updates of elements with an id, written once in
    every file, all of whose namespaces are declared on the root alike, with no comment
    or CDATA section after it: then ``disk`` and the newest differ in those attributes
    alone, and an older version differs from ``disk`` at least in the attributes of
    those elements that it does not share (and ties go to the newer). The newest is
    scanned; every other file only where it differs from the newest.

    An older version written otherwise (before another program laid the whole file out
    again, as Inkscape's first save does) is compared by its ids (``ids``: a cached
    :func:`element_ids` may be given): an id in one file only puts at least three hashes
    in its fingerprint alone (its tag, its text, its ``id``), and a version at least
    twice as far from the newest as ``disk`` is cannot be nearer to ``disk`` than the
    newest is (the distance is a metric). False means "not known": ask
    :func:`closest_version`.
    """
    if change.outcome is not Outcome.OPERATIONS or any(
        len(v) == len(disk) and v == disk for v in versions
    ):
        return False
    idents: list[bytes] = []
    for op in change.operations:
        ident = op.get("element_id")
        if op.get("operation_type") != "update" or not ident or ident.startswith("/"):
            return False
        if set(op.get("data") or {}) - {"attributes"} or not _plain_id(ident):
            return False
        idents.append(ident.encode())
    newest = _Newest.read(versions[0], idents)
    if newest is None:
        return False
    saved = newest.attributes_in(disk)
    if saved is None:
        return False
    distance = _apart(saved, newest.attributes)
    newest_ids: Fingerprint | None = None
    for version in versions[1:]:
        theirs = newest.attributes_in(version)
        if theirs is not None:
            if _apart(saved, theirs) < distance:
                return False
            continue
        if newest_ids is None and (newest_ids := ids(versions[0])) is None:
            return False
        older_ids = ids(version)
        if older_ids is None or not _ids_apart_at_least(
            newest_ids, older_ids, -(-2 * distance // 3)
        ):
            return False
    return True


_Attributes = frozenset[tuple[str, str]]


def _apart(mine: list[_Attributes], theirs: list[_Attributes]) -> int:
    """How many tags and attributes of the same elements differ."""
    return sum(len(a ^ b) for a, b in zip(mine, theirs, strict=True))


def _plain_id(ident: str) -> bool:
    return ident.isascii() and not any(c in ident for c in "&<\"'")


@dataclass(frozen=True, slots=True)
class _Newest:
    """The newest version, scanned once: where each changed element's id is written,
    and its tag and attributes; other files are read only where they differ from it."""

    data: bytes
    head: int  # the end of the root's start tag
    idents: list[bytes]
    places: list[int]  # where each id="ident" is written
    attributes: list[_Attributes]

    @staticmethod
    def read(data: bytes, idents: list[bytes]) -> _Newest | None:
        head = root_start(data)
        if head is None or data.find(b"xmlns", head) >= 0 or data.find(b"<!", head) >= 0:
            return None
        places, attributes = [], []
        for ident in idents:
            dq = b'id="' + ident + b'"'
            at = data.find(dq)
            if at < 0 or data.find(dq, at + 1) >= 0 or b"id='" + ident + b"'" in data:
                return None
            found = _attributes_at(data, head, at, ident)
            if found is None:
                return None
            places.append(at)
            attributes.append(found)
        return _Newest(data, head, idents, places, attributes)

    def attributes_in(self, other: bytes) -> list[_Attributes] | None:
        """The tags and attributes of the same elements in ``other``, or None when
        they are not written once each, or ``other`` differs from the newest before the
        end of the root's start tag or declares a namespace, a comment or a CDATA
        section where it differs."""
        data, size = self.data, len(self.data)
        prefix, suffix = common_ends(data, other)
        end = len(other) - suffix  # other[prefix:end] replaces data[prefix:size - suffix]
        if prefix < self.head:
            return None
        if (
            other.find(b"xmlns", prefix - 4, end + 4) >= 0
            or other.find(b"<!", prefix - 1, end + 1) >= 0
        ):
            return None
        out = []
        for ident, at in zip(self.idents, self.places, strict=True):
            dq, sq = b'id="' + ident + b'"', b"id='" + ident + b"'"
            lo, hi = max(prefix - len(dq) + 1, 0), end + len(dq) - 1  # overlapping the change
            if other.find(sq, lo, hi) >= 0:
                return None
            there = other.find(dq, lo, hi)
            if there >= 0 and other.find(dq, there + 1, hi) >= 0:
                return None
            if at + len(dq) <= prefix:
                shared = at
            elif at >= size - suffix:
                shared = at + len(other) - size
            else:
                shared = -1
            if (there >= 0) == (shared >= 0):
                return None  # written twice, or not at all
            found = _attributes_at(other, self.head, max(there, shared), ident)
            if found is None:
                return None
            out.append(found)
        return out


def _attributes_at(data: bytes, head: int, at: int, ident: bytes) -> _Attributes | None:
    """The tag and attributes (as lxml reads them, in the namespaces of the root's start
    tag, which ends at ``head``) of the element whose ``id="ident"`` is written at ``at``."""
    start = data.rfind(b"<", 0, at)
    match = START_TAG.match(data, start) if start >= 0 else None
    if match is None or match.end() <= at or not data[at - 1 : at].isspace():
        return None
    tag = match.group()
    if not tag.endswith(b"/>"):
        tag = tag[:-1] + b"/>"
    root = data[data.rfind(b"<", 0, head) : head]
    name = root[1:].split(None, 1)[0].rstrip(b">")
    try:
        el = etree.fromstring(root + tag + b"</" + name + b">", _parser())[0]
    except (etree.XMLSyntaxError, ValueError, IndexError):
        return None
    if el.get("id") != ident.decode():
        return None
    return frozenset([("#tag", str(el.tag)), *el.attrib.items()])


def unread_changes(
    newest: bytes, older: bytes, disk: bytes, file: str, reading: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """What a save read as made from ``older`` (``reading``: its changes from ``older``)
    would also change had it been made from ``newest``, the latest version written.

    Both readings fit the bytes: a stale copy that lacks the live edits made since, or an
    up-to-date copy in which the user undid them (deleted an element created live). The
    stale reading is applied; these are the changes of the other one, as diff dicts, for
    the caller to report (never to drop silently). Empty when a file does not parse.
    """
    try:
        merged = SvgDocument(newest, name=file)
        for raw in reading:
            with contextlib.suppress(ClientError, ValueError):
                apply_operation(merged, coerce_operation({**raw, "user_id": EXTERNAL_USER}))
        return [
            c
            for c in diff_documents(merged.to_bytes(), disk, file)
            if c["operation_type"] not in (FILE_ADD, FILE_DELETE)
        ]
    except DocumentError:
        return []


# -- deleting a file against live edits ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeleteDecision:
    """Whether a file removed on disk leaves the live document, and the conflict status.

    ``conflict`` is None when there was nothing to conflict with; otherwise it is the
    status of the conflict record (as in :mod:`svgx_sync.core.conflicts`).
    """

    delete: bool
    conflict: ConflictStatus | None = None
    reason: str = ""


def file_delete_decision(strategy: Strategy | str, *, live_edited: bool) -> DeleteDecision:
    """A file deleted on disk while the live state has edits the file never had.

    Mirrors the delete-against-edit rule of the live strategies: the deletion is the
    later operation.

    ================  =====================================================
    automatic         deleted; the conflict is recorded (``auto_resolved``)
    last_write_wins   deleted: the deletion is the later write
    manual            kept until someone resolves the open conflict
    merge             kept: delete against edit keeps the edited element
    reject            kept: the deletion is refused
    ================  =====================================================
    """
    if not live_edited:
        return DeleteDecision(True, None, "no live edits since the last write")
    strategy = Strategy(strategy)
    if strategy is Strategy.AUTOMATIC:
        return DeleteDecision(True, "auto_resolved", "the later operation (the deletion) wins")
    if strategy is Strategy.LAST_WRITE_WINS:
        return DeleteDecision(True, "resolved", "the deletion is the later write")
    if strategy is Strategy.MANUAL:
        return DeleteDecision(False, "open", "held until the conflict is resolved")
    if strategy is Strategy.MERGE:
        return DeleteDecision(False, "merged", "the edited file is kept")
    return DeleteDecision(False, "rejected", "the deletion conflicts with live edits")


def delete_conflict(
    file: str, decision: DeleteDecision, *, live_users: Iterable[str], strategy: Strategy | str
) -> ConflictRecord:
    """A conflict record (not yet filed) for a file deleted on disk against live edits."""
    return ConflictRecord(
        kind="edit_delete",
        file=file,
        element_id="/",
        key="#file",
        users=sorted(set(live_users)) + [EXTERNAL_USER],
        later=OpRef(None, EXTERNAL_USER),
        strategy=Strategy(strategy).value,
        reason=decision.reason,
        status=decision.conflict or "open",
        winner="later" if decision.delete else "earlier",
    )


# -- a merge conflict git left in a file ----------------------------------------------------

# git's text markers at the default conflict-marker-size: "<<<<<<< ours", "=======",
# ">>>>>>> theirs", each at the start of a line (``git merge-file``).
_TEXT_MARKERS = re.compile(rb"^<{7}(?: |\r?$).*?^={7}\r?$.*?^>{7}(?: |\r?$)", re.M | re.S)


@dataclass(frozen=True, slots=True)
class GitConflict:
    """Why a file holds a git merge conflict still to settle, and the conflicts the
    merge driver marked in it (dicts of :class:`svgx_sync.core.merge.Conflict`)."""

    reason: str
    conflicts: tuple[dict[str, Any], ...] = field(default=())


def git_conflict(disk: bytes | None, *, unmerged: bool) -> GitConflict | None:
    """The merge conflict git left in a file, or None when there is none.

    ``unmerged`` says git's index still has the file's conflict stages (``git merge``,
    ``git pull`` stopped on it; ``git add`` clears them). Independently of the index, a
    file carrying the merge driver's conflict block or git's text markers is a conflict
    someone has yet to settle: it is never live content.
    """
    marks: tuple[dict[str, Any], ...] = ()
    if disk is not None and CONFLICTS_ID.encode() in disk:
        try:
            marks = tuple(c.to_dict() for c in read_conflicts(disk))
        except DocumentError:
            marks = ()
        if marks:
            return GitConflict("the merge driver marked conflicts in the file", marks)
    if disk is not None and b"<<<<<<<" in disk and _TEXT_MARKERS.search(disk):
        return GitConflict("git's conflict markers are in the file")
    if unmerged:
        return GitConflict("git's index has the file unmerged")
    return None


# -- git moving HEAD -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeadState:
    """Where HEAD stands: the checked-out branch (None when detached) and its commit."""

    branch: str | None
    commit: str | None


class HeadMove(StrEnum):
    NONE = "none"
    COMMITS = "commits"
    """The same branch moved forward: commits were made (``git commit``, merge, pull)."""
    SWITCH = "switch"
    """Another branch (or a detached commit) is checked out."""
    REWIND = "rewind"
    """The same branch now points at a commit that does not descend from the old one
    (``git reset``, ``git commit --amend``, a forced pull)."""


def classify_head_move(old: HeadState, new: HeadState, *, descends: bool) -> HeadMove:
    """What the git command did to HEAD; ``descends`` says ``new.commit`` has
    ``old.commit`` among its ancestors (the shell asks git)."""
    if old == new:
        return HeadMove.NONE
    if old.branch != new.branch:
        return HeadMove.SWITCH
    if old.commit is None or descends:
        return HeadMove.COMMITS
    return HeadMove.REWIND


@dataclass(frozen=True, slots=True)
class Checkout:
    """What a checkout means for the live sessions of one working tree.

    ``leaves`` is the branch whose session gives the working tree up (its clients follow
    the working tree to ``takes``), ``takes`` the branch whose session owns it now (None:
    HEAD is detached), ``parked`` the branch whose session waits while HEAD is detached,
    and ``notice`` what the clients are told: ``branch_switched``, ``head_detached`` or
    ``head_attached``.
    """

    leaves: str | None
    takes: str | None
    parked: str | None
    notice: str


def checkout_sessions(old: str | None, new: str | None, parked: str | None) -> Checkout:
    """The sessions after git moved HEAD from branch ``old`` to branch ``new`` (None:
    detached), with the session of ``parked`` waiting since HEAD was detached.

    A detached HEAD shows a commit that is no branch's tip: no session may write into it,
    and no edit acknowledged there may be lost, so the branch's session is parked. Its
    edits stay on the branch (journal, checkpoint) and reach the files on its return.
    """
    if new is None:
        return Checkout(old, None, old or parked, "head_detached")
    came_from = old or parked
    if old is None and came_from in (None, new):
        return Checkout(None, new, None, "head_attached")
    return Checkout(came_from, new, None, "branch_switched")


def base_after_head_move(
    written: bytes | None, old_version: bytes | None, new_version: bytes | None, disk: bytes | None
) -> bytes | None:
    """The ``base`` to judge a file against once git moved HEAD.

    Normally it is what the daemon last wrote. But when git replaced live work the daemon
    had written and not yet versioned (``reset --hard``, ``checkout -f``: the file went
    from our write straight to the new version), diffing from our write would undo that
    work live. Then the base is the old version: only what git changed between the two
    versions is replayed, and the live work stays on top.
    """
    if (
        disk is not None
        and disk == new_version
        and written != old_version
        and old_version is not None
        and written != disk
    ):
        return old_version
    return written


# -- quiet-period versions -------------------------------------------------------------------


def auto_version_due(
    *,
    quiet_s: float | None,
    last_change: float | None,
    last_version: float | None,
    now: float,
) -> bool:
    """A version is due when auto-versioning is on (``quiet_s``), something changed
    since the last version, and nothing has changed for ``quiet_s`` seconds."""
    if quiet_s is None or quiet_s <= 0 or last_change is None:
        return False
    if last_version is not None and last_version >= last_change:
        return False
    return now - last_change >= quiet_s


def auto_version_message(changed: Mapping[str, Any] | Iterable[str]) -> str:
    """``Auto-version: a.svg, b.svg`` (a version made after a quiet period)."""
    names = sorted(changed)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"{AUTO_VERSION_PREFIX} {shown or 'no file changes'}"


def is_svg_path(relative: str) -> bool:
    """A drawing of the working tree: ``*.svg``, not hidden, not in a hidden folder
    (``.git``, editors' and our own ``.name.xxxx.tmp`` files are left out)."""
    parts = relative.replace("\\", "/").split("/")
    return relative.endswith(".svg") and not any(p.startswith(".") or not p for p in parts)
