"""Version actions over a live session: versions, reverts, history, branches, diffs, and
the branch merge (start, complete, abort).

A version is a commit on the session's branch of its live files, built in memory with
the session's trailers (``docs/git-layout.md``), followed by a checkpoint. A revert or an
aborted merge replaces every live file at one ``seq``, and every client reloads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any, Protocol

from ..core import protocol as P
from ..core.conflict_record import ConflictRecord
from ..core.session import version_files
from ..core.versions import (
    BranchMerge,
    MergePhase,
    abort_merge,
    author,
    check_description,
    merge_branch,
    merge_recovery,
    revert_deletes,
    revert_description,
    version_description,
)
from ..errors import ClientError, LockHeld, ProtocolError, StoreError, SvgxError
from ..git.layout import SYSTEM_NAME
from ..git.locks import held_locks
from ..git.merge_record import forget_merge, keep_merge, read_merge
from ..git.names import validate_branch_name
from . import memory
from .commit import GroupCommit
from .crash import crash_point
from .files import FileWriter
from .membership import Membership
from .room import Room
from .runtime import Runtime

__all__ = ["VERSION_ACTIONS", "Requester", "Versions"]

log = logging.getLogger(__name__)

VERSION_OP_IDS = 200  # at most this many Svgx-Operation trailers per version commit


class Requester(Protocol):
    """Who asks for a version action: a connection, or the Python API's stand-in."""

    user_id: str | None
    username: str | None


Action = Callable[["Versions", Any, Room, P.VersionRequest], "dict[str, Any] | None"]


class Versions:
    """Carries out version actions, for every room of a daemon."""

    def __init__(
        self,
        rt: Runtime,
        commit: GroupCommit,
        files: FileWriter,
        members: Membership,
        room_for: Callable[[str], Room],
    ) -> None:
        self.rt = rt
        self.commit = commit
        self.files = files
        self.members = members
        self.room_for = room_for

    def act(self, conn: Any, room: Room, msg: P.VersionRequest) -> dict[str, Any] | None:
        """Carry out ``msg.action``; the reply to the requester, or None (a broadcast)."""
        check_description(msg.description)
        if msg.branch is not None:
            validate_branch_name(msg.branch)
        return VERSION_ACTIONS[msg.action](self, conn, room, msg)

    @staticmethod
    def must_wait(room: Room) -> bool:
        """Whether a version action on ``room`` waits (:meth:`when_unlocked`) first: git
        holds a lock file of its repository, or an earlier action waits already."""
        return room.version_waits > 0 or bool(held_locks(room.document.repo.path))

    async def when_unlocked(self, room: Room) -> None:
        """Return once no git lock file is held in the repository of ``room``, waiting
        on the event loop's timers, never in it. A lock held for ``lock_report_s`` is
        told to the room's clients once; after ``lock_wait_s`` raises :class:`LockHeld`."""
        settings = self.rt.settings
        deadline = time.monotonic() + settings.lock_wait_s
        delay, told = 0.005, False
        while held := held_locks(room.document.repo.path):
            if not told and (notices := room.lock_notices()):
                for notice in notices:
                    log.warning("%s: %s", room.key, notice["message"])
                    room.broadcast(notice)
                told = True
            if time.monotonic() >= deadline:
                notices = room.lock_notices() or [{"message": f"{held[0].path} is held"}]
                raise LockHeld(f"nothing was done: {notices[0]['message']}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    def create_version(self, conn: Requester, room: Room, msg: P.VersionRequest) -> None:
        self.commit.flush(room)
        self.files.write_files(room)
        user_id, username = _author(conn, msg)
        description = version_description(msg.description)
        version_id = self.commit_live(room, description, user_id=user_id, username=username)
        room.broadcast(P.version_created(version_id, description, user_id, room.live.seq))
        # the whole files and blobs it made are gone
        memory.release_soon(sum(doc.size_bound for doc in room.live.files.values()))

    def commit_live(
        self,
        room: Room,
        description: str,
        *,
        user_id: str,
        username: str,
        by_system: bool = False,
        checkpoint: bool = True,
    ) -> str:
        """Commit the session's live files on its branch (a file deleted live is deleted
        in the version too) and checkpoint; returns the version id."""
        committed: dict[str, bytes] = {}
        if f"refs/heads/{room.live.branch}" in room.document.repo.references:
            committed = room.document.svg_files(room.document.resolve(room.live.branch))
        files = version_files(room.live.contents(), committed)
        version_id = room.document.commit(
            files,
            user_id=user_id,
            username=username,
            description=description,
            session_id=room.key,
            op_ids=room.version_ops[-VERSION_OP_IDS:],
            branch=room.live.branch,
            by_system=by_system,
        )
        room.version_ops.clear()
        if checkpoint:
            self.files.checkpoint(room, force=True)
        return version_id

    def commit_before_loss(
        self, room: Room, description: str, *, checkpoint: bool = True
    ) -> str | None:
        """A version of the live state by svgx_sync before an outside save that drops
        ids or the model is merged in, announced; its id, or None when it failed."""
        try:
            version_id = self.commit_live(
                room,
                description,
                user_id=SYSTEM_NAME,
                username=SYSTEM_NAME,
                by_system=True,
                checkpoint=checkpoint,
            )
        except SvgxError:
            log.exception("could not make a version of %s before an outside save", room.key)
            return None
        log.info("%s: version %s made: %s", room.key, version_id, description)
        notice = P.version_created(version_id, description, SYSTEM_NAME, room.live.seq, auto=True)
        room.broadcast(notice)
        return version_id

    def revert(self, conn: Requester, room: Room, msg: P.VersionRequest) -> None:
        if not msg.version_id:
            raise ProtocolError("revert needs version_id")
        self.commit.flush(room)
        document, live = room.document, room.live
        target = document.resolve(msg.version_id)
        files = document.svg_files(target)
        if not files:
            raise ClientError(f"version {msg.version_id!r} has no SVG files")
        user_id, username = _author(conn, msg)
        gone = revert_deletes(live.files, files)
        checked_out = room.checked_out()
        version_id = document.commit(
            {**files, **gone},
            user_id=user_id,
            username=username,
            description=revert_description(msg.description, target),
            session_id=room.key,
            branch=live.branch,
            update_workdir=checked_out,
        )
        self._reset(room, files, reason=f"revert to {target}")
        if checked_out:
            live.reverted_on_disk(files)
            self.files.record_bases(room, {*files, *gone})
        live.take_dirty()
        room.version_ops.clear()
        self.files.checkpoint(room, force=True)
        self._reload_clients(room, P.version_reverted(version_id, target, user_id))

    def history(self, conn: Requester, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        versions = room.document.history(branch=room.live.branch, limit=msg.limit or 100)
        return P.history(room.live.branch, [asdict(v) for v in versions])

    def create_branch(self, conn: Requester, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        if not msg.branch:
            raise ProtocolError("create_branch needs branch")
        start = msg.from_version or msg.version_id or room.live.branch
        version_id = room.document.create_branch(msg.branch, start)
        return P.branch_created(msg.branch, version_id)

    def switch_branch(self, conn: Any, room: Room, msg: P.VersionRequest) -> None:
        if not msg.branch:
            raise ProtocolError("switch_branch needs branch")
        session_id = f"{room.live.name}@{msg.branch}"
        self.members.move(conn, session_id, self.room_for(session_id))

    def list_branches(self, conn: Requester, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        return P.branches(room.document.list_branches())

    def diff(self, conn: Requester, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        start = msg.from_version or msg.version_id
        if not start:
            raise ProtocolError("diff needs version_id (or from_version)")
        self.commit.flush(room)
        self.files.write_files(room)
        try:
            changes = room.document.diff(start, msg.to_version)
        except ImportError as exc:
            raise StoreError(f"diff is not available: {exc}") from exc
        return P.diff(start, msg.to_version, changes)

    def _reset(self, room: Room, files: Mapping[str, bytes], *, reason: str) -> None:
        """Replace every live file (one ``seq``), journaled and fsynced."""
        room.journal.append(room.live.reset(files, reason=reason))
        self.commit.sync(room)

    def _reload_clients(self, room: Room, message: dict[str, Any]) -> None:
        """After a reset: every client reloads from ``message``, sent with the ``seq``
        and every file's text."""
        live = room.live
        for client in room.clients:
            client.delivered = live.seq
        room.broadcast(P.reload(message, live.seq, live.texts()))

    # -- branch merges ---------------------------------------------------------------

    def merge_branch(self, conn: Requester, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        """Merge ``msg.branch`` into the session's branch with the element merge engine.

        The merge base comes from git; ours is the live state (unversioned live edits
        included), theirs the other branch's tip. What merges cleanly is applied as
        ordinary operations; conflicts become open conflict records resolved with
        ``resolve_conflict``. The two-parent commit is made at once when nothing blocks,
        otherwise by ``complete_merge``; ``abort_merge`` puts the live state back.
        The merge is kept on disk while it runs (:mod:`svgx_sync.git.merge_record`).
        """
        if not msg.branch:
            raise ProtocolError("merge_branch needs branch: the branch to merge in")
        if room.merge is not None:
            raise ClientError("a merge is in progress: complete_merge or abort_merge first")
        self.commit.flush(room)
        document, live = room.document, room.live
        ours_head = document.resolve(live.branch)
        theirs_head = document.resolve(f"refs/heads/{msg.branch}")
        base = document.repo.merge_base(ours_head, theirs_head)
        if base is not None and str(base) == theirs_head:
            return P.branch_merged(msg.branch, up_to_date=True)
        user_id, _ = _author(conn, msg)
        records, notes = self._apply_merge(room, msg.branch, ours_head, theirs_head, user_id)
        if records:
            return P.merge_in_progress(msg.branch, records, notes)
        return self._commit_merge(conn, room, msg, notes)

    def _apply_merge(
        self, room: Room, branch: str, ours_head: str, theirs_head: str, user_id: str
    ) -> tuple[list[ConflictRecord], list[str]]:
        """Merge ``theirs_head`` into the live state and wait (``room.merge``): kept as
        ``applying`` before anything is applied, ``applied`` once all is journaled."""
        document, live = room.document, room.live
        base = document.repo.merge_base(ours_head, theirs_head)
        base_files = document.svg_files(str(base)) if base is not None else {}
        theirs_files = document.svg_files(theirs_head)
        ours_files = live.contents()
        changes, records, notes = merge_branch(
            live, base_files, ours_files, theirs_files, branch=branch, user_id=user_id
        )
        merge = BranchMerge.start(
            branch, ours_head, theirs_head, ours_files, theirs_files, records, user_id
        )
        self._keep_merge(room, merge, "applying")
        crash_point("merge-kept")
        now = time.time()
        for path, ops in changes:
            for out in live.apply_external(path, ops, now=now):
                self.commit.queue(room, out, None)
            crash_point("merge-applying", room.journal.sync)
        if records:
            room.journal.append(live.conflict_record(records))
            room.notices.append(P.conflict_detected(records))
        self.commit.flush(room)
        crash_point("merge-journaled")
        self._keep_merge(room, merge, "applied")
        room.merge = merge
        return records, notes

    def complete_merge(self, conn: Requester, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        return self._commit_merge(conn, room, msg, None)

    def _commit_merge(
        self, conn: Requester, room: Room, msg: P.VersionRequest, notes: list[str] | None
    ) -> dict[str, Any]:
        """The two-parent commit of the merge in progress, once nothing blocks it."""
        merge = room.merge
        if merge is None:
            raise ClientError("no merge is in progress")
        waiting = merge.waiting(room.live.book.conflicts)
        if waiting:
            raise ClientError(f"resolve these conflicts first: {', '.join(waiting)}")
        self.commit.flush(room)
        self.files.write_files(room)
        # A checkpoint of what is committed next: a crash right after the commit then
        # reloads it, not the branch's new head with the merge's operations replayed.
        self.files.checkpoint(room)
        user_id, username = _author(conn, msg)
        description = merge.description(msg.description, room.live.branch)
        version_id = room.document.commit(
            merge.files(room.live.contents()),
            user_id=user_id,
            username=username,
            description=description,
            session_id=room.key,
            branch=room.live.branch,
            parents=merge.parents,
            update_workdir=room.checked_out(),
        )
        crash_point("merge-committed")
        room.merge = None
        self._forget_merge(room)
        room.version_ops.clear()
        self.files.checkpoint(room, force=True)
        room.broadcast(P.version_created(version_id, description, user_id, room.live.seq))
        return P.branch_merged(merge.branch, version_id=version_id, notes=notes)

    def abort_merge(self, conn: Requester, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        merge = room.merge
        if merge is None:
            raise ClientError("no merge is in progress")
        self._keep_merge(room, merge, "aborting")
        self._undo_merge(room, merge)
        self._reload_clients(room, P.merge_aborted(merge.branch))
        return P.merge_aborted(merge.branch)

    def _undo_merge(self, room: Room, merge: BranchMerge) -> None:
        """Mark the merge's conflicts aborted and put the live state from before it back."""
        self.commit.flush(room)
        live = room.live
        room.journal.append(abort_merge(live, merge))
        self._reset(room, merge.before, reason=merge.abort_reason())
        crash_point("merge-undone")
        room.merge = None
        self._forget_merge(room)
        self.files.write_soon(room)

    def _keep_merge(self, room: Room, merge: BranchMerge, phase: MergePhase) -> None:
        keep_merge(room.document.repo.path, room.live.branch, merge.to_state(phase))

    def _forget_merge(self, room: Room) -> None:
        try:
            forget_merge(room.document.repo.path, room.live.branch)
        except StoreError:
            # Harmless once the merge is over: the next load finds it over too.
            log.exception("could not remove the merge record of %s", room.key)

    def restore_merge(self, room: Room) -> list[dict[str, Any]]:
        """A loaded session whose merge a crash interrupted: finish what its phase needs
        (:func:`~svgx_sync.core.versions.merge_recovery`); the notices for the first
        client to join."""
        state = read_merge(room.document.repo.path, room.live.branch)
        if state is None:
            return []
        try:
            merge, phase = BranchMerge.from_state(state)
        except ValueError:
            log.exception("%s: the merge record cannot be used; ignored", room.key)
            self._forget_merge(room)
            return []
        repo, live = room.document.repo, room.live
        head = str(repo.references[f"refs/heads/{live.branch}"].target)
        committed = head == merge.theirs or repo.descendant_of(head, merge.theirs)
        step = merge_recovery(phase, committed=committed)
        log.warning(
            "%s: the merge of %s was interrupted (%s): %s", room.key, merge.branch, phase, step
        )
        if step == "over":
            self._forget_merge(room)
            return []
        if step == "finish_abort":
            self._undo_merge(room, merge)
            return [P.merge_aborted(merge.branch)]
        if step == "reapply":
            self._undo_merge(room, merge)
            records, notes = self._apply_merge(
                room, merge.branch, merge.ours, merge.theirs, merge.user_id
            )
        else:
            room.merge = merge
            records = [live.book.conflicts[c] for c in merge.waiting(live.book.conflicts)]
            notes = []
        return [P.merge_in_progress(merge.branch, records, notes)]


def _author(conn: Requester, msg: P.VersionRequest) -> tuple[str, str]:
    return author(msg.created_by, msg.user_id, conn.user_id, conn.username)


VERSION_ACTIONS: dict[str, Action] = {
    "create_version": Versions.create_version,
    "revert": Versions.revert,
    "history": Versions.history,
    "create_branch": Versions.create_branch,
    "switch_branch": Versions.switch_branch,
    "list_branches": Versions.list_branches,
    "diff": Versions.diff,
    "merge_branch": Versions.merge_branch,
    "complete_merge": Versions.complete_merge,
    "abort_merge": Versions.abort_merge,
}
