"""The daemon: a websockets server that runs live sessions and keeps them durable.

This is a shell. The rules are in :mod:`svgx_sync.core.session` (ordering, idempotence),
:mod:`svgx_sync.core.conflicts`, :mod:`svgx_sync.core.presence` and :mod:`svgx_sync.core.protocol`;
this module reads frames, hands them to those, and carries out what they return:

* **Durable before visible.** Accepted operations are appended to the document
  branch's journal; once per batch the journal is fsynced, and only then are the
  operations broadcast and acknowledged (group commit). A ``kill -9`` at any moment
  loses nothing that was acknowledged.
* **Or the fsync runs beside the loop** (``fsync_in_thread``): a batch is written to the
  journal on the loop and fsynced in a worker thread (fdatasync releases the GIL) while
  the loop goes on receiving; it is broadcast and acknowledged when that fsync returns.
  What arrives meanwhile forms the next batch, fsynced as soon as the previous one is
  done: one fsync in flight per session, one fsync per batch. Paths that need
  everything delivered at once (join, versions, checkpoints, shutdown) flush
  synchronously either way.
* **Idle sessions are unloaded**: with no client for ``idle_unload_s``, and everything
  fsynced, broadcast and written, a session is checkpointed and closed; the next join
  loads it again.
* **Flush when idle.** The batch is flushed from ``loop.call_soon``: everything that
  arrived in one pass of the event loop goes out together, at most ``batch_size``
  operations per frame, each frame encoded once and sent with ``websockets.broadcast``.
  Under no load nothing waits for a timer.
* **Presence is coalesced**: at most one ``presence_update`` per ``batch_timeout``.
* **Files follow, debounced**: the checked-out branch's SVG files are rewritten
  atomically with minimal diffs ``write_debounce_ms`` after a change; checkpoints (commits
  on ``refs/svgx/live/<branch>`` carrying ``Svgx-Seq``) let the journal be rotated.
  A file is replaced only while it holds bytes the daemon has seen
  (:func:`svgx_sync.core.external.may_replace`, checked just before the rename); another
  program's save found there is handed to the watcher to merge, and written after.
* Start-up recovers each document branch from its checkpoint (or branch head) plus the
  journal entries after the checkpoint's seq.
* ``/healthz`` and ``/metrics`` are answered on the same port (``process_request``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
import pygit2
import websockets
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..config import Settings
from ..core import protocol as P
from ..core.external import (
    Checkout,
    ExternalChange,
    checkout_sessions,
    closest_version,
    loss_message,
    may_replace,
)
from ..core.external_merge import recover_working_tree
from ..core.ops import Operation
from ..core.presence import PresenceBook
from ..core.session import LiveDocument, Outcome, document_key, version_files
from ..durable.bases import WrittenBases, bases_folder
from ..durable.journal import Journal, PendingSync, journal_path, read_journal
from ..errors import (
    ClientError,
    ListenError,
    NotFound,
    ProtocolError,
    ServerError,
    StoreError,
    SvgxError,
)
from ..git.layout import (
    CHECKPOINT_REF_PREFIX,
    KEPT_REF_PREFIX,
    SYSTEM_NAME,
    checkpoint_seq,
    write_checkpoint,
)
from ..git.names import validate_branch_name, validate_document_name
from ..git.store import Document, Store

__all__ = ["Daemon", "serve_forever"]

log = logging.getLogger(__name__)

MAX_CLIENT_ERRORS = 100  # errors on one connection before it is closed as abusive
VERSION_OP_IDS = 200  # at most this many Svgx-Operation trailers per version commit

Reply = Any  # a Conn, an asyncio.Future (the Python API), or None


class Conn:
    """One client connection."""

    __slots__ = ("delivered", "errors", "room", "session_id", "user_id", "username", "ws")

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.user_id: str | None = None
        self.username: str | None = None
        self.session_id: str | None = None
        self.room: Room | None = None
        self.delivered = 0
        self.errors = 0


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
        # path -> (bytes, blob id) of the last checkpoint: unchanged files are not re-hashed
        # and re-compressed (the blob's zlib holds the GIL: ~3 ms per 10k elements)
        self.checkpoint_blobs: dict[str, tuple[bytes, pygit2.Oid]] = {}
        self.write_handle: asyncio.TimerHandle | None = None
        # Debounced writes run in a thread (fsync releases the GIL); the lock and the
        # generation keep an older write from landing after a newer one.
        self.write_lock = threading.Lock()
        self.write_generation = 0
        self.written_generation = 0
        self.presence_handle: asyncio.TimerHandle | None = None
        self.durable_seq = live.seq
        self.checkpoint_seq = live.seq
        self.version_ops: list[str] = []
        # What was last written to each working-tree file: the base of external edits.
        self.bases = WrittenBases(bases_folder(Path(document.repo.path), live.branch))
        self.merge: dict[str, Any] | None = None  # a branch merge waiting on conflicts
        self.broken = False
        # files found not to be SVG when the session was loaded: told to the next welcome
        self.load_notices: list[dict[str, Any]] = []

    @property
    def key(self) -> str:
        return self.live.key


def _recorded_at(folder: Path) -> float:
    """When the written-versions record in ``folder`` last changed (0: unreadable)."""
    try:
        return (folder / "manifest.json").stat().st_mtime
    except OSError:
        return 0.0


class Daemon:
    """The collaboration daemon. ``await start()``, then ``await stop()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: Store  # made by start(), once the port is ours: a failed start creates nothing
        self.rooms: dict[str, Room] = {}
        self.parked: dict[str, str] = {}  # document -> branch parked while HEAD is detached
        self.conns: set[Conn] = set()
        self.server: Server | None = None
        self.port: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.watcher: Any = None  # svgx_sync.daemon.watcher.Watcher, set by start()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._file_writes: set[asyncio.Future[None]] = set()  # debounced writes running
        # Tasks nobody awaits (a hook's poke, a recheck, a close): the loop keeps only
        # weak references, so a task held by nobody could be collected before it ran.
        self._background: set[asyncio.Future[None]] = set()
        # Journal fsyncs (one in flight per session); not the default executor, so
        # they never queue behind file writes.
        self._journal_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="svgx-journal")
        self.stopping = False
        self.total_operations = 0
        self.propagation_sum = 0.0
        self.propagation_count = 0
        self.registry = CollectorRegistry()
        self.m_ops = Counter(
            "svgx_operations", "Operations accepted and broadcast", registry=self.registry
        )
        self.m_conflicts = Counter("svgx_conflicts", "Conflicts detected", registry=self.registry)
        self.m_errors = Counter(
            "svgx_client_errors", "Error messages sent to clients", registry=self.registry
        )
        self.m_fsyncs = Counter(
            "svgx_journal_fsyncs", "Journal group commits (one fsync each)", registry=self.registry
        )
        self.m_batch = Histogram(
            "svgx_batch_operations",
            "Operations per flushed batch",
            buckets=(1, 2, 5, 10, 20, 50, 100, 500),
            registry=self.registry,
        )
        self.m_latency = Histogram(
            "svgx_server_propagation_seconds",
            "From receiving an operation to broadcasting it",
            buckets=(0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.1, 1.0),
            registry=self.registry,
        )
        self.m_connections = Gauge("svgx_connections", "Open connections", registry=self.registry)
        self.m_rooms = Gauge(
            "svgx_live_documents", "Live document branches", registry=self.registry
        )
        self.m_connections.set_function(lambda: len(self.conns))
        self.m_rooms.set_function(lambda: len(self.rooms))

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the configured host and port (port 0 picks a free one)."""
        # libgit2 then fsyncs objects and refs like git's core.fsync: a checkpoint that
        # survives is complete.
        pygit2.settings.enable_fsync_gitdir(True)
        self._loop = asyncio.get_running_loop()
        s = self.settings
        try:
            self.server = await serve(
                self._handler,
                s.host,
                s.port,
                process_request=self._process_request,
                compression="deflate" if s.compression else None,
                max_size=s.max_message_bytes,
                max_queue=64,
            )
        except OSError as exc:
            raise ListenError(listen_problem(s.host, s.port, exc)) from exc
        try:
            self.store = Store(s.root)
        except StoreError:
            self.server.close()
            raise
        sockets = list(self.server.sockets)
        self.port = sockets[0].getsockname()[1] if sockets else s.port
        self._tasks.append(asyncio.create_task(self._ticker()))
        await self._start_watcher()
        log.info("listening on %s:%s, documents in %s", s.host, self.port, s.root)

    async def stop(self) -> None:
        """Stop accepting, close every connection, then put everything on disk."""
        if self.stopping:
            return
        self.stopping = True
        if self.watcher is not None:
            await self.watcher.stop()
        for task in self._tasks:
            task.cancel()
        for room in list(self.rooms.values()):
            self._flush(room)
        if self.server is not None:
            self.server.close(close_connections=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 10)
        # A stopped daemon has written what it took to write, before it says so.
        await asyncio.gather(*self._file_writes, return_exceptions=True)
        self.shutdown_rooms()

    async def _start_watcher(self) -> None:
        """Adopt plain SVG folders of the root, then watch files and refs (watcher.py)."""
        from ..git.adopt import adopt_store
        from .watcher import Watcher, WatchSettings

        adopt_store(self.store)
        s = self.settings
        if s.watch_files:
            quiet = s.auto_version_quiet_s or None
            self.watcher = Watcher(self, s.root, WatchSettings(auto_version_quiet_s=quiet))
            await self.watcher.start()

    def shutdown_rooms(self) -> None:
        """Flush, write, checkpoint and close every live document (synchronous)."""
        for room in list(self.rooms.values()):
            self._close_room(room)
        self.rooms.clear()
        # Every batch was taken over and fsynced above; let the fsyncs still running end.
        self._journal_pool.shutdown(wait=True)

    def _close_room(self, room: Room) -> None:
        """Flush, write, checkpoint and close one live document branch (synchronous)."""
        for handle in (room.presence_handle, room.write_handle):
            if handle is not None:
                handle.cancel()
        room.presence_handle = None
        try:
            self._flush(room)
            self._write_files(room)
            self._checkpoint(room)
            room.journal.close()
        except SvgxError:
            log.exception("could not shut %s down cleanly; the journal has it", room.key)

    def _idle(self, room: Room, now: float) -> bool:
        """No client for ``idle_unload_s``, and nothing left to fsync, send or write."""
        limit = self.settings.idle_unload_s
        return bool(
            limit
            and not room.clients
            and now - room.last_used >= limit
            and room.merge is None  # a branch merge waiting on conflicts lives in memory
            and room.inflight is None
            and not self._queued(room)
            and not room.journal.unsynced
            and room.write_handle is None
            and room.written_generation == room.write_generation
            and not room.write_lock.locked()
        )

    def unload_idle(self, now: float) -> list[str]:
        """Checkpoint and close the idle live sessions; the next join reloads them."""
        unloaded = []
        for room in list(self.rooms.values()):
            if self._idle(room, now) and self.rooms.get(room.key) is room:
                self._close_room(room)
                del self.rooms[room.key]
                unloaded.append(room.key)
                log.info("unloaded idle session %s at seq %d", room.key, room.live.seq)
        return unloaded

    async def _ticker(self) -> None:
        """Presence timeouts, periodic checkpoints and unloading idle sessions."""
        last_checkpoint = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            for room in list(self.rooms.values()):
                if room.presence_handle is None:
                    self._presence_flush(room)
            if time.monotonic() - last_checkpoint >= self.settings.checkpoint_interval_s:
                last_checkpoint = time.monotonic()
                for room in list(self.rooms.values()):
                    self._checkpoint_safely(room)
            if not self.stopping:
                self.unload_idle(time.monotonic())

    # -- HTTP ------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            response = connection.respond(200, orjson.dumps(self.health()).decode() + "\n")
            del response.headers["Content-Type"]  # Headers is multi-valued: replace
            response.headers["Content-Type"] = "application/json"
            return response
        if path == "/notify" and self.watcher is not None:
            # A git hook (hooks/post-commit...) asks for a document to be looked at now.
            name = request.path.partition("doc=")[2].split("&", 1)[0]
            self._in_background(self.watcher.poke(name))
            return connection.respond(202, "ok\n")
        if path == "/metrics":
            response = connection.respond(200, generate_latest(self.registry).decode())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response
        if self.stopping:
            return connection.respond(503, "shutting down\n")
        if len(self.conns) >= self.settings.max_connections:
            return connection.respond(503, "too many connections\n")
        return None

    def health(self) -> dict[str, Any]:
        """``/healthz`` and ``status``: the documents, the live sessions with their users,
        and the counters."""
        from .. import __version__

        try:
            documents = self.store.names()
        except StoreError:
            documents = sorted({room.live.name for room in self.rooms.values()})
        return {
            "status": "stopping" if self.stopping else "ok",
            "version": __version__,
            "port": self.port,
            "root": str(self.settings.root.absolute()),
            "connections": len(self.conns),
            "documents": documents,
            "sessions": [self._session_health(self.rooms[key]) for key in sorted(self.rooms)],
            **self.stats(),
        }

    @staticmethod
    def _session_health(room: Room) -> dict[str, Any]:
        live = room.live
        return {
            "session_id": room.key,
            "document": live.name,
            "branch": live.branch,
            "seq": live.seq,
            "clients": len(room.clients),
            "open_conflicts": len(live.book.open()),
            "users": [
                {"user_id": u["user_id"], "username": u["username"], "status": u["status"]}
                for u in room.presence.snapshot()
            ],
        }

    def stats(self) -> dict[str, Any]:
        """The seed's performance statistics."""
        rooms = list(self.rooms.values())
        return {
            "total_operations": self.total_operations,
            "conflicts_detected": sum(r.live.book.detected for r in rooms),
            "conflicts_resolved": sum(r.live.book.resolved for r in rooms),
            "average_propagation_time_ms": (
                1000 * self.propagation_sum / self.propagation_count
                if self.propagation_count
                else 0.0
            ),
            "active_users": len(self.active_users()),
            "total_sessions": len(rooms),
        }

    def active_users(self) -> list[dict[str, Any]]:
        users: dict[str, dict[str, Any]] = {}
        for room in self.rooms.values():
            for user in room.presence.active():
                users.setdefault(user["user_id"], user)
        return list(users.values())

    # -- connections -----------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        conn = Conn(ws)
        self.conns.add(conn)
        try:
            async for frame in ws:
                self._on_frame(conn, frame)
        except ConnectionClosed:
            pass
        finally:
            self.conns.discard(conn)
            self._leave(conn)

    def _on_frame(self, conn: Conn, frame: str | bytes) -> None:
        received = time.perf_counter()
        try:
            if isinstance(frame, bytes):
                raise ProtocolError("binary frames are not part of the protocol; send JSON text")
            message = parse(frame)
            HANDLERS[type(message)](self, conn, message, received)
        except ClientError as exc:
            self._client_error(conn, exc)
        except ServerError as exc:
            log.error("server error for %s: %s", conn.user_id, exc)
            self._send(conn, P.error(exc.code, str(exc), getattr(exc, "op_id", None)))
        except Exception:
            log.exception("unexpected failure handling a frame from %s", conn.user_id)
            self._send(conn, P.error("internal_error", "internal error; nothing was changed"))

    def _client_error(self, conn: Conn, exc: ClientError) -> None:
        self.m_errors.inc()
        conn.errors += 1
        self._send(conn, P.error(exc.code, str(exc), getattr(exc, "op_id", None)))
        if conn.errors > MAX_CLIENT_ERRORS:
            self._close(conn, 1008, "too many invalid messages")

    def _close(self, conn: Conn, code: int, reason: str) -> None:
        self._in_background(conn.ws.close(code, reason))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the loop, held until it ends."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _send(self, target: Reply, message: dict[str, Any]) -> None:
        if isinstance(target, Conn):
            websockets.broadcast([target.ws], P.encode(message))
        elif isinstance(target, asyncio.Future):
            if not target.done():
                target.set_result(message)

    # -- rooms -----------------------------------------------------------------------

    def room_for(self, session_id: str) -> Room:
        """The live document branch ``name[@branch]``, loaded (and recovered) on first use."""
        name, _, branch = session_id.partition("@")
        validate_document_name(name)
        if branch:
            validate_branch_name(branch)
            room = self.rooms.get(document_key(name, branch))
            if room is not None:
                return room
        document = self.store.open(name, create=self.settings.create_missing_documents)
        # With HEAD detached, the working tree's session is the parked one.
        branch = branch or document.head_branch() or self.parked.get(name) or ""
        if not branch:
            raise ClientError(
                f"HEAD of {name!r} is detached and no branch is parked; join {name!r}@BRANCH"
            )
        room = self.rooms.get(document_key(name, branch))
        if room is None:
            room = self._load(document, branch)
            self.rooms[room.key] = room
        return room

    def _load(self, document: Document, branch: str) -> Room:
        repo = document.repo
        head = repo.references.get(f"refs/heads/{branch}")
        if head is None:
            raise NotFound(f"document {document.name!r} has no branch {branch!r}")
        checkpoint = repo.references.get(CHECKPOINT_REF_PREFIX + branch)
        seq = 0
        if checkpoint is not None:
            commit = repo[checkpoint.target].peel(pygit2.Commit)
            seq = checkpoint_seq(commit.message)
            files = document.svg_files(str(commit.id))
            if commit.parents and commit.parent_ids[0] != head.target:
                log.warning(
                    "%s@%s: the branch moved since the live checkpoint; continuing from the"
                    " checkpoint",
                    document.name,
                    branch,
                )
        else:
            files = document.svg_files(str(head.target))
        live = LiveDocument(
            document.name,
            branch,
            files,
            seq=seq,
            strategy=self.settings.default_strategy,
            history_size=self.settings.history_size,
        )
        journal = Journal(journal_path(repo.path, branch))
        replayed = live.replay(read_journal(journal.path), after_seq=seq)
        journal.open()
        room = Room(document, live, journal, self.settings)
        room.bases.load()
        room.bases.note_seen(live.last_written)
        if self._checked_out(room):
            self._recover_working_tree(room)
        log.info(
            "live %s at seq %d (checkpoint %d, %d replayed)", room.key, live.seq, seq, replayed
        )
        return room

    def _recover_working_tree(self, room: Room) -> None:
        """Merge what other programs and git did to the working tree while the daemon was
        away (core.external_merge.recover_working_tree), then write the live state where
        the files hold our own earlier writes."""
        document, live = room.document, room.live
        on_disk = document.svg_files()
        taken_at = live.seq
        recorded = {
            path: found
            for path in room.bases.files() | set(on_disk)
            if (found := self._closest_recorded(room, path, on_disk.get(path))) is not None
        }
        versions = None
        head = str(document.repo.references[f"refs/heads/{live.branch}"].target)
        if room.bases.head is not None and room.bases.head != head:
            try:
                versions = (document.svg_files(room.bases.head), document.svg_files(head))
            except SvgxError:
                versions = None  # the recorded commit is gone (gc after a rewind)
        rejected: list[tuple[str, str]] = []
        losses: list[dict[str, Any]] = []

        def before_loss(change: ExternalChange) -> None:
            assert change.loss is not None
            description = loss_message(change.file, change.loss)
            version = self._commit_before_loss(room, description, checkpoint=False)
            losses.append(P.external_loss(live.name, change.file, change.loss, version, live.seq))

        # Files read as saved from an older version than the latest one written.
        newer = {
            path: latest[0][0]
            for path, (data, _) in recorded.items()
            if (latest := room.bases.versions(path)[:1]) and latest[0][0] != data
        }
        outcomes, changed = recover_working_tree(
            live,
            on_disk,
            recorded,
            versions,
            now=time.time(),
            unmerged=document.unmerged_paths(),
            rejected=rejected,
            before_loss=before_loss,
            newer=newer,
        )
        room.load_notices = [
            P.file_rejected(live.name, file, reason, live.seq) for file, reason in rejected
        ] + losses
        for out in outcomes:
            self._queue(room, out, None)
        self._flush(room)
        # Every file's base is a recorded version: the first of those a save is judged on.
        self._record_bases(room, changed | set(live.last_written))
        self._follow_working_tree(room, on_disk, taken_at)
        self._write_files(room)

    def _follow_working_tree(self, room: Room, on_disk: Mapping[str, bytes], taken_at: int) -> None:
        """The session of ``room`` took the working tree at ``taken_at``: the recent
        versions another branch's session wrote of the files git kept as they were (a
        ``git checkout -b``, a switch between branches that share them) follow the files,
        so that a save from an editor that loaded one of them is judged from it."""
        svgx = Path(room.document.repo.path) / "svgx"
        loaded = {r.bases.folder: r.bases for r in self.rooms.values()}
        left = dict(on_disk)
        # The branch that wrote last first: the one the working tree most likely came from.
        for folder in sorted(svgx.glob("written-*/"), key=_recorded_at, reverse=True):
            if not left or folder == room.bases.folder:
                continue
            other = loaded.get(folder)
            if other is None:
                other = WrittenBases(folder)
                other.load()
            try:
                for path in room.bases.follow(other, left, taken_at):
                    del left[path]
            except OSError:
                log.exception("could not carry the written versions of %s", room.key)
                return

    @staticmethod
    def _closest_recorded(room: Room, file: str, disk: bytes | None) -> tuple[bytes, int] | None:
        """The recorded version of ``file`` that ``disk`` was most likely made from."""
        versions = room.bases.versions(file)
        if not versions:
            return None
        if disk is None or room.document.index_holds(file, disk):
            return versions[0]  # git's own versions are judged from our last write
        return versions[closest_version(disk, [data for data, _ in versions])]

    def _record_bases(
        self, room: Room, files: Collection[str], *, write: int | None = None
    ) -> None:
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

    def _checked_out(self, room: Room) -> bool:
        try:
            return room.document.current_branch() == room.live.branch
        except StoreError:
            return False

    # -- for the file watcher (svgx_sync.daemon.watcher.WatchTarget) ----------------------

    def _working_tree_room(self, name: str) -> Room | None:
        for room in list(self.rooms.values()):
            if room.live.name == name and self._checked_out(room):
                return room
        return None

    def working_tree_session(self, name: str) -> LiveDocument | None:
        """The live session of the branch checked out in document ``name``'s working
        tree, or None when it is not loaded (nobody edits it) or its storage failed."""
        room = self._working_tree_room(name)
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
        room = self._working_tree_room(name)
        if room is None:
            return
        for out in outcomes:
            self._queue(room, out, None)
            room.version_ops.extend(e["op_id"] for e in out.entries)
        room.notices.extend(messages)
        if bases:
            await asyncio.to_thread(self._record_bases, room, bases)
        self._flush_soon(room)
        if room.live.dirty:
            self._write_soon(room)

    def written_versions(self, name: str, file: str) -> list[tuple[bytes, int]]:
        """The recent recorded versions of ``file`` in document ``name``'s working tree,
        newest first, with the ``seq`` each was taken at."""
        room = self._working_tree_room(name)
        return [] if room is None else room.bases.versions(file)

    def writing_files(self, name: str) -> bool:
        """Whether a write of document ``name``'s working tree is under way: its bytes
        are ``last_written`` already but may not all be on disk yet."""
        room = self._working_tree_room(name)
        if room is None:
            return False
        return room.write_generation > room.written_generation or room.write_lock.locked()

    def follow_checkout(self, name: str, old: str | None, new: str | None) -> Checkout:
        """git moved HEAD of document ``name`` from branch ``old`` to branch ``new`` (None:
        detached); carries out :func:`~svgx_sync.core.external.checkout_sessions`.

        Detached: the session of the branch is parked (its clients get ``head_detached``;
        it writes nothing). Back on that branch: its live state is written out. Another
        branch: its session takes the working tree (its live state is written out) and
        the clients of the one before follow, each with a fresh ``welcome``.
        """
        move = checkout_sessions(old, new, self.parked.get(name))
        if move.parked is None:
            self.parked.pop(name, None)
        else:
            self.parked[name] = move.parked
        if move.takes is None:
            waiting = self.rooms.get(document_key(name, move.parked)) if move.parked else None
            if waiting is not None:
                self._flush(waiting)  # the notice comes after everything acknowledged
                self._broadcast(waiting, self._detached_notice(waiting))
            return move
        if move.leaves is None:
            back = self.rooms.get(document_key(name, move.takes))
            if back is not None:
                self._show_live_state(back)
            return move
        previous = self.rooms.get(document_key(name, move.leaves))
        if previous is None or not previous.clients:
            return move
        room = self.room_for(f"{name}@{move.takes}")
        self._show_live_state(room)
        self._flush(previous)
        now = time.time()
        for conn in list(previous.clients):
            previous.clients.discard(conn)
            if conn.user_id is not None:
                previous.presence.leave(conn.user_id, now)
            conn.session_id = room.key
            conn.room = room
            room.clients.add(conn)
            room.presence.join(conn.user_id or "user", conn.username, now)
            self._welcome(conn, room, None)
        self._presence_soon(previous)
        self._presence_soon(room)
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
        self._follow_working_tree(room, on_disk, live.seq)
        self._write_files(room)

    def _detached_notice(self, room: Room) -> dict[str, Any]:
        return {
            "type": "head_detached",
            "document": room.live.name,
            "branch": room.live.branch,
            "version_id": room.document.head_version(),
            "seq": room.live.seq,
            "source": "git",
        }

    def keep_live_state(self, name: str, reason: str) -> str | None:
        """Commit the live state of document ``name``'s working-tree session to
        ``refs/svgx/kept/<branch>`` (parent: the branch head), so that nothing live is
        lost to a forced git command merged in next; returns the ref or None."""
        room = self._working_tree_room(name)
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
        room = self._working_tree_room(name)
        if room is None or room.broken:
            return None
        self._flush(room)
        return self._commit_before_loss(room, description)

    def _commit_before_loss(
        self, room: Room, description: str, *, checkpoint: bool = True
    ) -> str | None:
        try:
            version_id = self._commit_live(
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
        self._broadcast(room, notice)
        return version_id

    # -- messages --------------------------------------------------------------------

    def _join(self, conn: Conn, msg: P.Join, received: float) -> None:
        tokens = self.settings.tokens
        if tokens and msg.token not in tokens:
            self._send(conn, P.error("unauthorized", "a valid token is needed to join"))
            self._close(conn, 1008, "unauthorized")
            return
        room = self.room_for(msg.session_id)
        self._leave(conn)
        self._flush(room)  # the welcome shows only what everyone has been sent
        conn.user_id, conn.username = msg.user_id, msg.username or msg.user_id
        conn.session_id = msg.session_id
        conn.room = room
        room.clients.add(conn)
        room.last_used = time.monotonic()
        room.presence.join(msg.user_id, conn.username, time.time())
        self._presence_soon(room)
        self._welcome(conn, room, msg.last_seq)

    def _welcome(self, conn: Conn, room: Room, last_seq: int | None) -> None:
        live = room.live
        missed = live.since(last_seq) if last_seq is not None else None
        version = str(room.document.repo.references[f"refs/heads/{live.branch}"].target)
        self._send(
            conn,
            P.welcome(
                session_id=conn.session_id or room.key,
                document=live.name,
                branch=live.branch,
                version_id=version,
                seq=live.seq,
                files=None if missed is not None else live.texts(),
                users=room.presence.active(),
                conflicts=live.book.open(),
                missed=missed,
                strategy=live.strategy.value,
            ),
        )
        conn.delivered = live.seq
        for notice in live.held.values():  # git conflicts the working tree still has
            self._send(conn, notice)
        # Nobody was there to be told when the session was loaded: the first to join is.
        for notice in room.load_notices:
            self._send(conn, notice)
        room.load_notices = []
        if self.parked.get(live.name) == live.branch:
            self._send(conn, self._detached_notice(room))

    def _leave(self, conn: Conn, *_: Any) -> None:
        room = conn.room
        if room is None:
            return
        conn.room = None
        room.clients.discard(conn)
        room.last_used = time.monotonic()
        if conn.user_id is not None:
            room.presence.leave(conn.user_id, time.time())
            if not self.stopping:
                self._presence_soon(room)

    def _joined(self, conn: Conn) -> Room:
        if conn.room is None:
            raise ProtocolError("join a session first")
        return conn.room

    def _operation(self, conn: Conn, msg: P.OperationMessage, received: float) -> None:
        room = self._joined(conn)
        op = msg.to_operation()
        try:
            if op.user_id != conn.user_id:
                raise ProtocolError(
                    f"user_id {op.user_id!r} is not the joined user {conn.user_id!r}"
                )
            if msg.session_id and msg.session_id != conn.session_id:
                raise ProtocolError(
                    f"session_id {msg.session_id!r} is not the joined session {conn.session_id!r}"
                )
            base = msg.base_seq if msg.base_seq is not None else conn.delivered
            self.submit(room, op, base, conn, received)
        except SvgxError as exc:
            exc.op_id = op.op_id  # type: ignore[attr-defined]
            raise

    def submit(
        self, room: Room, op: Operation, base: int | None, reply: Reply, received: float
    ) -> None:
        """Judge one operation and queue what it needs for the next flush."""
        if room.broken:
            raise ServerError(f"{room.key} is unavailable after a storage failure")
        now = time.time()
        out = room.live.submit(op, base_seq=base, now=now)
        if out.status == "presence":
            room.presence.select(op.user_id, now, op.element_id, op.operation_type == "select")
            self._presence_soon(room)
            self._send(reply, P.ack(**out.ack))
            return
        if out.duplicate:
            if (out.seq or 0) > room.durable_seq or room.journal.pending:
                room.replies.append((reply, P.ack(**out.ack)))
                self._flush_soon(room)
            else:
                self._send(reply, P.ack(**out.ack))
            return
        self._queue(room, out, reply)
        if out.entries:
            room.received.append(received)
            room.version_ops.extend(e["op_id"] for e in out.entries)
            room.presence.operation(op.user_id, now, op.element_id)
            self._presence_soon(room)

    def _queue(self, room: Room, out: Outcome, reply: Reply) -> None:
        room.last_used = time.monotonic()
        for record in out.journal:
            room.journal.append(record)
        room.outgoing.extend(out.entries)
        if out.conflicts:
            self.m_conflicts.inc(len(out.conflicts))
            room.notices.append(P.conflict_detected(out.conflicts))
        if out.resolved is not None:
            room.notices.append(P.conflict_resolved(out.resolved, out.seq))
            if not isinstance(reply, Conn):
                room.replies.append((reply, P.conflict_resolved(out.resolved, out.seq)))
        else:
            room.replies.append((reply, P.ack(**out.ack)))
        self._flush_soon(room)

    def _activity(self, conn: Conn, msg: P.Activity, received: float) -> None:
        room = self._joined(conn)
        if msg.user_id != conn.user_id:
            raise ProtocolError(f"user_id {msg.user_id!r} is not the joined user")
        room.presence.activity(
            msg.user_id,
            time.time(),
            status=msg.status,
            current_element=msg.current_element,
            cursor_position=msg.cursor_position,
            selected_elements=msg.selected_elements,
        )
        self._presence_soon(room)

    def _resolve(self, conn: Conn, msg: P.ResolveConflict, received: float) -> None:
        room = self._joined(conn)
        self.resolve_in(room, msg.conflict_id, msg.resolution, msg.resolved_by, conn)

    def resolve_in(
        self, room: Room, conflict_id: str, resolution: Any, resolved_by: str, reply: Reply
    ) -> None:
        out = room.live.resolve_conflict(conflict_id, resolution, resolved_by, now=time.time())
        self._queue(room, out, reply)

    def _leave_message(self, conn: Conn, msg: P.Leave, received: float) -> None:
        self._leave(conn)
        self._send(conn, {"type": "left"})

    def _status(self, conn: Conn, msg: P.Status, received: float) -> None:
        self._send(conn, {"type": "status", **self.health()})

    def _configure(self, conn: Conn, msg: P.Configure, received: float) -> None:
        room = self._joined(conn)
        room.journal.append(room.live.set_strategy(msg.strategy))
        if not self._sync(room):
            raise ServerError("the session could not record its new strategy")
        self._broadcast(
            room,
            {
                "type": "session_configured",
                "strategy": msg.strategy,
                "changed_by": msg.user_id or conn.user_id,
            },
        )

    # -- versions --------------------------------------------------------------------

    def _version(self, conn: Conn, msg: P.VersionRequest, received: float) -> None:
        room = self._joined(conn)
        reply = VERSION_ACTIONS[msg.action](self, conn, room, msg)
        if reply is not None:
            if msg.request_id is not None:
                reply["request_id"] = msg.request_id
            self._send(conn, reply)

    def _author(self, conn: Conn, msg: P.VersionRequest) -> tuple[str, str]:
        user_id = msg.created_by or msg.user_id or conn.user_id or "user"
        username = conn.username if user_id == conn.user_id and conn.username else user_id
        return user_id, username

    def _create_version(self, conn: Conn, room: Room, msg: P.VersionRequest) -> None:
        self._flush(room)
        self._write_files(room)
        user_id, username = self._author(conn, msg)
        description = msg.description or "Version"
        version_id = self._commit_live(room, description, user_id=user_id, username=username)
        self._broadcast(room, P.version_created(version_id, description, user_id, room.live.seq))

    def _commit_live(
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
            self._checkpoint(room, force=True)
        return version_id

    def _revert(self, conn: Conn, room: Room, msg: P.VersionRequest) -> None:
        if not msg.version_id:
            raise ProtocolError("revert needs version_id")
        self._flush(room)
        document, live = room.document, room.live
        target = document.resolve(msg.version_id)
        files = document.svg_files(target)
        if not files:
            raise ClientError(f"version {msg.version_id!r} has no SVG files")
        user_id, username = self._author(conn, msg)
        gone: dict[str, bytes | None] = {p: None for p in live.files if p not in files}
        checked_out = self._checked_out(room)
        version_id = document.commit(
            {**files, **gone},
            user_id=user_id,
            username=username,
            description=msg.description or f"Revert to {target[:12]}",
            session_id=room.key,
            branch=live.branch,
            update_workdir=checked_out,
        )
        self._reset(room, files, reason=f"revert to {target}")
        if checked_out:
            live.reverted_on_disk(files)
            self._record_bases(room, {*files, *gone})
        live.take_dirty()
        room.version_ops.clear()
        self._checkpoint(room, force=True)
        self._reload_clients(
            room,
            {
                "type": "version_reverted",
                "version_id": version_id,
                "reverted_to": target,
                "created_by": user_id,
            },
        )

    def _history(self, conn: Conn, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        versions = room.document.history(branch=room.live.branch, limit=msg.limit or 100)
        return {
            "type": "history",
            "branch": room.live.branch,
            "versions": [asdict(v) for v in versions],
        }

    def _create_branch(self, conn: Conn, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        if not msg.branch:
            raise ProtocolError("create_branch needs branch")
        start = msg.from_version or msg.version_id or room.live.branch
        version_id = room.document.create_branch(msg.branch, start)
        return {"type": "branch_created", "branch": msg.branch, "version_id": version_id}

    def _switch_branch(self, conn: Conn, room: Room, msg: P.VersionRequest) -> None:
        if not msg.branch:
            raise ProtocolError("switch_branch needs branch")
        session_id = f"{room.live.name}@{msg.branch}"
        target = self.room_for(session_id)
        self._leave(conn)
        self._flush(target)
        conn.session_id = session_id
        conn.room = target
        target.clients.add(conn)
        target.presence.join(conn.user_id or "user", conn.username, time.time())
        self._presence_soon(target)
        self._welcome(conn, target, None)

    def _list_branches(self, conn: Conn, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        return {"type": "branches", "branches": room.document.list_branches()}

    def _diff(self, conn: Conn, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        start = msg.from_version or msg.version_id
        if not start:
            raise ProtocolError("diff needs version_id (or from_version)")
        self._flush(room)
        self._write_files(room)
        try:
            changes = room.document.diff(start, msg.to_version)
        except ImportError as exc:
            raise StoreError(f"diff is not available: {exc}") from exc
        return {
            "type": "diff",
            "from_version": start,
            "to_version": msg.to_version,
            "changes": changes,
        }

    def _reset(self, room: Room, files: dict[str, bytes], *, reason: str) -> None:
        """Replace every live file (one ``seq``), journaled and fsynced."""
        room.journal.append(room.live.reset(files, reason=reason))
        self._sync(room)

    def _reload_clients(self, room: Room, message: dict[str, Any]) -> None:
        """After a reset: every client reloads from ``message``, sent with the ``seq``
        and every file's text."""
        live = room.live
        for client in room.clients:
            client.delivered = live.seq
        self._broadcast(room, {**message, "seq": live.seq, "files": live.texts()})

    # -- branch merges ---------------------------------------------------------------

    def _merge_branch(self, conn: Conn, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        """Merge ``msg.branch`` into the session's branch with the element merge engine.

        The merge base comes from git; ours is the live state (unversioned live edits
        included), theirs the other branch's tip. What merges cleanly is applied as
        ordinary operations; conflicts become open conflict records resolved with
        ``resolve_conflict``. The two-parent commit is made at once when nothing blocks,
        otherwise by ``complete_merge``; ``abort_merge`` puts the live state back.
        """
        if not msg.branch:
            raise ProtocolError("merge_branch needs branch: the branch to merge in")
        if room.merge is not None:
            raise ClientError("a merge is in progress: complete_merge or abort_merge first")
        self._flush(room)
        document, live = room.document, room.live
        ours_head = document.resolve(live.branch)
        theirs_head = document.resolve(msg.branch)
        base = document.repo.merge_base(ours_head, theirs_head)
        if base is not None and str(base) == theirs_head:
            return {"type": "branch_merged", "branch": msg.branch, "up_to_date": True}
        base_files = document.svg_files(str(base)) if base is not None else {}
        theirs_files = document.svg_files(theirs_head)
        ours_files = live.contents()
        user_id, _ = self._author(conn, msg)
        changes, records, notes = live.merge_in(
            base_files, ours_files, theirs_files, branch=msg.branch, user_id=user_id
        )
        now = time.time()
        for path, ops in changes:
            for out in live.apply_external(path, ops, now=now):
                self._queue(room, out, None)
        room.merge = {
            "branch": msg.branch,
            "ours": ours_head,
            "theirs": theirs_head,
            "before": ours_files,
            "theirs_only": {p: d for p, d in theirs_files.items() if p not in ours_files},
            "conflict_ids": [r["conflict_id"] for r in records],
        }
        if records:
            room.journal.append(live.conflict_record(records))
            room.notices.append(P.conflict_detected(records))
        self._flush(room)
        if records:
            return {
                "type": "merge_in_progress",
                "branch": msg.branch,
                "conflicts": records,
                "notes": notes,
            }
        return {**self._complete_merge(conn, room, msg), "notes": notes}

    def _complete_merge(self, conn: Conn, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        merge = room.merge
        if merge is None:
            raise ClientError("no merge is in progress")
        waiting = [
            cid
            for cid in merge["conflict_ids"]
            if room.live.book.conflicts[cid]["status"] == "open"
        ]
        if waiting:
            raise ClientError(f"resolve these conflicts first: {', '.join(waiting)}")
        self._flush(room)
        self._write_files(room)
        user_id, username = self._author(conn, msg)
        description = msg.description or f"Merge branch '{merge['branch']}' into {room.live.branch}"
        version_id = room.document.commit(
            {**merge["theirs_only"], **room.live.contents()},
            user_id=user_id,
            username=username,
            description=description,
            session_id=room.key,
            branch=room.live.branch,
            parents=[merge["ours"], merge["theirs"]],
            update_workdir=self._checked_out(room),
        )
        room.merge = None
        room.version_ops.clear()
        self._checkpoint(room, force=True)
        self._broadcast(room, P.version_created(version_id, description, user_id, room.live.seq))
        return {"type": "branch_merged", "branch": merge["branch"], "version_id": version_id}

    def _abort_merge(self, conn: Conn, room: Room, msg: P.VersionRequest) -> dict[str, Any]:
        merge = room.merge
        if merge is None:
            raise ClientError("no merge is in progress")
        self._flush(room)
        room.journal.append(room.live.abort_conflicts(merge["conflict_ids"]))
        self._reset(room, merge["before"], reason=f"abort merge of {merge['branch']}")
        room.merge = None
        self._write_soon(room)
        self._reload_clients(room, {"type": "merge_aborted", "branch": merge["branch"]})
        return {"type": "merge_aborted", "branch": merge["branch"]}

    # -- batching --------------------------------------------------------------------

    def _flush_soon(self, room: Room) -> None:
        if not room.flush_scheduled:
            room.flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._group_commit, room)

    @staticmethod
    def _queued(room: Room) -> bool:
        return bool(room.outgoing or room.replies or room.notices)

    @staticmethod
    def _take(room: Room) -> Batch:
        batch = Batch(room.outgoing, room.notices, room.replies, room.received, room.live.seq)
        room.outgoing, room.notices, room.replies, room.received = [], [], [], []
        return batch

    def _group_commit(self, room: Room) -> None:
        """Flush when idle: write the batch, fsync it in a worker thread, deliver it then."""
        if not self.settings.fsync_in_thread:
            self._flush(room)
            return
        room.flush_scheduled = False
        if room.broken or room.inflight is not None or not self._queued(room):
            return  # with a batch in flight, _synced starts the next one
        if not room.journal.unsynced:
            self._flush(room)  # nothing to make durable (a duplicate's answer, a notice)
            return
        batch = self._take(room)
        try:
            batch.sync = room.journal.write()
        except SvgxError:
            log.exception("journal of %s failed; closing its session", room.key)
            self._journal_failed(room, [batch])
            return
        room.inflight = batch
        assert self._loop is not None
        future = self._loop.run_in_executor(self._journal_pool, batch.sync.run)
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
        self.m_fsyncs.inc()
        self._deliver(room, batch)
        if self._queued(room):
            self._group_commit(room)  # what arrived during the fsync: the next batch

    def _sync(self, room: Room, batches: list[Batch] | None = None) -> bool:
        """fsync the journal now; on failure the room stops taking operations."""
        if not room.journal.unsynced:
            return True
        try:
            room.journal.sync()
        except SvgxError:
            log.exception("journal of %s failed; closing its session", room.key)
            self._journal_failed(room, batches or [])
            return False
        self.m_fsyncs.inc()
        return True

    def _journal_failed(self, room: Room, batches: list[Batch]) -> None:
        """Nothing unsynced is acknowledged; the session closes (reloaded on the next join)."""
        room.broken = True
        if room.inflight is not None:
            batches = [room.inflight, *batches]
            room.inflight = None
        replies = [reply for batch in batches for reply in batch.replies] + room.replies
        for target, _ in replies:
            self._send(target, P.error("journal_error", "the operation could not be stored"))
        room.replies.clear()
        for conn in list(room.clients):
            self._close(conn, 1011, "storage failure")
        if self.rooms.get(room.key) is room:
            del self.rooms[room.key]

    def _flush(self, room: Room) -> None:
        """Group commit now, on the loop; then deliver what was in flight and queued."""
        room.flush_scheduled = False
        if room.broken:
            return
        batches = []
        if room.inflight is not None:
            batches.append(room.inflight)
            room.inflight = None  # _synced will find it taken over
        if self._queued(room):
            batches.append(self._take(room))
        if not batches or not self._sync(room, batches):
            return
        for batch in batches:
            self._deliver(room, batch)

    def _deliver(self, room: Room, batch: Batch) -> None:
        """Broadcast and acknowledge a batch that is on disk."""
        entries = batch.entries
        room.durable_seq = batch.seq
        sockets = [c.ws for c in room.clients]
        size = self.settings.batch_size
        for start in range(0, len(entries), size):
            websockets.broadcast(sockets, P.encode(P.operations(entries[start : start + size])))
        for conn in room.clients:
            conn.delivered = batch.seq
        for notice in batch.notices:
            websockets.broadcast(sockets, P.encode(notice))
        for target, message in batch.replies:
            self._send(target, message)
        if entries:
            done = time.perf_counter()
            for received in batch.received:
                self.propagation_sum += done - received
                self.m_latency.observe(done - received)
            self.propagation_count += len(batch.received)
            self.total_operations += len(entries)
            self.m_ops.inc(len(entries))
            self.m_batch.observe(len(entries))
            self._write_soon(room)
            if room.live.seq - room.checkpoint_seq >= self.settings.checkpoint_ops:
                assert self._loop is not None
                self._loop.call_soon(self._checkpoint_safely, room)

    def _broadcast(self, room: Room, message: dict[str, Any]) -> None:
        websockets.broadcast([c.ws for c in room.clients], P.encode(message))

    def _presence_soon(self, room: Room) -> None:
        if room.presence_handle is None and self._loop is not None and not self.stopping:
            room.presence_handle = self._loop.call_later(
                self.settings.batch_timeout_ms / 1000, self._presence_flush, room
            )

    def _presence_flush(self, room: Room) -> None:
        room.presence_handle = None
        changed = room.presence.tick(time.time())
        if changed and room.clients:
            self._broadcast(room, P.presence_update(changed))

    # -- files and checkpoints -------------------------------------------------------

    def _write_soon(self, room: Room) -> None:
        if room.write_handle is None and self._loop is not None:
            room.write_handle = self._loop.call_later(
                self.settings.write_debounce_ms / 1000, self._write_in_background, room
            )

    def _write_in_background(self, room: Room) -> None:
        room.write_handle = None
        files = self._files_to_write(room)
        if files:
            room.write_generation += 1
            assert self._loop is not None
            write = self._loop.run_in_executor(
                None, self._write_out, room, files, room.write_generation
            )
            self._file_writes.add(write)
            write.add_done_callback(self._file_writes.discard)

    def _write_files(self, room: Room) -> None:
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

    def _files_to_write(self, room: Room) -> dict[str, bytes]:
        if room.broken or not room.live.dirty or not self._checked_out(room):
            return {}
        files = room.live.take_dirty()
        self._record_bases(room, files, write=room.write_generation + 1)  # the next write
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
            refused: list[str] = []
            for path, data in files.items():
                try:
                    if (
                        room.document.write_file(path, data, may_replace=self._guard(room, path))
                        is None
                    ):
                        refused.append(path)
                except StoreError:
                    # The journal has it; the next write or the next start-up catches up.
                    log.exception("could not write %s of %s", path, room.key)
        if refused and self._loop is not None:
            self._loop.call_soon_threadsafe(self._outside_edits_found, room, refused)

    def _guard(self, room: Room, path: str) -> Callable[[bytes | None], bool] | None:
        """What a write of ``path`` may replace: bytes the daemon has seen. Without a
        watcher nobody would merge the others, so then anything goes."""
        if self.watcher is None:
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
        if self.watcher is not None and not self.stopping:
            self._in_background(self.watcher.recheck(room.live.name, files))

    def _checkpoint_safely(self, room: Room) -> None:
        try:
            self._checkpoint(room)
        except SvgxError:
            log.exception("checkpoint of %s failed; the journal keeps everything", room.key)

    def _checkpoint(self, room: Room, *, force: bool = False) -> None:
        """Commit the live state to ``refs/svgx/live/<branch>`` and rotate the journal."""
        self._flush(room)
        live = room.live
        if room.broken or (live.seq == room.checkpoint_seq and not force):
            return
        if not self._sync(room):
            return
        commit_id = write_checkpoint(
            room.document, live.branch, live.contents(), live.seq, blobs=room.checkpoint_blobs
        )
        room.journal.rotate(live.retained())
        room.checkpoint_seq = live.seq
        log.debug("checkpoint %s of %s at seq %d", commit_id, room.key, live.seq)


parse = P.parse_message

HANDLERS: dict[type, Callable[..., None]] = {
    P.Join: Daemon._join,
    P.OperationMessage: Daemon._operation,
    P.Activity: Daemon._activity,
    P.VersionRequest: Daemon._version,
    P.ResolveConflict: Daemon._resolve,
    P.Leave: Daemon._leave_message,
    P.Status: Daemon._status,
    P.Configure: Daemon._configure,
}

VERSION_ACTIONS: dict[str, Callable[..., dict[str, Any] | None]] = {
    "create_version": Daemon._create_version,
    "revert": Daemon._revert,
    "history": Daemon._history,
    "create_branch": Daemon._create_branch,
    "switch_branch": Daemon._switch_branch,
    "list_branches": Daemon._list_branches,
    "diff": Daemon._diff,
    "merge_branch": Daemon._merge_branch,
    "complete_merge": Daemon._complete_merge,
    "abort_merge": Daemon._abort_merge,
}


def listen_problem(host: str, port: int, exc: OSError) -> str:
    """Why the daemon cannot listen, in the words a user acts on."""
    if isinstance(exc, socket.gaierror):
        return f"cannot listen on {host!r}: no such host ({exc.strerror})"
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use; stop what listens there or choose another --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}: not an address of this machine"
    if exc.errno == errno.EACCES:
        return f"port {port} on {host} needs privileges; choose one above 1023"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


async def serve_forever(settings: Settings, *, announce: Callable[[str], None] = print) -> None:
    """Run the daemon until SIGINT or SIGTERM, then stop it cleanly."""
    daemon = Daemon(settings)
    await daemon.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    announce(
        f"svgx-sync listening on ws://{settings.host}:{daemon.port} (documents in {settings.root})"
    )
    try:
        await stop.wait()
    finally:
        await daemon.stop()
