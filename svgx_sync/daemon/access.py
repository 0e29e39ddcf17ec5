"""Access at the daemon's edge, carried out: the rules are :mod:`svgx_sync.core.access`,
the tokens :mod:`svgx_sync.auth`; this shell feeds them what the sockets say.

* Every HTTP request, WebSocket handshakes included, is refused with 403 when its
  ``Host`` is not a name the daemon serves or its ``Origin`` is not allowed.
* A token may come at the handshake (``Authorization: Bearer``, or ``?token=`` for
  browsers, which cannot set headers on a WebSocket) or in the ``join``'s ``token``.
  One judged at the handshake is judged in a worker thread (an opaque token's first
  use costs one scrypt hash); a bad one gets 401, and past the free failures an
  address gets 429 with ``Retry-After`` until its wait is over, whatever it sends.
* Each connection has one :class:`~svgx_sync.core.access.Gate` for its lifetime, and
  every message passes it before its handler runs.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from weakref import WeakKeyDictionary

from websockets.asyncio.server import ServerConnection

from ..auth import Authenticator, bearer_token
from ..config import Settings
from ..core.access import (
    FailureLimiter,
    Gate,
    Principal,
    handshake_refusal,
    may_listen,
    own_origins,
    served_names,
    visible_health,
)
from ..core.protocol import Join, OperationMessage
from ..errors import ClientError, SvgxError, Unauthorized
from .room import Conn

__all__ = ["Access", "query_of"]


def query_of(path: str) -> dict[str, str]:
    """The query parameters of a request's path (the first of each name)."""
    out: dict[str, str] = {}
    for name, value in parse_qsl(urlsplit(path).query):
        out.setdefault(name, value)
    return out


def _peer(connection: ServerConnection) -> str:
    """A handshake's peer address, as the failure limiter counts it."""
    peer = connection.remote_address
    return str(peer[0]) if peer else "unknown"


class Access:
    """One daemon's access: its tokens, its served names and origins, the failures per
    address, and the gates of handshakes that carried a token."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.auth = Authenticator(settings)
        self.limiter = FailureLimiter()
        self.names = served_names(settings.host, settings.server_names)
        self.own: frozenset[str] = frozenset()
        # A handshake's gate, by its websockets connection, until the connection's first
        # frame takes it over (a transport without a handshake brings its token in a join).
        self._handshakes: WeakKeyDictionary[ServerConnection, Gate] = WeakKeyDictionary()

    @property
    def required(self) -> bool:
        """Whether every connection needs a token (any token or key is configured)."""
        return self.auth.required

    # -- listening ---------------------------------------------------------------------

    def listen_refusal(self) -> str | None:
        """Why the daemon must not listen where the settings say, or None."""
        return may_listen(self.settings.host, self.required)

    def tls_context(self) -> ssl.SSLContext | None:
        """The server's TLS context from ``certfile``/``keyfile`` (None: plain ws://)."""
        s = self.settings
        if s.certfile is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(s.certfile, s.keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ClientError(
                f"cannot serve TLS with certfile {s.certfile} and keyfile"
                f" {s.keyfile or '(in the certfile)'}: {exc}"
            ) from exc
        return context

    def listening(self, port: int) -> None:
        """The daemon listens on ``port``: its own pages' origins are known."""
        tls = self.settings.certfile is not None
        self.own = own_origins(self.names, port, tls=tls)

    # -- judging tokens ----------------------------------------------------------------

    def refusal(self, headers: Mapping[str, str]) -> tuple[int, str] | None:
        """The 403 for a request whose Host or Origin is refused, or None."""
        return handshake_refusal(
            headers.get("Host"),
            headers.get("Origin"),
            self.names,
            self.own,
            self.settings.allowed_origins,
        )

    def _verdict(self, token: str, now: float) -> Gate:
        if self.auth.shared(token):
            return Gate(open_door=True)  # a shared secret: trusted, named by its join
        return Gate(self.auth.principal(token, now))

    def _throttle(self, address: str, now: float) -> None:
        wait = self.limiter.retry_after(address, now)
        if wait > 0:
            seconds = math.ceil(wait)
            exc = Unauthorized(f"too many failed tokens from {address}; try again in {seconds} s")
            exc.retry_after = seconds  # type: ignore[attr-defined]
            raise exc

    def _judged(self, address: str, verdict: Gate | Unauthorized) -> Gate:
        if isinstance(verdict, Unauthorized):
            self.limiter.failed(address, time.time())
            raise verdict
        self.limiter.succeeded(address)
        return verdict

    def _try(self, token: str, now: float) -> Gate | Unauthorized:
        try:
            return self._verdict(token, now)
        except Unauthorized as exc:
            return exc

    async def request_gate(
        self, connection: ServerConnection, path: str, headers: Mapping[str, str]
    ) -> Gate | None:
        """The gate of the token an HTTP request carries, or None when it carries none
        (or none is needed); :class:`Unauthorized` for a bad one or a waiting address."""
        token = bearer_token(headers.get("Authorization"), query_of(path))
        if token is None or not self.required:
            return None
        address, now = _peer(connection), time.time()
        self._throttle(address, now)
        verdict = await asyncio.to_thread(self._try, token, now)
        return self._judged(address, verdict)

    def handshake(self, connection: ServerConnection, gate: Gate | None) -> None:
        """Keep a WebSocket handshake's gate for its connection's first frame."""
        if gate is not None:
            self._handshakes[connection] = gate

    def gate_of(self, conn: Conn) -> Gate:
        """``conn``'s gate: its handshake's, else one that waits for a token (or, without
        tokens, for the join that names the user)."""
        if conn.gate is None:
            ws = getattr(conn.transport, "ws", None)  # a WebSocketTransport's connection
            found = self._handshakes.pop(ws, None) if ws is not None else None
            conn.gate = found or Gate(open_door=not self.required)
            if ws is None and self.required:
                # No handshake went through process_request (an in-memory transport):
                # its headers' token is judged now.
                headers = conn.transport.request_headers
                token = bearer_token(headers.get("Authorization"), {})
                if token is not None:
                    self._join_token(conn, conn.gate, token)
        return conn.gate

    # -- messages ----------------------------------------------------------------------

    def admit(self, conn: Conn, message: Any) -> Any:
        """``message`` with its identity bound, if ``conn`` may send it now; a join's
        token is judged first (here, on the loop: cached after its first use)."""
        gate = self.gate_of(conn)
        try:
            if isinstance(message, Join) and message.token is not None and self.required:
                self._join_token(conn, gate, message.token)
            return gate.admit(message, conn.room.live.name if conn.room else None, time.time())
        except SvgxError as exc:
            if isinstance(message, OperationMessage):
                exc.op_id = message.op_id  # type: ignore[attr-defined]
            raise

    def _join_token(self, conn: Conn, gate: Gate, token: str) -> None:
        address, now = conn.transport.remote_address or "unknown", time.time()
        self._throttle(address, now)
        verdict = self._judged(address, self._try(token, now))
        if verdict.principal is None:
            gate.open_door = True
        else:
            gate.authenticate(verdict.principal)

    def check(self, conn: Conn, kind: str, document: str) -> None:
        """Whether ``conn`` may do ``kind`` to ``document`` (e.g. create it)."""
        self.gate_of(conn).check(kind, document, time.time())

    # -- what HTTP and status show -------------------------------------------------------

    def viewer(self, gate: Gate | None) -> Principal | None:
        """Whom to show the daemon's health as: None for everything (no tokens, or a
        shared secret), else the gate's principal."""
        if not self.required or gate is None:
            return None
        return gate.principal

    def may_read(self, gate: Gate | None) -> bool:
        """Whether a request may see what names documents, users or counters."""
        return not self.required or gate is not None

    def health_for(self, gate: Gate | None, health: dict[str, Any]) -> dict[str, Any]:
        """``/healthz`` as ``gate`` may see it: only ``status`` without a token."""
        if not self.may_read(gate):
            return {"status": health["status"]}
        return visible_health(health, self.viewer(gate))
