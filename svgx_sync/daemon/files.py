"""The working tree follows the live state: debounced file writes, the write guard, and
checkpoints.

* ``write_debounce_ms`` after a change, the checked-out branch's changed SVG files are
  rewritten atomically with minimal diffs, in a worker thread (fsync releases the GIL);
  a lock and a generation keep an older write from landing after a newer one.
* A file is replaced only while it holds bytes the daemon has seen
  (:func:`svgx_sync.core.external.may_replace`, checked just before the rename); another
  program's save found there is handed to the watcher to merge, and written after.
* A write that fails (a read-only or immutable file or folder, a full disk) is logged,
  told to the clients (``file_write_failed``) and in ``status``, and retried with a
  backoff until it goes through (``file_written``). The file still holds an earlier
  write of ours: that becomes its base again, so the stale file is never taken for an
  outside save made from an older version (which would undo the live edits).
* Before the files, the versions written are recorded (:mod:`svgx_sync.durable.bases`):
  the base an outside save is merged from.
* Every ``checkpoint_ops`` operations, ``checkpoint_interval_s`` after the first change
  since the last checkpoint (each room has its own timer), and at versions and shutdown,
  the live state is committed on ``refs/svgx/live/<branch>`` and the journal rotated.
  The first two build the commit in a worker thread (a big drawing's blob is hashed and
  compressed with the GIL let go: :func:`svgx_sync.git.objects.write_blob`) while the
  loop goes on: what it read is the live state at a ``seq``, the journal's mark taken
  then, and back on the loop the ref is pointed at it and the journal rotated, keeping
  every record since the mark. One made on the loop meanwhile (a version, a stop) wins.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass

import pygit2

from ..core import protocol as P
from ..core.external import content_id, may_replace
from ..core.journal_records import JournalRecord
from ..core.replay import retained
from ..durable.journal import JournalMark
from ..errors import StoreError, SvgxError
from ..git.layout import build_checkpoint, point_checkpoint, write_checkpoint
from .commit import GroupCommit
from .crash import crash_point
from .room import Room
from .runtime import Runtime

__all__ = ["FileWriter"]

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.5  # the first retry of a failed write; each next one waits twice as long
RETRY_MAX_S = 10.0

# What a failed write left on disk: (file, why, the bytes it still holds and the seq they
# were recorded at, or None when they are not a recorded write of ours).
Failure = tuple[str, str, "tuple[bytes, int] | None"]


# What build_checkpoint returns: the commit, and the blobs it holds.
Built = tuple[pygit2.Oid, dict[str, tuple[bytes | None, pygit2.Oid]]]


@dataclass(frozen=True, slots=True)
class _Checkpointing:
    """A checkpoint being built in a worker thread: what the journal keeps of the live
    state it read, where the journal ended then, and the room's generation then."""

    keep: list[JournalRecord]
    mark: JournalMark
    generation: int


class FileWriter:
    """Writes the rooms' files and checkpoints them, for every room of a daemon."""

    def __init__(self, rt: Runtime, commit: GroupCommit) -> None:
        self.rt = rt
        self.commit = commit
        self.writes: set[asyncio.Future[None]] = set()  # debounced writes running

    def delivered(self, room: Room) -> None:
        """Operations of ``room`` were delivered: write its files soon, checkpoint when due."""
        self.write_soon(room)
        if room.live.seq - room.checkpoint_seq >= self.rt.settings.checkpoint_ops:
            if not room.checkpointing:
                self.rt.running.call_soon(self.checkpoint_in_background, room)
        else:
            self._checkpoint_later(room)

    def _checkpoint_later(self, room: Room) -> None:
        """A changed session is committed by its own timer, ``checkpoint_interval_s``
        after its first change since the last checkpoint: nothing walks the rooms that
        did not change."""
        if room.checkpoint_handle is None and not room.closed and not room.broken:
            room.checkpoint_handle = self.rt.running.call_later(
                self.rt.settings.checkpoint_interval_s, self._checkpoint_due, room
            )

    def _checkpoint_due(self, room: Room) -> None:
        room.checkpoint_handle = None
        if not room.closed:
            self.checkpoint_in_background(room)

    async def wait(self) -> None:
        """Until the writes running now have ended."""
        await asyncio.gather(*self.writes, return_exceptions=True)

    def write_soon(self, room: Room) -> None:
        loop = self.rt.loop
        if room.write_handle is None and loop is not None:
            room.write_handle = loop.call_later(
                self.rt.settings.write_debounce_ms / 1000, self._write_in_background, room
            )

    def _write_in_background(self, room: Room) -> None:
        room.write_handle = None
        files = self._files_to_write(room)
        if files:
            room.write_generation += 1
            write = self.rt.running.run_in_executor(
                None, self._write_out, room, files, room.write_generation
            )
            self.writes.add(write)
            write.add_done_callback(self.writes.discard)

    def write_files(self, room: Room) -> None:
        """Write the changed files of the checked-out branch now (atomic, minimal diffs)."""
        if room.write_handle is not None:
            room.write_handle.cancel()
            room.write_handle = None
        files = self._files_to_write(room)
        # Writes still waiting for a worker thread are done here and now: every file
        # taken is on disk when this returns (a version, git, a stop may follow).
        files = {**room.bases.take_over(room.write_generation + 1), **files}
        if files:
            room.write_generation += 1
            self._write_out(room, files, room.write_generation)
        else:
            with room.write_lock:  # and a write already running has ended
                pass

    def writing(self, room: Room) -> bool:
        """A write of ``room``'s files is under way: its bytes are ``last_written``
        already but may not all be on disk yet."""
        return room.write_generation > room.written_generation or room.write_lock.locked()

    def _files_to_write(self, room: Room) -> dict[str, bytes]:
        if room.broken or not room.live.dirty or not room.checked_out():
            return {}
        files = room.live.take_dirty()
        self.record_bases(room, files, write=room.write_generation + 1)  # the next write
        return files

    def _write_out(self, room: Room, files: dict[str, bytes], generation: int) -> None:
        # Runs in a worker thread or on the loop; touches only the file system.
        with room.write_lock:
            # Writes may run out of order: a file goes only to the latest write that has it.
            files = room.bases.claim(generation, files)
            room.written_generation = max(room.written_generation, generation)
            try:
                room.bases.persist(generation, files)  # before the files: see bases.py
            except OSError:
                log.exception("could not record the bases of %s", room.key)
            crash_point("bases-recorded")
            refused: list[str] = []
            written: list[str] = []
            failed: list[Failure] = []
            for path, data in files.items():
                try:
                    guard = self._guard(room, path)
                    if room.document.write_file(path, data, may_replace=guard) is None:
                        refused.append(path)
                    else:
                        written.append(path)
                except StoreError as exc:
                    # The journal has it; the write is retried (_written_out).
                    failed.append((path, _reason(exc), self._restore_base(room, path)))
        loop = self.rt.loop
        if loop is not None and (refused or failed or room.write_failures):
            loop.call_soon_threadsafe(self._written_out, room, refused, written, failed)

    def _restore_base(self, room: Room, path: str) -> tuple[bytes, int] | None:
        """After a failed write of ``path``: the file holds an earlier write of ours
        (recorded before it), which is made its newest recorded version again; returns
        its bytes and seq, or None when the file holds something else."""
        try:
            disk: bytes | None = room.document.worktree.file_path(path).read_bytes()
        except (OSError, SvgxError):
            disk = None
        for data, seq in room.bases.versions(path):
            if data == disk:
                try:
                    room.bases.record({path: data}, {path: seq}, room.bases.head)
                except OSError:
                    log.exception("could not record the bases of %s", room.key)
                return data, seq
        return None

    def _written_out(
        self, room: Room, refused: list[str], written: list[str], failed: list[Failure]
    ) -> None:
        """On the loop, after a write: report failed files and schedule their retry, tell
        of files written again, and hand files found changed to the watcher."""
        live = room.live
        for path in written:
            if room.write_failures.pop(path, None) is not None:
                log.info("%s: %s written again", room.key, path)
                room.broadcast(P.file_written(live.name, path, live.seq))
        for path, reason, held in failed:
            if held is not None and room.bases.newest(path) == content_id(held[0]):
                live.older_copy_seen(path, held[0], seq=held[1])  # and it is dirty again
            else:
                live.write_back([path])
            if room.write_failures.get(path) != reason:
                log.warning("%s: cannot write %s (%s); retrying", room.key, path, reason)
                room.broadcast(P.file_write_failed(live.name, path, reason, live.seq))
            room.write_failures[path] = reason
        if failed:
            self._retry_soon(room)
        elif not room.write_failures:
            room.retry_delay = 0.0
        if refused:
            self._outside_edits_found(room, refused)

    def _retry_soon(self, room: Room) -> None:
        """Write the failed files again after a backoff (doubling, at most RETRY_MAX_S)."""
        loop = self.rt.loop
        if room.retry_handle is not None or loop is None or self.rt.stopping:
            return
        room.retry_delay = min(RETRY_MAX_S, room.retry_delay * 2 or RETRY_FIRST_S)

        def retry() -> None:
            room.retry_handle = None
            self.write_soon(room)

        room.retry_handle = loop.call_later(room.retry_delay, retry)

    def _guard(self, room: Room, path: str) -> Callable[[bytes | None], bool] | None:
        """What a write of ``path`` may replace: bytes the daemon has seen. Without a
        watcher nobody would merge the others, so then anything goes."""
        if self.rt.watcher is None:
            return None
        return lambda disk: may_replace(disk, room.bases.seen(path))

    def _outside_edits_found(self, room: Room, files: list[str]) -> None:
        """A write found ``files`` holding an edit the daemon has not merged and left
        them alone: they are judged as saves now (the watcher), and the live state is
        written after the merge."""
        log.info(
            "%s: %s changed on disk before the write; merging first", room.key, ", ".join(files)
        )
        room.live.write_back(files)
        watcher = self.rt.watcher
        if watcher is not None and not self.rt.stopping:
            self.rt.in_background(watcher.recheck(room.live.name, files))

    def record_bases(self, room: Room, files: Collection[str], *, write: int | None = None) -> None:
        """Record the ``last_written`` of ``files`` as their bases: now, or (``write``)
        staged for that write to record just before it puts them on disk."""
        live = room.live
        head = room.document.repo.references.get(f"refs/heads/{live.branch}")
        changes = {path: live.last_written.get(path) for path in files}
        commit = str(head.target) if head is not None else None
        if write is not None:
            room.bases.stage(changes, live.written_seq, commit, write=write)
            return
        try:
            room.bases.record(changes, live.written_seq, commit)
        except OSError:
            log.exception("could not record the bases of %s", room.key)

    def checkpoint_in_background(self, room: Room) -> None:
        """Checkpoint ``room`` with the commit built in a worker thread (one at a time);
        :meth:`_checkpointed` finishes it on the loop."""
        live = room.live
        if room.checkpointing or room.closed or room.broken:
            return
        try:
            self.commit.flush(room)
            if room.broken or live.seq == room.checkpoint_seq or not self.commit.sync(room):
                return
            run = _Checkpointing(
                retained(live), room.journal.mark(live.seq), room.checkpoint_generation
            )
        except SvgxError:
            log.exception("checkpoint of %s failed; the journal keeps everything", room.key)
            self._checkpoint_later(room)
            return
        room.checkpointing = True
        build = self.rt.running.run_in_executor(
            None,
            functools.partial(
                build_checkpoint,
                room.document,
                live.branch,
                live.contents(),
                live.seq,
                blobs=dict(room.checkpoint_blobs),
            ),
        )
        build.add_done_callback(lambda done: self._checkpointed(room, run, done))

    def _checkpointed(self, room: Room, run: _Checkpointing, built: asyncio.Future[Built]) -> None:
        """On the loop, once a checkpoint's commit is built: point the ref at it and
        rotate the journal, unless one made on the loop came first; then the next one
        is set up, if the session changed meanwhile."""
        room.checkpointing = False
        if built.cancelled() or room.closed or room.broken:
            return
        if room.checkpoint_generation == run.generation:
            try:
                commit, blobs = built.result()
                point_checkpoint(room.document, room.live.branch, commit)
                crash_point("checkpoint-pointed")
                room.journal.rotate(run.keep, since=run.mark)
            except SvgxError:
                log.exception("checkpoint of %s failed; the journal keeps everything", room.key)
            else:
                room.checkpoint_blobs = blobs
                self._checkpoint_made(room, run.mark.seq, str(commit))
        if room.live.seq == room.checkpoint_seq:
            return
        if room.live.seq - room.checkpoint_seq >= self.rt.settings.checkpoint_ops:
            self.rt.running.call_soon(self.checkpoint_in_background, room)
        else:
            self._checkpoint_later(room)

    def checkpoint(self, room: Room, *, force: bool = False) -> None:
        """Commit the live state to ``refs/svgx/live/<branch>`` and rotate the journal,
        now, on the loop (a version, a stop); one building in a thread is not used."""
        self.commit.flush(room)
        live = room.live
        if room.broken or (live.seq == room.checkpoint_seq and not force):
            return
        if not self.commit.sync(room):
            return
        room.checkpoint_generation += 1
        commit_id = write_checkpoint(
            room.document, live.branch, live.contents(), live.seq, blobs=room.checkpoint_blobs
        )
        room.journal.rotate(retained(live))
        self._checkpoint_made(room, live.seq, commit_id)

    def _checkpoint_made(self, room: Room, seq: int, commit_id: str) -> None:
        room.checkpoint_seq = seq
        if room.checkpoint_handle is not None:  # the next change sets it again
            room.checkpoint_handle.cancel()
            room.checkpoint_handle = None
        log.debug("checkpoint %s of %s at seq %d", commit_id, room.key, seq)


def _reason(exc: StoreError) -> str:
    """Why a write failed, in the system's words and without the daemon's paths."""
    cause = exc.__cause__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(exc)
