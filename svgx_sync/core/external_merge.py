"""Outside changes merged into the live session: what a judged change does to it.

:mod:`svgx_sync.core.external` judges one file that changed beside the daemon (values
in, an :class:`~svgx_sync.core.external.ExternalChange` out); this module carries that
judgement into a :class:`~svgx_sync.core.session.LiveDocument`. Rules kept here (pure:
the shells read the files and git and hand the bytes in):

* An outside change is submitted as :data:`EXTERNAL_USER`, based on the ``seq`` at which
  its base was written, so that the live edits made since are concurrent with it and
  the session's strategy decides every overlap (:func:`apply_change`).
* An outside operation the live state cannot take has nobody to be told it was refused:
  it becomes a ``refused`` conflict record, journaled and broadcast like one that came
  with an operation. What a save read as a stale copy leaves out is reported as
  ``stale_save`` conflicts (:func:`report_unread`).
* A save taken whole (:attr:`~svgx_sync.core.external.Outcome.WHOLE`) replaces the live
  file as one entry; its bytes are the base, and nothing is written back (the watcher
  has made a version of live edits it replaces: the change carries a ``Loss``).
* Afterwards the file's base is what is on disk: the file's own bytes when they hold
  exactly the merged elements (nothing is written back), else the merged live state is
  marked to be written over them.
* A file deleted on disk is deleted live, or kept and written back, as
  :func:`~svgx_sync.core.external.file_delete_decision` says; a deletion against live
  edits is a conflict record either way.
* A session loaded after the daemon was away takes in what happened to the working tree
  meanwhile by the same rules (:func:`recover_working_tree`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from ..errors import DocumentError, NotFound, OperationError
from . import protocol
from .conflict_record import ConflictRecord
from .conflicts import refused, unread
from .external import (
    ExternalChange,
    GitConflict,
    Outcome,
    base_after_head_move,
    delete_conflict,
    external_change,
    file_delete_decision,
    git_conflict,
    to_operations,
    unread_changes,
)
from .ops import EXTERNAL_USER, coerce_operation
from .session import LiveDocument
from .session import Outcome as Submitted

__all__ = ["apply_change", "hold_git_conflict", "recover_working_tree", "report_unread"]

log = logging.getLogger(__name__)


def apply_change(
    live: LiveDocument,
    change: ExternalChange,
    *,
    base: bytes | None,
    disk: bytes | None,
    now: float,
    base_seq: int | None = None,
    read_later: bool = False,
) -> list[Submitted]:
    """Carry out what :func:`~svgx_sync.core.external.external_change` decided for one file.

    Its operations, or the file's addition or deletion, go to the live session as
    :data:`EXTERNAL_USER`, based on ``base_seq`` (default: the ``seq`` at which ``base``
    was written); the file's ``last_written`` becomes what is on disk, and a file the
    merge changed is marked to be written back. Returns the outcomes to journal and
    broadcast. ``read_later``: a save whose text must be read again waits in
    ``live.unread`` for the caller to read it beside the event loop
    (:meth:`~svgx_sync.core.session.LiveDocument.outside_save_taken`).
    """
    file = change.file
    if base_seq is None:
        base_seq = live.base_seq(file)
    if change.outcome is Outcome.OPERATIONS:
        return _apply_operations(live, change, base_seq=base_seq, now=now, read_later=read_later)
    if change.outcome is Outcome.FILE_ADD and change.data is not None:
        try:
            out = live.add_file(
                file, change.data, user_id=EXTERNAL_USER, now=now, whole=change.whole
            )
        except (OperationError, DocumentError) as exc:
            log.warning("watcher: the new file %s is refused: %s", file, exc)
            return []
        live.outside_file_added(file, change.data)
        return [out]
    if change.outcome is Outcome.WHOLE and change.data is not None and file in live.files:
        out = live.replace_file(
            file, change.data, user_id=EXTERNAL_USER, now=now, whole=change.whole
        )
        live.outside_save_taken(file, change.data)
        return [out]
    if change.outcome is Outcome.FILE_DELETE:
        return _delete_file(live, file, change.live_edited, base_seq=base_seq, now=now)
    current = live.files.get(file)
    if change.outcome is Outcome.IGNORE and disk is not None and current is not None:
        ours = current.to_bytes()
        if ours == disk or (ours == base and change.reason == "formatting only"):
            # The live state, or formatting only with no live edits: the file's bytes
            # are now the base, so the daemon keeps them and does not write it back.
            live.outside_save_taken(file, disk)
        elif disk != live.last_written.get(file):
            live.older_copy_seen(file, disk, seq=base_seq)
    return []


def _apply_operations(
    live: LiveDocument, change: ExternalChange, *, base_seq: int, now: float, read_later: bool
) -> list[Submitted]:
    file = change.file
    ops = to_operations(change, timestamp=now, session_id=live.key)
    outcomes: list[Submitted] = []
    failed = 0
    # Earlier outside changes came from other programs, or from this one before it
    # loaded ``base``: concurrent with this change, as another person's edits are.
    own_after = live.seq
    for op in ops:
        try:
            outcomes.append(
                live.submit(
                    op.model_copy(update={"file": file}),
                    base_seq=base_seq,
                    now=now,
                    own_after=own_after,
                    outside=True,
                )
            )
        except (OperationError, NotFound) as exc:
            failed += 1
            record = refused(live.book, op, exc, file=file, strategy=live.strategy)
            if record is None:
                log.debug("watcher: external %s on %s: %s", op.operation_type, file, exc)
                continue
            log.warning(
                "watcher: external %s on %s refused (%s): %s",
                op.operation_type,
                file,
                record.conflict_id,
                exc,
            )
            outcomes.append(live.noted([record]))
    disk = change.data
    clean = all(o.status in ("applied", "duplicate") and not o.conflicts for o in outcomes)
    if not failed and clean and not change.live_edited and disk is not None:
        # base + (base -> disk) with nothing else live is the file's elements: keep
        # the file's own bytes, so the daemon does not write it back.
        live.outside_save_taken(file, disk, read_later=read_later)
    else:
        live.outside_save_merged(file, disk if disk is not None else b"")
    return outcomes


def report_unread(
    live: LiveDocument,
    file: str,
    changes: Sequence[Mapping[str, Any]],
    *,
    base_seq: int,
    own_after: int,
) -> list[Submitted]:
    """Record, journal and broadcast the changes a save read as a stale copy would make
    had it been up to date (``stale_save`` conflicts won by the live state)."""
    if file not in live.files:
        return []
    records: list[ConflictRecord] = []
    for raw in changes:
        op = coerce_operation(
            {**raw, "file": file, "user_id": EXTERNAL_USER, "session_id": live.key}
        )
        records += unread(
            live.files[file],
            live.book,
            op,
            file=file,
            strategy=live.strategy,
            base_seq=base_seq,
            own_after=own_after,
        )
    if not records:
        return []
    log.info(
        "watcher: a save of %s/%s read as a stale copy leaves out %d change(s): %s",
        live.key,
        file,
        len(records),
        ", ".join(r.conflict_id for r in records),
    )
    return [live.noted(records)]


def _delete_file(
    live: LiveDocument, file: str, live_edited: bool, *, base_seq: int, now: float
) -> list[Submitted]:
    decision = file_delete_decision(live.strategy, live_edited=live_edited)
    outcomes: list[Submitted] = []
    if decision.conflict is not None:
        users = {
            t.user_id for touches in live.book.history.values() for t in touches if t.seq > base_seq
        } - {EXTERNAL_USER}
        fields = delete_conflict(file, decision, live_users=users, strategy=live.strategy)
        outcomes.append(live.add_conflict(fields))
    live.removed_on_disk(file, keep=not decision.delete)
    if decision.delete:
        outcomes.append(live.delete_file(file, user_id=EXTERNAL_USER, now=now))
    return outcomes


def hold_git_conflict(
    live: LiveDocument, file: str, found: GitConflict | None
) -> tuple[bool, list[dict[str, Any]]]:
    """Hold ``file`` while git has a merge conflict in it (``found``: see
    :func:`~svgx_sync.core.external.git_conflict`) and release it once settled; returns
    whether it is held and what to tell the clients (once per conflict)."""
    if found is not None:
        notice = protocol.git_conflict_pending(live.name, file, found, live.seq)
        if not live.hold(file, notice):
            return True, []
        log.info("watcher: %s/%s held: %s", live.name, file, found.reason)
        return True, [notice]
    if not live.release(file):
        return False, []
    log.info("watcher: %s/%s: git's conflict is settled", live.name, file)
    return False, [protocol.git_conflict_resolved(live.name, file, live.seq)]


# -- a session loaded after the daemon was away -------------------------------------------


def recover_working_tree(
    live: LiveDocument,
    disk: Mapping[str, bytes],
    recorded: Mapping[str, tuple[bytes, int]],
    versions: tuple[Mapping[str, bytes], Mapping[str, bytes]] | None,
    *,
    now: float,
    unmerged: Collection[str] = (),
    rejected: list[tuple[str, str]] | None = None,
    before_loss: Callable[[ExternalChange], None] | None = None,
    newer: Mapping[str, bytes] | None = None,
) -> tuple[list[Submitted], set[str]]:
    """Bring what happened to the working tree while the daemon was away into a session
    just recovered from its checkpoint and journal.

    ``disk`` is the working tree's SVG files; ``recorded`` the bases the daemon last
    wrote (:class:`svgx_sync.durable.bases.WrittenBases`; a file without one keeps the base it
    was loaded with); ``versions`` the branch's files at the commit of the last record
    and now, when git moved the branch meanwhile. A file that differs from its base is
    an external edit, merged like one; a file that holds its base (our own write) gets
    the live state written over it. A file in which git has a merge conflict to settle
    (``unmerged``: the paths git's index has unmerged) is held. A file that is not an
    SVG file is left alone, logged, and added to ``rejected`` as ``(file, reason)``;
    ``before_loss`` is called with a change that drops ids or the model before it is
    applied (to make a version of the live state as it still is). ``newer`` holds the
    latest recorded version of the files whose ``recorded`` base is an older one: what a
    save read so leaves out is reported (``stale_save`` conflicts). Returns the outcomes
    to journal and broadcast and the files whose base changed.
    """
    outcomes: list[Submitted] = []
    changed: set[str] = set()
    for file in sorted(set(disk) | set(live.files) | set(recorded)):
        if file in recorded:
            live.recorded_base(file, *recorded[file])
        found = git_conflict(disk.get(file), unmerged=file in unmerged)
        if found is not None:
            # git stopped on a merge conflict in it meanwhile: held until it is settled.
            hold_git_conflict(live, file, found)
            continue
        moved = (versions[0].get(file), versions[1].get(file)) if versions is not None else None
        taken, rebased = _recover_file(
            live,
            file,
            disk.get(file),
            moved,
            (newer or {}).get(file) if versions is None else None,
            now=now,
            rejected=rejected,
            before_loss=before_loss,
        )
        outcomes += taken
        if rebased or file in recorded:
            changed.add(file)
    return outcomes, changed


def _recover_file(
    live: LiveDocument,
    file: str,
    on_disk: bytes | None,
    moved: tuple[bytes | None, bytes | None] | None,
    latest: bytes | None,
    *,
    now: float,
    rejected: list[tuple[str, str]] | None,
    before_loss: Callable[[ExternalChange], None] | None,
) -> tuple[list[Submitted], bool]:
    """One file at recovery: ``moved`` are its old and new versions when git moved the
    branch meanwhile, ``latest`` its latest recorded version when that is newer than its
    base. Returns the outcomes and whether the file's base changed."""
    base = live.last_written.get(file)
    if moved is not None:
        # What git wrote meanwhile is judged from the version the live work sat on.
        base = base_after_head_move(base, moved[0], moved[1], on_disk)
        if base is not None:
            live.base_before_git(file, base)
    current = live.files.get(file)
    ours = current.to_bytes() if current is not None else None
    change = external_change(base, ours, on_disk, file)
    log.debug("recovery: %s/%s: %s (%s)", live.key, file, change.outcome.value, change.reason)
    before = live.last_written.get(file)
    unread = (
        unread_changes(latest, base, on_disk, file, change.operations)
        if latest is not None
        and base is not None
        and on_disk is not None
        and change.outcome in (Outcome.IGNORE, Outcome.OPERATIONS)
        else []
    )
    own_after, base_seq = live.seq, live.base_seq(file)
    outcomes = _take_recovered(
        live, change, base, ours, on_disk, now=now, rejected=rejected, before_loss=before_loss
    )
    if unread:
        outcomes += report_unread(live, file, unread, base_seq=base_seq, own_after=own_after)
    return outcomes, live.last_written.get(file) is not before


def _take_recovered(
    live: LiveDocument,
    change: ExternalChange,
    base: bytes | None,
    ours: bytes | None,
    on_disk: bytes | None,
    *,
    now: float,
    rejected: list[tuple[str, str]] | None,
    before_loss: Callable[[ExternalChange], None] | None,
) -> list[Submitted]:
    file = change.file
    if change.outcome is Outcome.IGNORE:
        if on_disk is None and ours is not None:
            live.write_back([file])  # not written yet
        elif on_disk is not None and ours is not None and ours != on_disk:
            if ours == base and change.reason == "formatting only":
                live.outside_save_taken(file, on_disk)
            else:
                # Our own write, perhaps an older one: the live state goes over it.
                live.older_copy_seen(file, on_disk)
    elif change.outcome is Outcome.REJECTED:
        log.warning("recovery: %s/%s is not taken in: %s", live.key, file, change.reason)
        if rejected is not None:
            rejected.append((file, change.reason))
    elif change.outcome is Outcome.WAIT:  # a file not whole yet is left alone
        log.info("recovery: %s/%s is left as it is: %s", live.key, file, change.reason)
    else:
        if change.loss is not None and before_loss is not None:
            before_loss(change)
        return apply_change(live, change, base=base, disk=on_disk, now=now)
    return []
