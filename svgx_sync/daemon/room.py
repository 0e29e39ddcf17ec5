"""A live document branch inside the daemon (:class:`Room`), its clients (:class:`Conn`),
what one journal fsync makes deliverable (:class:`Batch`), and the loading, closing and
unloading of rooms (:class:`RoomLoader`)."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pygit2

from ..config import Settings
from ..core import protocol as P
from ..core.access import Gate
from ..core.presence import PresenceBook
from ..core.rate import TokenBucket
from ..core.session import LiveDocument, document_key
from ..core.versions import BranchMerge
from ..durable.bases import WrittenBases, bases_folder
from ..durable.journal import Journal, PendingSync
from ..errors import ClientError, StoreError, SvgxError
from ..git.locks import held_locks, lock_holders, owner_pid, repository_owner
from ..git.names import validate_branch_name, validate_document_name
from ..git.store import Document
from .pages import raw_url
from .transport import Frames, deliver, fan_out

if TYPE_CHECKING:
    from .commit import GroupCommit
    from .files import FileWriter
    from .recovery import Parsed
    from .runtime import Runtime
    from .transport import Transport

__all__ = ["Batch", "Conn", "Reply", "Room", "RoomLoader", "send"]

log = logging.getLogger(__name__)

Reply = Any  # a Conn, an asyncio.Future (the Python API), or None


class Conn:
    """One client connection, over any :class:`~.transport.Transport`."""

    __slots__ = (
        "creates",
        "deadline",
        "delivered",
        "errors",
        "gate",
        "loading",
        "ops",
        "reading",
        "room",
        "session_id",
        "transport",
        "unanswered",
        "user_id",
        "username",
    )

    def __init__(self, transport: Transport, ops: TokenBucket | None, creates: TokenBucket) -> None:
        self.transport = transport
        self.gate: Gate | None = None  # who it is and may do (daemon/access.py)
        self.ops = ops  # operations it may send (settings.ops_per_second; None: no cap)
        self.creates = creates  # documents it may create (settings.new_documents_per_minute)
        self.deadline: asyncio.TimerHandle | None = None  # until its first join
        self.user_id: str | None = None
        self.username: str | None = None
        self.session_id: str | None = None
        self.room: Room | None = None
        self.delivered = 0
        self.errors = 0
        # its operations waiting in a batch for their answer (settings.max_unanswered_ops),
        # and what its reader waits on while that window is full (connection.py)
        self.unanswered = 0
        self.reading: asyncio.Future[None] | None = None
        self.loading: asyncio.Task[None] | None = None  # a join waiting for its files' parse

    def answer_later(self) -> None:
        """One of its operations waits in a batch for its answer (ack or error)."""
        self.unanswered += 1

    def answered(self) -> None:
        """One of its operations was answered: its reader may go on."""
        self.unanswered -= 1
        reading = self.reading
        if reading is not None and not reading.done():
            reading.set_result(None)


def send(target: Reply, message: dict[str, Any]) -> None:
    """Send ``message`` to one client, or answer the Python API's future with it."""
    if isinstance(target, Conn):
        target.transport.send(P.encode(message))
    elif isinstance(target, asyncio.Future):
        if not target.done():
            target.set_result(message)


class Batch:
    """What one journal fsync makes deliverable: operations, notices and replies."""

    __slots__ = ("entries", "notices", "received", "replies", "seq", "sync")

    def __init__(
        self,
        entries: list[dict[str, Any]],
        notices: list[dict[str, Any]],
        replies: list[tuple[Reply, dict[str, Any]]],
        received: list[float],
        seq: int,
    ) -> None:
        self.entries = entries
        self.notices = notices
        self.replies = replies
        self.received = received
        self.seq = seq  # the live seq when the batch was taken: all of it is in the batch
        self.sync: PendingSync | None = None


class Room:
    """One live document branch inside the daemon, with the I/O around its session."""

    def __init__(
        self, document: Document, live: LiveDocument, journal: Journal, settings: Settings
    ) -> None:
        self.document = document
        self.live = live
        self.journal = journal
        self.clients: set[Conn] = set()
        self.presence = PresenceBook(
            activity_timeout=settings.activity_timeout_s,
            offline_grace=settings.offline_grace_s,
            editing_window=settings.editing_window_s,
        )
        self.outgoing: list[dict[str, Any]] = []
        self.notices: list[dict[str, Any]] = []
        self.replies: list[tuple[Reply, dict[str, Any]]] = []
        self.received: list[float] = []
        self.flush_scheduled = False
        self.inflight: Batch | None = None  # written, its fsync running in a worker thread
        self.last_used = time.monotonic()  # the last join, leave or submission
        # path -> (bytes, or None for a big file, and blob id) of the last checkpoint:
        # unchanged files are not compressed again
        self.checkpoint_blobs: dict[str, tuple[bytes | None, pygit2.Oid]] = {}
        # A checkpoint being built in a worker thread; one made on the loop meanwhile
        # counts the generation up, and the one in the thread is then not used.
        self.checkpointing = False
        self.checkpoint_generation = 0
        # path -> (seq, ETag, gzipped bytes) of the last gzipped fetch (a tenth of the file)
        self.gzipped: dict[str, tuple[int, str, bytes]] = {}
        self.write_handle: asyncio.TimerHandle | None = None
        # Debounced writes run in a thread (fsync releases the GIL); the lock and the
        # generation keep an older write from landing after a newer one.
        self.write_lock = threading.Lock()
        self.write_generation = 0
        self.written_generation = 0
        self.presence_handle: asyncio.TimerHandle | None = None  # the next presence timeout
        self.presence_sent = -math.inf  # loop time of the last presence_update sent
        # checkpoint_interval_s after the first change since the last checkpoint
        self.checkpoint_handle: asyncio.TimerHandle | None = None
        self.closed = False  # closed by RoomLoader.close: its timers are not set again
        # Files whose last write failed (path -> why), retried with retry_handle.
        self.write_failures: dict[str, str] = {}
        self.retry_handle: asyncio.TimerHandle | None = None
        self.retry_delay = 0.0
        self.durable_seq = live.seq
        self.checkpoint_seq = live.seq
        self.version_ops: list[str] = []
        # What was last written to each working-tree file: the base of external edits.
        self.bases = WrittenBases(bases_folder(Path(document.repo.path), live.branch))
        self.merge: BranchMerge | None = None  # a branch merge waiting on conflicts
        self.broken = False
        # files found not to be SVG when the session was loaded: told to the next welcome
        self.load_notices: list[dict[str, Any]] = []
        # seqs a damaged journal's replay could no longer apply (journal.damage says more)
        self.not_applied: list[int] = []
        self.lock_report_s = settings.lock_report_s
        self.version_waits = 0  # version actions waiting for git's lock files

    def lock_notices(self) -> list[dict[str, Any]]:
        """The git lock files of this session's repository held for lock_report_s or
        longer, each with the processes seen using it."""
        git_dir = self.document.repo.path
        live = self.live
        notices = []
        for lock in held_locks(git_dir, older_than=self.lock_report_s):
            owner = repository_owner(git_dir)
            holders = lock_holders(git_dir, self.document.path, lock.path, besides=owner_pid(owner))
            notices.append(
                P.lock_held(
                    live.name,
                    live.branch,
                    str(self.document.path),
                    lock.path,
                    lock.age_s,
                    [f"process {h.pid} ({h.command}) {h.why}" for h in holders],
                )
            )
        return notices

    def damage_notices(self) -> list[dict[str, Any]]:
        """What everyone who joins is told of damage found in this session's journal."""
        live = self.live
        return [
            P.journal_damaged(
                live.name,
                live.branch,
                lost_seqs=d.seqs,
                lost_after_seq=d.after_seq,
                not_applied=self.not_applied,
                kept_as=d.copy,
                found_at=d.found_at,
            )
            for d in self.journal.damage
        ]

    @property
    def key(self) -> str:
        return self.live.key

    def raw_url(self, path: str) -> str:
        """Where a client fetches file ``path`` of this session as it is now (``GET``)."""
        return raw_url(self.key, path)

    def checked_out(self) -> bool:
        """Whether the room's branch is the one checked out in the working tree."""
        try:
            return self.document.current_branch() == self.live.branch
        except StoreError:
            return False

    def queued(self) -> bool:
        """Something waits for the next flush: operations, replies or notices."""
        return bool(self.outgoing or self.replies or self.notices)

    def reply_later(self, target: Reply, message: dict[str, Any]) -> None:
        """Answer ``target`` with ``message`` when the next batch goes out (counted in a
        connection's window until then)."""
        if isinstance(target, Conn):
            target.answer_later()
        self.replies.append((target, message))

    def take(self) -> Batch:
        """What waits for the next flush, as one batch; the room's queues start empty."""
        batch = Batch(self.outgoing, self.notices, self.replies, self.received, self.live.seq)
        self.outgoing, self.notices, self.replies, self.received = [], [], [], []
        return batch

    def deliver(self, texts: list[str], replies: list[tuple[Reply, dict[str, Any]]]) -> None:
        """Send ``texts`` to every client, and each reply to its target: a client's own
        replies (its acks) follow the texts in the same write."""
        own: dict[Transport, list[str]] = {}
        for target, message in replies:
            if isinstance(target, Conn):
                target.answered()
                if target in self.clients:
                    own.setdefault(target.transport, []).append(P.encode(message))
                    continue
            send(target, message)
        deliver(
            [c.transport for c in self.clients],
            Frames(texts),
            {transport: Frames(mine) for transport, mine in own.items()},
        )

    def broadcast(self, message: dict[str, Any]) -> None:
        """Send ``message`` to every client of the room (encoded once)."""
        fan_out([c.transport for c in self.clients], P.encode(message))


class RoomLoader:
    """Finds the room of a session, loading it on first use; closes and unloads rooms."""

    def __init__(
        self,
        rt: Runtime,
        commit: GroupCommit,
        files: FileWriter,
        load: Callable[[Document, str, Parsed | None], Room],
        parse: Callable[[str, str], Parsed | None] | None = None,
    ) -> None:
        self.rt = rt
        self.commit = commit
        self.files = files
        self.load = load
        self.parse = parse  # what the load starts from, parsed in a worker thread
        self._parsing: dict[str, asyncio.Future[Parsed | None]] = {}

    def parse_ahead(self, session_id: str) -> asyncio.Future[Parsed | None] | None:
        """When ``session_id``'s room is not loaded: its files being parsed in a worker
        thread, for :meth:`room_for` (one parse for the joins that wait for it). Parsing
        a big drawing holds the event loop up only where Python holds its lock: 0.25 s
        at 561k elements instead of 1.9 s, 52 ms at 60k instead of 194."""
        rt = self.rt
        name, _, branch = session_id.partition("@")
        if self.parse is None or rt.loop is None:
            return None
        try:
            validate_document_name(name)
            if branch:
                validate_branch_name(branch)
        except ClientError:
            return None  # room_for says why
        if branch and document_key(name, branch) in rt.rooms:
            return None
        if not branch:
            if self.working_tree_room(name) is not None:
                return None
            if not (rt.store.path_of(name) / ".git").exists():
                return None  # room_for creates it, or says why not
            branch = self._working_branch(name, rt.store.open(name))
            if not branch or document_key(name, branch) in rt.rooms:
                return None
        key = document_key(name, branch)  # "plan" and "plan@main" share one parse
        running = self._parsing.get(key)
        if running is None:
            running = asyncio.ensure_future(asyncio.to_thread(self.parse, name, branch))
            self._parsing[key] = running
            running.add_done_callback(lambda _f: self._parsing.pop(key, None))
        return running

    def _working_branch(self, name: str, document: Document) -> str:
        """The branch a session of ``name`` without one is: the checked-out one, or with
        HEAD detached the parked one ("": neither)."""
        return document.head_branch() or self.rt.parked.get(name) or ""

    def room_for(self, session_id: str, parsed: Parsed | None = None) -> Room:
        """The live document branch ``name[@branch]``, loaded (and recovered) on first use;
        ``parsed``: what :meth:`parse_ahead` made for it."""
        rt = self.rt
        name, _, branch = session_id.partition("@")
        validate_document_name(name)
        if branch:
            validate_branch_name(branch)
            room = rt.rooms.get(document_key(name, branch))
            if room is not None:
                return room
        document = rt.store.open(name, create=rt.settings.create_missing_documents)
        # With HEAD detached, the working tree's session is the parked one.
        branch = branch or self._working_branch(name, document)
        if not branch:
            raise ClientError(
                f"HEAD of {name!r} is detached and no branch is parked; join {name!r}@BRANCH"
            )
        room = rt.rooms.get(document_key(name, branch))
        if room is None:
            room = self.load(document, branch, parsed)
            rt.rooms[room.key] = room
            rt.heap.loaded(time.monotonic())
        return room

    def working_tree_room(self, name: str) -> Room | None:
        """The loaded room of the branch checked out in document ``name``'s working tree."""
        for room in self.rt.rooms.of_document(name):
            if room.checked_out():
                return room
        return None

    def close(self, room: Room) -> None:
        """Flush, write, checkpoint and close one live document branch (synchronous)."""
        room.closed = True
        timers = (
            room.presence_handle,
            room.checkpoint_handle,
            room.write_handle,
            room.retry_handle,
        )
        for handle in timers:
            if handle is not None:
                handle.cancel()
        room.presence_handle = room.checkpoint_handle = None
        try:
            self.commit.flush(room)
            self.files.write_files(room)
            self.files.checkpoint(room)
            room.journal.close()
        except SvgxError:
            log.exception("could not shut %s down cleanly; the journal has it", room.key)

    def shutdown(self) -> None:
        """Flush, write, checkpoint and close every live document (synchronous)."""
        for room in list(self.rt.rooms.values()):
            self.close(room)
        self.rt.rooms.clear()
        # Every batch was taken over and fsynced above; let the fsyncs still running end.
        self.commit.pool.shutdown(wait=True)

    def _idle(self, room: Room, now: float) -> bool:
        """No client for ``idle_unload_s``, and nothing left to fsync, send or write."""
        limit = self.rt.settings.idle_unload_s
        return bool(
            limit
            and not room.clients
            and now - room.last_used >= limit
            and room.merge is None  # a branch merge waiting on conflicts lives in memory
            and room.version_waits == 0  # a version action waiting for git's locks
            and room.inflight is None
            and not room.queued()
            and not room.journal.unsynced
            and room.write_handle is None
            and room.written_generation == room.write_generation
            and not room.write_lock.locked()
        )

    def unload_idle(self, now: float) -> list[str]:
        """Checkpoint and close the idle live sessions; the next join reloads them."""
        rooms = self.rt.rooms
        unloaded = []
        for room in list(rooms.values()):
            if self._idle(room, now) and rooms.get(room.key) is room:
                self.close(room)
                del rooms[room.key]
                unloaded.append(room.key)
                log.info("unloaded idle session %s at seq %d", room.key, room.live.seq)
        if unloaded:
            self.rt.heap.unloaded()
        return unloaded
