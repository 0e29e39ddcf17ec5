"""What the daemon needs of a client's connection: the :class:`Transport` protocol.

The session logic (``connection``, ``membership``, ``commit``) sees only this: send a text
frame without waiting, start closing with a code, the peer's address and request headers,
and the frames that arrive. Two transports implement it:

* :class:`WebSocketTransport` over a real websockets ``ServerConnection``. A message for
  many is framed once (:class:`Frames`: server frames are not masked, so the bytes are
  the same for every connection) and those bytes are written to each socket as they
  are, one write per connection for everything one batch sends it (:func:`fan_out`,
  :func:`deliver`); a connection that websockets must frame itself (compression
  negotiated, a close under way, paused) gets the texts through websockets instead;
* :func:`memory_pair`: a daemon end and a :class:`LocalClient` end joined in memory, for
  tests of the daemon's rules and for embedding without a socket.

Either way a connection's unsent bytes are bounded: a frame sent while more than
``max_unsent`` bytes still wait for the peer closes the connection with 1013 instead,
so a client that stops reading cannot grow the daemon's memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Protocol

import websockets
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

__all__ = [
    "OVERFLOW_CODE",
    "Frames",
    "LocalClient",
    "LocalClosed",
    "MemoryTransport",
    "Transport",
    "WebSocketTransport",
    "deliver",
    "fan_out",
    "memory_pair",
]

OVERFLOW_CODE = 1013  # "try again later": the client fell too far behind
OVERFLOW_REASON = "too far behind: unsent messages over the limit"

_OPEN = State.OPEN


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented WebSocket text frame (RFC 6455 5.2) of ``payload``."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


class Frames:
    """Text messages framed once, in order: the same bytes go to every connection."""

    __slots__ = ("_data", "texts")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self._data: bytes | None = None

    @property
    def data(self) -> bytes:
        """The frames of :attr:`texts`, one after the other (built on first use)."""
        if self._data is None:
            self._data = b"".join(text_frame(t.encode()) for t in self.texts)
        return self._data

    def __bool__(self) -> bool:
        return bool(self.texts)


class Transport(Protocol):
    """One client connection as the daemon uses it."""

    @property
    def remote_address(self) -> str | None:
        """The peer's host (an IP address), or None when it has none."""
        ...

    @property
    def request_headers(self) -> Mapping[str, str]:
        """The headers of the opening request (empty in memory)."""
        ...

    def send(self, text: str) -> None:
        """Queue one text frame; never waits. Past the unsent-bytes bound it closes."""
        ...

    def send_frames(self, frames: Frames, more: Frames | None = None) -> None:
        """Queue ``frames``, then ``more`` (this connection's own), as :meth:`send` does."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Start closing; frames sent afterwards are dropped."""
        ...

    def unsent(self) -> int:
        """Bytes sent but not yet taken by the peer."""
        ...

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """The frames that arrive, until the connection closes."""
        ...


class WebSocketTransport:
    """A websockets ``ServerConnection`` as a :class:`Transport`."""

    __slots__ = ("_closer", "max_unsent", "ws")

    def __init__(self, ws: ServerConnection, max_unsent: int) -> None:
        self.ws = ws
        self.max_unsent = max_unsent
        self._closer: asyncio.Task[None] | None = None  # held: the loop keeps weak refs

    @property
    def remote_address(self) -> str | None:
        address = self.ws.remote_address
        return str(address[0]) if address else None

    @property
    def request_headers(self) -> Mapping[str, str]:
        request = self.ws.request
        return request.headers if request is not None else {}

    @property
    def closing(self) -> bool:
        return self._closer is not None

    def unsent(self) -> int:
        transport = self.ws.transport
        return 0 if transport is None else transport.get_write_buffer_size()

    @property
    def raw(self) -> bool:
        """Whether whole frames may go to the socket as they are: open, not paused (its
        bound is checked by :meth:`send`), nothing of websockets' own waiting to go, no
        extension that changes frames (compression) and no fragmented message under way."""
        ws = self.ws
        protocol = ws.protocol
        return (
            self._closer is None
            and not ws.paused
            and protocol.state is _OPEN
            and ws.send_in_progress is None
            and not protocol.extensions
            and not protocol.writes
        )

    def send(self, text: str) -> None:
        if self._closer is not None:
            return
        # Only a connection over websockets' write limit (paused) can be over the bound.
        if self.ws.paused and self.unsent() > self.max_unsent:
            self.close(OVERFLOW_CODE, OVERFLOW_REASON)
            return
        websockets.broadcast([self.ws], text)

    def send_frames(self, frames: Frames, more: Frames | None = None) -> None:
        if self.raw:
            self.ws.transport.write(frames.data + more.data if more else frames.data)
            return
        for text in frames.texts + (more.texts if more else []):
            self.send(text)

    def close(self, code: int, reason: str) -> None:
        if self._closer is None:
            self._closer = asyncio.ensure_future(self.ws.close(code, reason))

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        try:
            async for frame in self.ws:
                yield frame
        except ConnectionClosed:
            return


def fan_out(transports: Iterable[Transport], text: str) -> None:
    """Send one message to many, framed once."""
    deliver(transports, Frames([text]))


def deliver(
    transports: Iterable[Transport], frames: Frames, own: Mapping[Transport, Frames] | None = None
) -> None:
    """Send ``frames`` to every one of ``transports``, each followed by what ``own``
    holds for it (also sent to those of ``own`` not in ``transports``): one write per
    real socket."""
    rest = dict(own) if own else {}
    if frames:
        data = frames.data
        for transport in transports:
            more = rest.pop(transport, None) if rest else None
            if more is None and type(transport) is WebSocketTransport and transport.raw:
                transport.ws.transport.write(data)
            else:
                transport.send_frames(frames, more)
    for transport, more in rest.items():
        transport.send_frames(more)


class LocalClosed(Exception):
    """The local connection is closed; ``code`` and ``reason`` say how."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code = code
        self.reason = reason


_END = object()


class _Pipe:
    """Frames one way, with the bytes not yet taken counted."""

    def __init__(self) -> None:
        self.frames: deque[object] = deque()
        self.bytes = 0
        self.waiter: asyncio.Future[None] | None = None
        self.closed: LocalClosed | None = None

    def put(self, frame: object) -> None:
        self.frames.append(frame)
        if isinstance(frame, str | bytes):
            self.bytes += len(frame)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def get(self) -> object:
        while not self.frames:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        frame = self.frames.popleft()
        if isinstance(frame, str | bytes):
            self.bytes -= len(frame)
        return frame


class MemoryTransport:
    """The daemon's end of an in-memory connection (see :func:`memory_pair`)."""

    def __init__(
        self,
        inbound: _Pipe,
        outbound: _Pipe,
        max_unsent: int,
        remote_address: str | None,
        headers: Mapping[str, str],
    ) -> None:
        self._inbound = inbound
        self._outbound = outbound
        self.max_unsent = max_unsent
        self._address = remote_address
        self._headers = dict(headers)

    @property
    def remote_address(self) -> str | None:
        return self._address

    @property
    def request_headers(self) -> Mapping[str, str]:
        return self._headers

    def unsent(self) -> int:
        return self._outbound.bytes

    def send(self, text: str) -> None:
        if self._outbound.closed is not None:
            return
        if self._outbound.bytes > self.max_unsent:
            self.close(OVERFLOW_CODE, OVERFLOW_REASON)
            return
        self._outbound.put(text)

    def send_frames(self, frames: Frames, more: Frames | None = None) -> None:
        for text in frames.texts + (more.texts if more else []):
            self.send(text)

    def close(self, code: int, reason: str) -> None:
        for pipe in (self._outbound, self._inbound):
            if pipe.closed is None:
                pipe.closed = LocalClosed(code, reason)
                pipe.put(_END)

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        while True:
            frame = await self._inbound.get()
            if not isinstance(frame, str | bytes):
                return
            yield frame


class LocalClient:
    """The client's end of an in-memory connection, used like a websockets client:
    ``await send(text)``, ``await recv()``, ``await close()``."""

    def __init__(self, inbound: _Pipe, outbound: _Pipe) -> None:
        self._inbound = inbound
        self._outbound = outbound

    @property
    def close_code(self) -> int | None:
        closed = self._inbound.closed
        return closed.code if closed is not None else None

    async def send(self, text: str | bytes) -> None:
        if self._outbound.closed is not None:
            raise self._outbound.closed
        self._outbound.put(text)

    async def recv(self) -> str | bytes:
        frame = await self._inbound.get()
        if isinstance(frame, str | bytes):
            return frame
        self._inbound.put(_END)  # later calls fail the same way
        assert self._inbound.closed is not None
        raise self._inbound.closed

    async def close(self, code: int = 1000, reason: str = "") -> None:
        for pipe in (self._outbound, self._inbound):
            if pipe.closed is None:
                pipe.closed = LocalClosed(code, reason)
                pipe.put(_END)


def memory_pair(
    max_unsent: int,
    remote_address: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[MemoryTransport, LocalClient]:
    """A daemon end and a client end joined in memory."""
    to_daemon, to_client = _Pipe(), _Pipe()
    daemon_end = MemoryTransport(to_daemon, to_client, max_unsent, remote_address, headers or {})
    return daemon_end, LocalClient(to_client, to_daemon)
