"""The daemon's side of the file watcher (:class:`~svgx_sync.daemon.watcher.WatchTarget`):
edits made beside the daemon enter the live session the way of a client's, and the
sessions follow what git does to HEAD.

Detached HEAD parks the branch's session (its clients get ``head_detached``; it writes
nothing). Back on that branch, its live state is written out. On another branch, that
branch's session takes the working tree and the clients of the one before follow, each
with a fresh ``welcome``. Before git's forced change, or an outside save that drops ids,
is merged in, the live state is kept on a ref or in a version.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Sequence
from typing import Any

from ..core.external import Checkout, checkout_sessions
from ..core.session import LiveDocument, Outcome, document_key
from ..errors import SvgxError
from ..git.layout import KEPT_REF_PREFIX, write_checkpoint
from .commit import GroupCommit
from .files import FileWriter
from .membership import Membership, detached_notice
from .recovery import Recovery
from .room import Room, RoomLoader
from .runtime import Runtime
from .versions import Versions

__all__ = ["WorkTree"]

log = logging.getLogger(__name__)


class WorkTree:
    """What the watcher asks of the daemon, for every document's working tree."""

    def __init__(
        self,
        rt: Runtime,
        commit: GroupCommit,
        files: FileWriter,
        members: Membership,
        versions: Versions,
        recovery: Recovery,
        loader: RoomLoader,
    ) -> None:
        self.rt = rt
        self.commit = commit
        self.files = files
        self.members = members
        self.versions = versions
        self.recovery = recovery
        self.loader = loader

    def working_tree_session(self, name: str) -> LiveDocument | None:
        """The live session of the branch checked out in document ``name``'s working
        tree, or None when it is not loaded (nobody edits it) or its storage failed."""
        room = self.loader.working_tree_room(name)
        return None if room is None or room.broken else room.live

    async def publish_external(
        self,
        name: str,
        outcomes: Sequence[Outcome],
        messages: Sequence[dict[str, Any]],
        bases: Collection[str] = (),
    ) -> None:
        """Take what the session returned for edits made beside the daemon the way of a
        client's operations (journal, group commit, broadcast in ``seq`` order), with
        nobody to acknowledge; send ``messages`` after them; record the new base
        (``last_written``) of the files in ``bases``; write back what the merge changed."""
        room = self.loader.working_tree_room(name)
        if room is None:
            return
        for out in outcomes:
            self.commit.queue(room, out, None)
            room.version_ops.extend(e["op_id"] for e in out.entries)
        room.notices.extend(messages)
        if bases:
            await asyncio.to_thread(self.files.record_bases, room, bases)
        self.commit.flush_soon(room)
        if room.live.dirty:
            self.files.write_soon(room)

    async def written_versions(self, name: str, file: str) -> list[tuple[bytes, int]]:
        """The recent recorded versions of ``file`` in document ``name``'s working tree,
        newest first, with the ``seq`` each was taken at (read and checked in a worker
        thread: up to ``MAX_VERSIONS`` copies of the file)."""
        room = self.loader.working_tree_room(name)
        return [] if room is None else await asyncio.to_thread(room.bases.versions, file)

    def writing_files(self, name: str) -> bool:
        """Whether a write of document ``name``'s working tree is under way: its bytes
        are ``last_written`` already but may not all be on disk yet."""
        room = self.loader.working_tree_room(name)
        return room is not None and self.files.writing(room)

    def follow_checkout(self, name: str, old: str | None, new: str | None) -> Checkout:
        """git moved HEAD of document ``name`` from branch ``old`` to branch ``new`` (None:
        detached); carries out :func:`~svgx_sync.core.external.checkout_sessions`."""
        rooms, parked = self.rt.rooms, self.rt.parked
        move = checkout_sessions(old, new, parked.get(name))
        if move.parked is None:
            parked.pop(name, None)
        else:
            parked[name] = move.parked
        if move.takes is None:
            waiting = rooms.get(document_key(name, move.parked)) if move.parked else None
            if waiting is not None:
                self.commit.flush(waiting)  # the notice comes after everything acknowledged
                waiting.broadcast(detached_notice(waiting))
            return move
        if move.leaves is None:
            back = rooms.get(document_key(name, move.takes))
            if back is not None:
                self._show_live_state(back)
            return move
        previous = rooms.get(document_key(name, move.leaves))
        if previous is None or not previous.clients:
            return move
        room = self.loader.room_for(f"{name}@{move.takes}")
        self._show_live_state(room)
        self.commit.flush(previous)
        now = time.time()
        for conn in list(previous.clients):
            previous.clients.discard(conn)
            if conn.user_id is not None:
                previous.presence.leave(conn.user_id, now)
            self.members.enter(conn, room, room.key, now)
            self.members.welcome(conn, room, None)
        self.commit.presence_soon(previous)
        self.commit.presence_soon(room)
        return move

    def _show_live_state(self, room: Room) -> None:
        """Whatever git checked out, the working tree shows this session's live state.

        The files hold git's checkout now (not what the session was loaded with, when it
        was loaded elsewhere): those bytes are seen, and the live state goes over them.
        """
        on_disk = room.document.svg_files()
        live = room.live
        live.checkout_seen(on_disk)
        room.bases.note_seen(on_disk)
        self.recovery.follow_working_tree(room, on_disk, live.seq)
        self.files.write_files(room)

    def keep_live_state(self, name: str, reason: str) -> str | None:
        """Commit the live state of document ``name``'s working-tree session to
        ``refs/svgx/kept/<branch>`` (parent: the branch head), so that nothing live is
        lost to a forced git command merged in next; returns the ref or None."""
        room = self.loader.working_tree_room(name)
        if room is None:
            return None
        live = room.live
        ref = KEPT_REF_PREFIX + live.branch
        try:
            write_checkpoint(
                room.document,
                live.branch,
                live.contents(),
                live.seq,
                ref=ref,
                title=f"Live state kept {reason}",
            )
        except SvgxError:
            log.exception("could not keep the live state of %s", room.key)
            return None
        return ref

    def version_before_loss(self, name: str, description: str) -> str | None:
        """Commit the live state of document ``name``'s working-tree session on its
        branch, by svgx_sync, before an outside save that drops ids or the model is
        merged in; announce it (``version_created`` with ``"auto": true``) and return its
        id, or None when it could not be made. The files on disk are not written: they
        hold the outside save, merged next."""
        room = self.loader.working_tree_room(name)
        if room is None or room.broken:
            return None
        self.commit.flush(room)
        return self.versions.commit_before_loss(room, description)
