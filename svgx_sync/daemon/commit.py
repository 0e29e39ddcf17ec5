"""Group commit: durable before visible, in ``seq`` order.

What a session returns is appended to its journal; once per batch the journal is
fsynced, and only then are the operations broadcast and acknowledged. A batch is flushed
from ``loop.call_soon``: everything that arrived in one pass of the event loop goes out
together, at most ``batch_size`` operations per frame, each frame encoded once.

With ``fsync_in_thread`` a batch is written on the loop and fsynced in a worker thread
(fdatasync releases the GIL); what arrives meanwhile forms the next batch, fsynced as soon
as the previous one is done: one fsync in flight per session. Paths that need everything
delivered at once (join, versions, checkpoints, shutdown) call :meth:`GroupCommit.flush`.

A journal that fails closes its session: nothing unsynced is acknowledged. Presence is
coalesced here too: at most one ``presence_update`` per ``batch_timeout``, and each room
has one timer, set for its next presence timeout (nothing walks the idle rooms). A
presence update due within ``batch_timeout`` when a batch goes out goes in the batch's
write instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..core import protocol as P
from ..core.session import Outcome
from ..errors import SvgxError
from .metrics import Metrics
from .room import Batch, Conn, Reply, Room, send
from .runtime import Runtime

__all__ = ["GroupCommit"]

log = logging.getLogger(__name__)


def _nothing(room: Room) -> None:
    pass


class GroupCommit:
    """Journal, fsync, then broadcast and acknowledge, for every room of a daemon."""

    def __init__(self, rt: Runtime, metrics: Metrics) -> None:
        self.rt = rt
        self.metrics = metrics
        # Journal fsyncs (one in flight per session); not the default executor, so
        # they never queue behind file writes.
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="svgx-journal")
        self.delivered: Callable[[Room], None] = _nothing
        """Called after operations were delivered (the files follow: files.py)."""

    def queue(self, room: Room, out: Outcome, reply: Reply) -> None:
        """Journal what a session returned and queue its messages for the next flush."""
        room.last_used = time.monotonic()
        for record in out.journal:
            room.journal.append(record)
        room.outgoing.extend(out.entries)
        if out.conflicts:
            self.metrics.conflicts.inc(len(out.conflicts))
            room.notices.append(P.conflict_detected(out.conflicts))
        if out.resolved is not None:
            room.notices.append(P.conflict_resolved(out.resolved, out.seq))
            if not isinstance(reply, Conn):
                room.replies.append((reply, P.conflict_resolved(out.resolved, out.seq)))
        else:
            room.reply_later(reply, P.ack(out.ack))
        self.flush_soon(room)

    def flush_soon(self, room: Room) -> None:
        """Group commit at the end of this pass of the event loop."""
        if not room.flush_scheduled:
            room.flush_scheduled = True
            self.rt.running.call_soon(self._group_commit, room)

    def _group_commit(self, room: Room) -> None:
        """Flush when idle: write the batch, fsync it in a worker thread, deliver it then."""
        if not self.rt.settings.fsync_in_thread:
            self.flush(room)
            return
        room.flush_scheduled = False
        if room.broken or room.inflight is not None or not room.queued():
            return  # with a batch in flight, _synced starts the next one
        if not room.journal.unsynced:
            self.flush(room)  # nothing to make durable (a duplicate's answer, a notice)
            return
        batch = room.take()
        try:
            batch.sync = room.journal.write()
        except SvgxError:
            log.exception("journal of %s failed; closing its session", room.key)
            self._journal_failed(room, [batch])
            return
        room.inflight = batch
        future = self.rt.running.run_in_executor(self.pool, self._timed_sync, batch.sync.run)
        future.add_done_callback(lambda done: self._synced(room, batch, done))

    def _synced(self, room: Room, batch: Batch, future: asyncio.Future[None]) -> None:
        error = None if future.cancelled() else future.exception()
        if room.inflight is not batch:
            # A synchronous flush took the batch over and fsynced it itself.
            if error is not None and not room.broken:
                log.error("journal of %s failed: %s; closing its session", room.key, error)
                self._journal_failed(room, [])
            return
        room.inflight = None
        if error is not None or batch.sync is None:
            log.error("journal of %s failed: %s; closing its session", room.key, error)
            self._journal_failed(room, [batch])
            return
        room.journal.synced(batch.sync)
        self.metrics.fsyncs.inc()
        self._deliver(room, batch)
        if room.queued():
            self._group_commit(room)  # what arrived during the fsync: the next batch

    def sync(self, room: Room, batches: list[Batch] | None = None) -> bool:
        """fsync the journal now; on failure the room stops taking operations."""
        if not room.journal.unsynced:
            return True
        try:
            self._timed_sync(room.journal.sync)
        except SvgxError:
            log.exception("journal of %s failed; closing its session", room.key)
            self._journal_failed(room, batches or [])
            return False
        self.metrics.fsyncs.inc()
        return True

    def _timed_sync(self, fsync: Callable[[], None]) -> None:
        """Run one journal fsync, its duration observed (a histogram is thread-safe)."""
        started = time.perf_counter()
        fsync()
        self.metrics.journal_sync.observe(time.perf_counter() - started)

    def _journal_failed(self, room: Room, batches: list[Batch]) -> None:
        """Nothing unsynced is acknowledged; the session closes (reloaded on the next join)."""
        room.broken = True
        if room.inflight is not None:
            batches = [room.inflight, *batches]
            room.inflight = None
        replies = [reply for batch in batches for reply in batch.replies] + room.replies
        for target, _ in replies:
            if isinstance(target, Conn):
                target.answered()
            send(target, P.error("journal_error", "the operation could not be stored"))
        room.replies.clear()
        for conn in list(room.clients):
            self.rt.close(conn, 1011, "storage failure")
        if self.rt.rooms.get(room.key) is room:
            del self.rt.rooms[room.key]

    def flush(self, room: Room) -> None:
        """Group commit now, on the loop; then deliver what was in flight and queued."""
        room.flush_scheduled = False
        if room.broken:
            return
        batches = []
        if room.inflight is not None:
            batches.append(room.inflight)
            room.inflight = None  # _synced will find it taken over
        if room.queued():
            batches.append(room.take())
        if not batches or not self.sync(room, batches):
            return
        for batch in batches:
            self._deliver(room, batch)

    def _deliver(self, room: Room, batch: Batch) -> None:
        """Broadcast and acknowledge a batch that is on disk; a file added whole that is
        too large to come inline is named by its address (:func:`P.addressed`)."""
        settings = self.rt.settings
        entries = P.addressed(batch.entries, settings.inline_files_bytes, room.raw_url)
        room.durable_seq = batch.seq
        size = settings.batch_size
        texts = [
            P.encode(P.operations(entries[start : start + size]))
            for start in range(0, len(entries), size)
        ]
        texts.extend(P.encode(notice) for notice in batch.notices)
        if texts:
            presence = self._presence_along(room)
            if presence is not None:
                texts.append(P.encode(presence))
        for conn in room.clients:
            conn.delivered = batch.seq
        started = time.perf_counter()
        room.deliver(texts, batch.replies)  # one write per client, its acks included
        self.metrics.fan_out.observe(time.perf_counter() - started)
        if entries:
            self.metrics.delivered(len(entries), batch.received)
            self.delivered(room)

    def presence_soon(self, room: Room) -> None:
        """Send the room's presence changes within ``batch_timeout``, coalesced."""
        self._presence_in(room, self.rt.settings.batch_timeout_ms / 1000)

    def presence_flush(self, room: Room) -> None:
        """Send the room's presence changes now, then sleep until its next timeout."""
        update = self._presence_now(room)
        if update is not None:
            room.broadcast(update)

    def _presence_now(self, room: Room) -> dict[str, Any] | None:
        """The room's ``presence_update`` as of now (None: nothing changed, or nobody to
        tell), its timer set again for its next timeout."""
        room.presence_handle = None
        now = time.time()
        changed = room.presence.tick(now)
        due = room.presence.next_change(now)
        if due is not None and not room.broken:
            self._presence_in(room, due - now)
        if not (changed and room.clients):
            return None
        if self.rt.loop is not None:
            room.presence_sent = self.rt.loop.time()
        return P.presence_update(changed)

    def _presence_along(self, room: Room) -> dict[str, Any] | None:
        """The ``presence_update`` its timer would send within ``batch_timeout``, to go in
        the same write as a batch (one write per client, not two), unless one went out
        less than ``batch_timeout`` ago: at most one per ``batch_timeout`` still."""
        loop, handle = self.rt.loop, room.presence_handle
        if loop is None or handle is None:
            return None
        timeout, now = self.rt.settings.batch_timeout_ms / 1000, loop.time()
        if handle.when() - now > timeout or now - room.presence_sent < timeout:
            return None
        handle.cancel()
        return self._presence_now(room)

    def _presence_in(self, room: Room, delay: float) -> None:
        """One presence timer per room, at the earliest time anything asks for: a room
        nobody touches costs nothing until a user of it times out."""
        loop = self.rt.loop
        if loop is None or self.rt.stopping or room.closed:
            return
        when = loop.time() + max(0.0, delay)
        handle = room.presence_handle
        if handle is not None:
            if handle.when() <= when:
                return
            handle.cancel()
        room.presence_handle = loop.call_at(when, self.presence_flush, room)
