"""What the daemon needs of a client's connection: the :class:`Transport` protocol.

The session logic (``connection``, ``membership``, ``commit``) sees only this: send a text
frame without waiting, start closing with a code, the peer's address and request headers,
and the frames that arrive. Two transports implement it:

* :class:`WebSocketTransport` over a real websockets ``ServerConnection``; fan-out to many
  of them goes through one ``websockets.broadcast`` (:func:`fan_out`), as cheap as before;
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

__all__ = [
    "OVERFLOW_CODE",
    "LocalClient",
    "LocalClosed",
    "MemoryTransport",
    "Transport",
    "WebSocketTransport",
    "fan_out",
    "memory_pair",
]

OVERFLOW_CODE = 1013  # "try again later": the client fell too far behind
OVERFLOW_REASON = "too far behind: unsent messages over the limit"


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

    def send(self, text: str) -> None:
        if self._closer is not None:
            return
        # Only a connection over websockets' write limit (paused) can be over the bound.
        if self.ws.paused and self.unsent() > self.max_unsent:
            self.close(OVERFLOW_CODE, OVERFLOW_REASON)
            return
        websockets.broadcast([self.ws], text)

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
    """Send one frame to many: real sockets with one ``websockets.broadcast``."""
    sockets = []
    for transport in transports:
        # A paused socket goes through send() and its bound; the others need no check.
        if type(transport) is WebSocketTransport and not transport.ws.paused:
            if not transport.closing:
                sockets.append(transport.ws)
        else:
            transport.send(text)
    if sockets:
        websockets.broadcast(sockets, text)


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
