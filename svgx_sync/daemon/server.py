"""The daemon: a websockets server that runs live sessions and keeps them durable.

This is a shell. The rules are in :mod:`svgx_sync.core`; the daemon reads frames, hands
them to those, and carries out what they return. Its parts, one module each:

* ``server`` (this module): the accept loop, ``/healthz`` and ``/metrics`` on the same
  port (``process_request``), the ticker, and :class:`Daemon`, which wires the parts;
* ``connection``: frames in, one handler per message type, errors to the sender alone;
* ``membership``: clients entering and leaving rooms, the ``welcome``;
* ``room``: a live document branch (:class:`~.room.Room`), loaded on first use and
  unloaded when idle (with no client for ``idle_unload_s`` and everything fsynced,
  broadcast and written, it is checkpointed and closed; the next join loads it again);
* ``commit``: group commit to the journal, then broadcast and acknowledge, in order;
  **durable before visible**: a ``kill -9`` at any moment loses nothing acknowledged;
* ``files``: the debounced, guarded writes of the working tree, and checkpoints (commits
  on ``refs/svgx/live/<branch>`` carrying ``Svgx-Seq``) that let the journal rotate;
* ``versions``: versions, reverts, history, branches, diffs and branch merges;
* ``recovery``: loading a session from its checkpoint plus the journal, and merging what
  happened to the working tree while the daemon was away;
* ``worktree``: what the file watcher asks of the daemon (``watcher.WatchTarget``);
* ``metrics``: the Prometheus instruments; ``runtime``: the state the parts share.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import gzip
import logging
import os
import resource
import signal
import socket
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import pygit2
from prometheus_client import CONTENT_TYPE_LATEST
from websockets.asyncio.server import Server, ServerConnection, serve

from ..config import Settings
from ..core.access import Gate
from ..core.external import Checkout
from ..core.limits import connections_that_fit
from ..core.ops import Operation
from ..core.session import LiveDocument, Outcome
from ..errors import ListenError, StoreError, Unauthorized
from ..git.locks import wait_briefly_in_this_thread
from ..git.store import Store
from .access import Access, query_of
from .commit import GroupCommit
from .connection import Connections
from .diff_api import Comparisons
from .files import FileWriter
from .membership import Membership
from .metrics import Metrics
from .pages import RAW, ApiRequest, api_route, call, page_file, raw_file
from .recovery import Recovery
from .room import Reply, Room, RoomLoader
from .runtime import Rooms, Runtime
from .static import packed, raw_response, static_response
from .transport import LocalClient, memory_pair
from .versions import Versions
from .worktree import WorkTree

if TYPE_CHECKING:
    from .room import Conn
    from .watcher import Watcher

__all__ = ["Daemon", "fit_connections", "listen_problem", "serve_forever"]

log = logging.getLogger(__name__)

GZIP_FROM_BYTES = 64 * 1024
"""An API answer this large is gzipped for a client that takes it (a diff of a big
drawing holds both sides' files: 130 MB of JSON at 50 MB, 6 MB gzipped), which also
spares the daemon the copies of the whole answer that writing it out makes."""


class Daemon:
    """The collaboration daemon. ``await start()``, then ``await stop()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rt = rt = Runtime(settings)
        self.server: Server | None = None
        self.port: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._waits_briefly = False
        self.metrics = Metrics(lambda: len(rt.conns), lambda: len(rt.rooms))
        self.commit = GroupCommit(rt, self.metrics)
        self.files = FileWriter(rt, self.commit)
        self.commit.delivered = self.files.delivered
        self.members = Membership(rt, self.commit)
        self.versions = Versions(rt, self.commit, self.files, self.members, self.room_for)
        self.recovery = Recovery(rt, self.commit, self.files, self.versions)
        self.loader = RoomLoader(
            rt, self.commit, self.files, self.recovery.load, self.recovery.parse_ahead
        )
        self.worktree = WorkTree(
            rt, self.commit, self.files, self.members, self.versions, self.recovery, self.loader
        )
        self.access = Access(settings)
        self.comparisons = Comparisons()  # the diff page's, each computed once
        self.connections = Connections(
            rt,
            self.metrics,
            self.commit,
            self.members,
            self.versions,
            self.loader,
            self.health,
            self.access,
        )

    # -- what the parts share --------------------------------------------------------

    @property
    def rooms(self) -> Rooms:
        """The live document branches, by session key (``name@branch``)."""
        return self.rt.rooms

    @property
    def conns(self) -> set[Conn]:
        return self.rt.conns

    @property
    def store(self) -> Store:
        return self.rt.store

    @property
    def watcher(self) -> Watcher | None:
        return self.rt.watcher

    @watcher.setter
    def watcher(self, watcher: Watcher | None) -> None:
        self.rt.watcher = watcher

    @property
    def stopping(self) -> bool:
        return self.rt.stopping

    @stopping.setter
    def stopping(self, stopping: bool) -> None:
        self.rt.stopping = stopping

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the configured host and port (port 0 picks a free one)."""
        # libgit2 then fsyncs objects and refs like git's core.fsync: a checkpoint that
        # survives is complete.
        pygit2.settings.enable_fsync_gitdir(True)
        self.rt.loop = asyncio.get_running_loop()
        s = self.settings
        refusal = self.access.listen_refusal()
        if refusal is not None:
            raise ListenError(refusal)
        tls = self.access.tls_context()
        self.rt.max_connections = fit_connections(s.max_connections)
        try:
            self.server = await serve(
                self.connections.serve,
                s.host,
                s.port,
                process_request=self._process_request,
                compression="deflate" if s.compression else None,
                max_size=s.max_message_bytes,
                max_queue=64,
                # past this many unsent bytes a socket is paused; transport.py closes it
                write_limit=s.max_unsent_bytes,
                ssl=tls,
            )
        except OSError as exc:
            raise ListenError(listen_problem(s.host, s.port, exc)) from exc
        try:
            self.rt.store = Store(s.root)
        except StoreError:
            self.server.close()
            raise
        self.rt.heap.serving()
        sockets = list(self.server.sockets)
        self.port = sockets[0].getsockname()[1] if sockets else s.port
        self.access.listening(self.port)
        self._tasks.append(asyncio.create_task(self._ticker()))
        await self._start_watcher()
        # git's locks are waited for off the loop (versions.py); in it, only briefly.
        wait_briefly_in_this_thread()
        self._waits_briefly = True
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
            self.commit.flush(room)
        if self.server is not None:
            self.server.close(close_connections=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 10)
        for conn in list(self.conns):  # in-memory clients (connect_local) too
            conn.transport.close(1001, "the daemon is stopping")
        # A stopped daemon has written what it took to write, before it says so.
        await self.files.wait()
        self.shutdown_rooms()
        self.rt.heap.thaw()
        for fd in self.rt.owned.values():
            os.close(fd)
        self.rt.owned.clear()
        if self._waits_briefly:
            wait_briefly_in_this_thread(False)
            self._waits_briefly = False

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
        self.loader.shutdown()

    def unload_idle(self, now: float) -> list[str]:
        """Checkpoint and close the idle live sessions; the next join reloads them."""
        return self.loader.unload_idle(now)

    async def _ticker(self) -> None:
        """Unloading idle sessions, and freezing the loaded ones out of the collector
        (heap.py); presence timeouts and checkpoints have a timer per room (commit.py,
        files.py)."""
        while True:
            await asyncio.sleep(1.0)
            if not self.stopping:
                self.unload_idle(time.monotonic())
                self.rt.heap.tick(time.monotonic())

    # -- HTTP ------------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        """Host and Origin first, then the token, then the HTTP endpoints; a WebSocket
        handshake that passes keeps its token's gate for the connection."""
        access = self.access
        refusal = access.refusal(request.headers)
        if refusal is not None:
            return connection.respond(refusal[0], refusal[1] + "\n")
        path = request.path.split("?", 1)[0]
        upgrade = _upgrade(request.headers)
        page = page_file(path) if not upgrade else None
        if page is not None:  # code, not data: no token needed
            return static_response(connection, page, request.headers)
        try:
            gate = await access.request_gate(connection, request.path, request.headers)
        except Unauthorized as exc:
            return _unauthorized(connection, exc)
        if path.startswith("/api/"):
            return await self._api(connection, path, request.path, request.headers, gate)
        raw = RAW.fullmatch(path)
        if raw is not None and not upgrade:
            return await self._raw(connection, raw["session"], raw["file"], request.headers, gate)
        if path == "/healthz":
            health = access.health_for(gate, self.health())
            return _typed(connection, orjson.dumps(health).decode() + "\n", "application/json")
        if path in ("/notify", "/metrics") and not access.may_read(gate):
            return _unauthorized(connection, Unauthorized(f"{path} needs a token"))
        if path == "/notify" and self.watcher is not None:
            # A git hook (hooks/post-commit...) asks for a document to be looked at now.
            name = query_of(request.path).get("doc", "")
            viewer = access.viewer(gate)
            if viewer is not None and not viewer.may_open(name):
                return connection.respond(403, f"{viewer.user_id} may not open {name!r}\n")
            self.rt.in_background(self.watcher.poke(name))
            return connection.respond(202, "ok\n")
        if path == "/metrics":
            return _typed(connection, self.metrics.exposition(), CONTENT_TYPE_LATEST)
        if not upgrade:
            return connection.respond(404, "not found\n")
        access.handshake(connection, gate)
        if self.stopping:
            return connection.respond(503, "shutting down\n")
        if len(self.conns) >= self.rt.max_connections:
            return connection.respond(503, "too many connections\n")
        if gate is None and self.connections.crowded(connection.remote_address):
            return connection.respond(429, "too many connections from this address waiting\n")
        return None

    async def _api(
        self, connection: ServerConnection, path: str, full: str, headers: Any, gate: Gate | None
    ) -> Any:
        """``/api/...``: the JSON the pages read, as the gate may see it; a large answer
        gzipped (in a worker thread) when the client takes gzip, as browsers do."""
        if not self.access.may_read(gate):
            return _unauthorized(connection, Unauthorized(f"{path} needs a token"))
        route = api_route(path)
        if route is None:
            return _typed(connection, '{"error": "not_found"}\n', "application/json", 404)
        handler, params = route
        principal = self.access.viewer(gate)
        answer = await call(handler, ApiRequest(self, params, query_of(full), principal))
        body = answer.body
        if not isinstance(body, bytes):
            body = orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE)
        if len(body) < GZIP_FROM_BYTES:
            return _typed(connection, body, "application/json", answer.status)
        gzipped = "gzip" in (headers.get("Accept-Encoding") or "")
        if gzipped:
            body = await asyncio.to_thread(gzip.compress, body, compresslevel=5, mtime=0)
        response = _typed(connection, body, "application/json", answer.status)
        if gzipped:
            response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        return response

    async def _raw(
        self, connection: ServerConnection, session: str, file: str, headers: Any, gate: Gate | None
    ) -> Any:
        """``/d/<session>/raw/<file>``: a live file as the session holds it now, with the
        ``seq`` it holds in ``X-Svgx-Seq``; gzip when asked for (encoded, hashed and
        compressed in a worker thread: a drawing may be tens of megabytes; the gzipped
        bytes are kept for the next fetch at the same ``seq``)."""
        if not self.access.may_read(gate):
            return _unauthorized(connection, Unauthorized("a file needs a token"))
        found = raw_file(self, session, file, self.access.viewer(gate))
        if found.status != 200:
            body = orjson.dumps({"error": found.error, "message": found.message}).decode()
            return _typed(connection, body + "\n", "application/json", found.status)
        assert found.room is not None
        gzipped = "gzip" in (headers.get("Accept-Encoding") or "")
        kept = found.room.gzipped.get(found.path) if gzipped else None
        if kept is not None and kept[0] == found.seq:
            etag, payload = kept[1], kept[2]  # many joining one big drawing: compressed once
        else:
            text = found.room.live.served_text(found.path)  # inert, as a welcome sends it
            etag, payload = await asyncio.to_thread(lambda: packed(text.encode(), gzipped=gzipped))
            if gzipped:
                found.room.gzipped[found.path] = (found.seq, etag, payload)
        return raw_response(connection, payload, etag, found.seq, headers, gzipped=gzipped)

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
            "sessions": [_session_health(self.rooms[key]) for key in sorted(self.rooms)],
            **self.stats(),
        }

    def stats(self) -> dict[str, Any]:
        """The seed's performance statistics."""
        rooms = list(self.rooms.values())
        return {
            "total_operations": self.metrics.total_operations,
            "conflicts_detected": sum(r.live.book.detected for r in rooms),
            "conflicts_resolved": sum(r.live.book.resolved for r in rooms),
            "average_propagation_time_ms": self.metrics.average_propagation_ms(),
            "active_users": len(self.active_users()),
            "total_sessions": len(rooms),
        }

    def active_users(self) -> list[dict[str, Any]]:
        users: dict[str, dict[str, Any]] = {}
        for room in self.rooms.values():
            for user in room.presence.active():
                users.setdefault(user["user_id"], user)
        return list(users.values())

    # -- for the Python API (api.py) and embedding ------------------------------------

    def connect_local(
        self, remote_address: str | None = None, headers: Mapping[str, str] | None = None
    ) -> LocalClient:
        """A client connected in memory, served exactly as a WebSocket client is."""
        daemon_end, client = memory_pair(self.settings.max_unsent_bytes, remote_address, headers)
        self.rt.in_background(self.connections.run(daemon_end))
        return client

    def room_for(self, session_id: str) -> Room:
        """The live document branch ``name[@branch]``, loaded (and recovered) on first use."""
        return self.loader.room_for(session_id)

    def submit(
        self, room: Room, op: Operation, base: int | None, reply: Reply, received: float
    ) -> None:
        """Judge one operation and queue what it needs for the next flush."""
        self.connections.submit(room, op, base, reply, received)

    def resolve_in(
        self, room: Room, conflict_id: str, resolution: Any, resolved_by: str, reply: Reply
    ) -> None:
        """Carry out a user's choice for a conflict of ``room``; ``reply`` is told."""
        self.connections.resolve_in(room, conflict_id, resolution, resolved_by, reply)

    # -- for the file watcher (watcher.WatchTarget; carried out by worktree.py) -----------

    def working_tree_session(self, name: str) -> LiveDocument | None:
        return self.worktree.working_tree_session(name)

    async def publish_external(
        self,
        name: str,
        outcomes: Sequence[Outcome],
        messages: Sequence[dict[str, Any]],
        bases: Collection[str] = (),
    ) -> None:
        await self.worktree.publish_external(name, outcomes, messages, bases)

    async def written_versions(self, name: str, file: str) -> list[tuple[bytes, int]]:
        return await self.worktree.written_versions(name, file)

    def writing_files(self, name: str) -> bool:
        return self.worktree.writing_files(name)

    def follow_checkout(self, name: str, old: str | None, new: str | None) -> Checkout:
        return self.worktree.follow_checkout(name, old, new)

    def keep_live_state(self, name: str, reason: str) -> str | None:
        return self.worktree.keep_live_state(name, reason)

    def version_before_loss(self, name: str, description: str) -> str | None:
        return self.worktree.version_before_loss(name, description)


def _typed(
    connection: ServerConnection, body: str | bytes, content_type: str, status: int = 200
) -> Any:
    if isinstance(body, bytes):  # taken as it is: no text copy of a large answer
        response = dataclasses.replace(connection.respond(status, ""), body=body)
        del response.headers["Content-Length"]
        response.headers["Content-Length"] = str(len(body))
    else:
        response = connection.respond(status, body)
    del response.headers["Content-Type"]  # Headers is multi-valued: replace
    response.headers["Content-Type"] = content_type
    return response


def page_url(host: str, port: int | None, *, tls: bool) -> str:
    """The address of the documents page, as a browser on this machine reaches it."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}/"


def _upgrade(headers: Any) -> bool:
    """Whether a request asks for a WebSocket: ``/`` is a page for a browser and the
    editors' endpoint for a WebSocket client."""
    return "websocket" in (headers.get("Upgrade") or "").lower()


def _unauthorized(connection: ServerConnection, exc: Unauthorized) -> Any:
    """401 with the challenge, or 429 with ``Retry-After`` for an address that waits."""
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response = connection.respond(429, f"{exc}\n")
        response.headers["Retry-After"] = str(retry_after)
        return response
    response = connection.respond(401, f"{exc}\n")
    response.headers["WWW-Authenticate"] = 'Bearer realm="svgx-sync"'
    return response


def _session_health(room: Room) -> dict[str, Any]:
    live = room.live
    # Only a session with something to act on says so: what its journal lost, the git
    # lock files held too long.
    damage = room.damage_notices()
    locks = room.lock_notices()
    return {
        **({"journal_damage": damage} if damage else {}),
        **({"locks": locks} if locks else {}),
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
        # file -> why its last write failed (retried); only while some write fails
        **({"write_failures": dict(room.write_failures)} if room.write_failures else {}),
    }


def fit_connections(requested: int) -> int:
    """``max_connections`` cut to the process's open-file limit, with a warning."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    fitted = connections_that_fit(requested, None if soft == resource.RLIM_INFINITY else soft)
    if fitted < requested:
        log.warning(
            "max_connections %d does not fit the open-file limit of %d: serving at most %d"
            " connections (raise the limit, e.g. ulimit -n, to serve more)",
            requested,
            soft,
            fitted,
        )
    return fitted


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
    scheme = "wss" if settings.certfile is not None else "ws"
    announce(
        f"svgx-sync listening on {scheme}://{settings.host}:{daemon.port}"
        f" (documents in {settings.root})"
    )
    announce(f"open {page_url(settings.host, daemon.port, tls=settings.certfile is not None)}")
    try:
        await stop.wait()
    finally:
        await daemon.stop()
