"""A client's connection: frames in, each parsed once and handed to its handler; a bad
frame is answered with an ``error`` to that client alone, and the session goes on.

Every message first passes the connection's gate (``access.py``): its role must allow
it, its document must be one the connection may open, and the fields that name a user
are the connection's user. Handlers then hand operations, presence, conflict
resolutions and version actions to the session and the other parts of the daemon. An
``unauthorized`` error (no valid token, or one that expired) closes the connection
with 1008; after ``MAX_CLIENT_ERRORS`` errors a connection is closed as abusive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection

from ..core import protocol as P
from ..core.access import CREATE_DOCUMENT, visible_health
from ..core.ops import Operation
from ..core.rate import TokenBucket
from ..errors import (
    ClientError,
    ProtocolError,
    RateLimited,
    ServerError,
    SvgxError,
    Unauthorized,
)
from .access import Access
from .commit import GroupCommit
from .membership import Membership
from .metrics import Metrics
from .room import Conn, Reply, Room, RoomLoader, send
from .runtime import Runtime
from .transport import Transport, WebSocketTransport
from .versions import Versions

if TYPE_CHECKING:
    from .recovery import Parsed

__all__ = ["HANDLERS", "MAX_CLIENT_ERRORS", "Connections"]

log = logging.getLogger(__name__)

MAX_CLIENT_ERRORS = 100  # errors on one connection before it is closed as abusive


class Connections:
    """Serves the client connections of a daemon."""

    def __init__(
        self,
        rt: Runtime,
        metrics: Metrics,
        commit: GroupCommit,
        members: Membership,
        versions: Versions,
        loader: RoomLoader,
        health: Callable[[], dict[str, Any]],
        access: Access,
    ) -> None:
        self.rt = rt
        self.access = access
        self.metrics = metrics
        self.commit = commit
        self.members = members
        self.versions = versions
        self.loader = loader
        self.health = health
        # connections not yet joined and with no token from their handshake, by remote
        # address (settings.max_unjoined_per_address), and the address each counts under
        self.waiting: Counter[str | None] = Counter()
        self.counted: dict[Conn, str | None] = {}

    async def serve(self, ws: ServerConnection) -> None:
        """Serve one WebSocket connection until it closes (websockets' handler)."""
        await self.run(WebSocketTransport(ws, self.rt.settings.max_unsent_bytes))

    async def run(self, transport: Transport) -> None:
        """Serve one connection, over any transport, until it closes."""
        s, now = self.rt.settings, time.monotonic()
        ops = TokenBucket(s.ops_per_second, s.ops_burst, now) if s.ops_per_second else None
        creates = TokenBucket(s.new_documents_per_minute / 60, s.new_documents_per_minute, now)
        conn = Conn(transport, ops, creates)
        if not self._admit(conn):
            async for _ in transport:  # closing: what still arrives is dropped
                pass
            return
        self.rt.conns.add(conn)
        window, metrics = s.max_unanswered_ops, self.metrics
        try:
            async for frame in transport:
                pause = self.on_frame(conn, frame)
                if conn.loading is not None:  # a join: read on once it has joined
                    await conn.loading
                if pause:  # over its cap: its next frame is read when a token is back
                    await asyncio.sleep(pause)
                waiting = conn.unanswered
                if waiting > metrics.unanswered_peak:
                    metrics.unanswered_peak = waiting
                if waiting >= window:  # its window is full: read on once answers went out
                    await self._room_for_more(conn, window)
                if conn.deadline is not None and conn.room is not None:
                    self._waited(conn)
        finally:
            self._waited(conn)
            self.rt.conns.discard(conn)
            self.members.leave(conn)

    async def _room_for_more(self, conn: Conn, window: int) -> None:
        """Read nothing more from ``conn`` until fewer than ``window`` of its operations
        wait for their answer: what it sends meanwhile waits in websockets' queue and
        then in TCP, which holds the sender back, and the batch others' operations join
        holds at most ``window`` of its operations."""
        self.metrics.window_waits.inc()
        while conn.unanswered >= window:
            conn.reading = self.rt.running.create_future()
            try:
                await conn.reading
            finally:
                conn.reading = None
        # Woken by the flush that answered it: what others sent meanwhile goes out in
        # the next batch before this connection's next window joins one.
        await asyncio.sleep(0)

    def _admit(self, conn: Conn) -> bool:
        """Give ``conn`` ``join_timeout_s`` to join, and count it against its address's cap
        of connections waiting to join unless its handshake brought a valid token; past
        the cap it is closed with 1013."""
        s = self.rt.settings
        address = conn.transport.remote_address
        gate = self.access.gate_of(conn)  # with tokens, a door open only to a valid one
        if not (self.access.required and (gate.principal is not None or gate.open_door)):
            if self.waiting[address] >= s.max_unjoined_per_address:
                conn.transport.close(1013, "too many connections from this address waiting")
                return False
            self.waiting[address] += 1
            self.counted[conn] = address
        conn.deadline = self.rt.running.call_later(s.join_timeout_s, self._late, conn)
        return True

    def crowded(self, peer: Any) -> bool:
        """Whether the address of ``peer`` (a socket address) has as many connections
        waiting to join as it may: its next handshake is answered 429."""
        address = str(peer[0]) if peer else None
        return self.waiting[address] >= self.rt.settings.max_unjoined_per_address

    def _late(self, conn: Conn) -> None:
        """No join arrived in time: the connection is closed (1008)."""
        self._waited(conn)
        self.rt.close(conn, 1008, f"no join within {self.rt.settings.join_timeout_s:g} s")

    def _waited(self, conn: Conn) -> None:
        """``conn`` joined, was closed or ran out of time: it waits no more."""
        if conn.deadline is None:
            return
        conn.deadline.cancel()
        conn.deadline = None
        if conn in self.counted:
            address = self.counted.pop(conn)
            self.waiting[address] -= 1
            if not self.waiting[address]:
                del self.waiting[address]

    def on_frame(self, conn: Conn, frame: str | bytes) -> float:
        """Handle one frame; the seconds to wait before reading the next (0: none)."""
        received = time.perf_counter()
        message: Any = None
        try:
            if isinstance(frame, bytes):
                raise ProtocolError("binary frames are not part of the protocol; send JSON text")
            message = self.access.admit(conn, P.parse_message(frame))
            self._within_rate(conn, message)
            HANDLERS[type(message)](self, conn, message, received)
        except RateLimited as exc:
            self.metrics.errors.inc()
            send(conn, P.error(exc.code, str(exc), exc.op_id))
            return min(1.0, exc.retry_after)
        except Exception as exc:
            self._failed(
                conn,
                exc,
                message.op_id if isinstance(message, P.OperationMessage) else None,
                message.request_id if isinstance(message, P.VersionRequest) else None,
            )
        return 0.0

    def _failed(
        self, conn: Conn, exc: Exception, op_id: str | None = None, request_id: str | None = None
    ) -> None:
        """Tell ``conn`` alone what went wrong with its message (``op_id``: which of its
        operations was not acknowledged; ``request_id``: which of its requests failed)."""
        if isinstance(exc, ClientError):
            self._client_error(conn, exc, request_id)
        elif isinstance(exc, ServerError):
            log.error("server error for %s: %s", conn.user_id, exc)
            code, text = exc.code, str(exc)
            send(conn, P.error(code, text, getattr(exc, "op_id", None), request_id))
        else:
            # The sender still learns which of its operations was not acknowledged.
            log.error("unexpected failure handling a frame from %s", conn.user_id, exc_info=exc)
            text = "internal error; nothing was changed"
            send(conn, P.error("internal_error", text, op_id, request_id))

    def _within_rate(self, conn: Conn, message: Any) -> None:
        """Refuse an operation past the connection's cap (when one is set), or a join that
        would create a document past its rate (not counted as abuse: a client may burst
        by mistake)."""
        s, now = self.rt.settings, time.monotonic()
        if isinstance(message, P.OperationMessage):
            if conn.ops is None or conn.ops.take(now):
                return
            raise RateLimited(
                f"more than {s.ops_per_second:g} operations a second (bursts of"
                f" {s.ops_burst}); this one was not applied",
                conn.ops.wait(),
                message.op_id,
            )
        if isinstance(message, P.Join) and self._would_create(message.session_id):
            if conn.creates.take(now):
                return
            raise RateLimited(
                f"more than {s.new_documents_per_minute:g} new documents a minute;"
                " this join created nothing",
                conn.creates.wait(),
            )

    def _would_create(self, session_id: str) -> bool:
        """Whether joining ``session_id`` would create its document."""
        if not self.rt.settings.create_missing_documents:
            return False
        name = session_id.partition("@")[0]
        return not (self.rt.store.path_of(name) / ".git").exists()

    def _client_error(self, conn: Conn, exc: ClientError, request_id: str | None = None) -> None:
        self.metrics.errors.inc()
        conn.errors += 1
        send(conn, P.error(exc.code, str(exc), getattr(exc, "op_id", None), request_id))
        if isinstance(exc, Unauthorized):
            self.rt.close(conn, 1008, "unauthorized")
        elif conn.errors > MAX_CLIENT_ERRORS:
            self.rt.close(conn, 1008, "too many invalid messages")

    # -- messages --------------------------------------------------------------------

    def _join(self, conn: Conn, msg: P.Join, received: float) -> None:
        name = msg.session_id.partition("@")[0]
        new = not (self.rt.store.path_of(name) / ".git").exists()
        if new and self.rt.settings.create_missing_documents:
            self.access.check(conn, CREATE_DOCUMENT, name)
        parsing = self.loader.parse_ahead(msg.session_id)
        if parsing is not None:
            # Its files are parsed in a worker thread first; the connection's next
            # frames are read once it has joined (Connections.run waits for this).
            conn.loading = self.rt.running.create_task(self._join_parsed(conn, msg, parsing))
            return
        self._enter(conn, self.loader.room_for(msg.session_id), msg)

    async def _join_parsed(
        self, conn: Conn, msg: P.Join, parsing: asyncio.Future[Parsed | None]
    ) -> None:
        try:
            parsed = await asyncio.shield(parsing)
            if self.rt.stopping:  # its rooms are closing: none is loaded now
                raise ServerError("the daemon is stopping; join again when it is back")
            self._enter(conn, self.loader.room_for(msg.session_id, parsed), msg)
        except Exception as exc:
            self._failed(conn, exc)
        finally:
            conn.loading = None

    def _enter(self, conn: Conn, room: Room, msg: P.Join) -> None:
        """``conn`` joins ``room``: welcomed with what it missed since ``msg.last_seq``."""
        self.members.leave(conn)
        self.commit.flush(room)  # the welcome shows only what everyone has been sent
        principal = self.access.gate_of(conn).principal
        assert principal is not None  # the gate named the user when it let the join in
        conn.user_id, conn.username = principal.user_id, principal.display_name
        room.last_used = time.monotonic()
        self.members.enter(conn, room, msg.session_id, time.time())
        self.commit.presence_soon(room)
        self.members.welcome(conn, room, msg.last_seq)

    def _joined(self, conn: Conn) -> Room:
        if conn.room is None:
            raise ProtocolError("join a session first")
        return conn.room

    def _operation(self, conn: Conn, msg: P.OperationMessage, received: float) -> None:
        room = self._joined(conn)
        op = msg.to_operation()
        try:
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
            self.commit.presence_soon(room)
            send(reply, P.ack(out.ack))
            return
        if out.duplicate:
            if (out.seq or 0) > room.durable_seq or room.journal.pending:
                room.reply_later(reply, P.ack(out.ack))
                self.commit.flush_soon(room)
            else:
                send(reply, P.ack(out.ack))
            return
        self.commit.queue(room, out, reply)
        if out.entries:
            room.received.append(received)
            room.version_ops.extend(e["op_id"] for e in out.entries)
            room.presence.operation(op.user_id, now, op.element_id)
            self.commit.presence_soon(room)

    def _activity(self, conn: Conn, msg: P.Activity, received: float) -> None:
        room = self._joined(conn)
        room.presence.activity(
            msg.user_id,
            time.time(),
            status=msg.status,
            current_element=msg.current_element,
            cursor_position=msg.cursor_position,
            selected_elements=msg.selected_elements,
        )
        self.commit.presence_soon(room)

    def _resolve(self, conn: Conn, msg: P.ResolveConflict, received: float) -> None:
        room = self._joined(conn)
        self.resolve_in(room, msg.conflict_id, msg.resolution, msg.resolved_by, conn)

    def resolve_in(
        self, room: Room, conflict_id: str, resolution: Any, resolved_by: str, reply: Reply
    ) -> None:
        """Carry out a user's choice for a conflict of ``room``; ``reply`` is told."""
        out = room.live.resolve_conflict(conflict_id, resolution, resolved_by, now=time.time())
        self.commit.queue(room, out, reply)

    def _leave(self, conn: Conn, msg: P.Leave, received: float) -> None:
        self.members.leave(conn)
        send(conn, P.left())

    def _status(self, conn: Conn, msg: P.Status, received: float) -> None:
        viewer = self.access.viewer(self.access.gate_of(conn))
        send(conn, P.status(visible_health(self.health(), viewer)))

    def _configure(self, conn: Conn, msg: P.Configure, received: float) -> None:
        room = self._joined(conn)
        room.journal.append(room.live.set_strategy(msg.strategy))
        if not self.commit.sync(room):
            raise ServerError("the session could not record its new strategy")
        room.broadcast(P.session_configured(msg.strategy, msg.user_id or conn.user_id))

    def _version(self, conn: Conn, msg: P.VersionRequest, received: float) -> None:
        room = self._joined(conn)
        if self.versions.must_wait(room):
            # git holds a lock the action needs: wait for it off the loop's back.
            room.version_waits += 1
            self.rt.in_background(self._version_when_unlocked(conn, room, msg))
            return
        self._act(conn, room, msg)

    async def _version_when_unlocked(self, conn: Conn, room: Room, msg: P.VersionRequest) -> None:
        try:
            await self.versions.when_unlocked(room)
            if room.broken or self.rt.stopping:
                raise ServerError(f"{room.key} is closing; nothing was done")
            self._act(conn, room, msg)
        except Exception as exc:
            self._failed(conn, exc, request_id=msg.request_id)
        finally:
            room.version_waits -= 1

    def _act(self, conn: Conn, room: Room, msg: P.VersionRequest) -> None:
        reply = self.versions.act(conn, room, msg)
        if reply is not None:
            if msg.request_id is not None:
                reply["request_id"] = msg.request_id
            send(conn, reply)


HANDLERS: dict[type, Callable[..., None]] = {
    P.Join: Connections._join,
    P.OperationMessage: Connections._operation,
    P.Activity: Connections._activity,
    P.VersionRequest: Connections._version,
    P.ResolveConflict: Connections._resolve,
    P.Leave: Connections._leave,
    P.Status: Connections._status,
    P.Configure: Connections._configure,
}
