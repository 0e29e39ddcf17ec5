"""A running daemon, seen from the terminal: its health, and versions of its live state.

What the commands ``status`` and ``version`` need, and nothing else:

* :func:`fetch_health` reads ``GET /healthz``; no answer, or an answer that is not the
  daemon's JSON, is :class:`~svgx_sync.errors.Unreachable`.
* :func:`served_document` turns what the user typed (a document name, or the path of a
  document's folder or of a file in it) into the name the daemon serves it under, from
  the health it reported. It never names a document the daemon does not list, so a
  version is never made of a document that a join would have created.
* :func:`create_version` speaks the protocol as any client does (``docs/protocol.md``):
  ``join``, then ``version`` ``create_version``, then ``leave``. The daemon writes the
  live state to the files and commits it, index included, so the working tree is clean
  for git afterwards.

Errors the daemon sends back become the exception of their ``code``, so the command
line gives them its usual exit codes.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .errors import ClientError, NotFound, ServerError, SvgxError, Unauthorized, Unreachable

__all__ = ["create_version", "fetch_health", "served_document"]

REPLY_TIMEOUT = 30.0
#: What the daemon sends (a welcome, a version's reply) is ours to trust whatever its size.
MAX_MESSAGE_BYTES = 512 * 1024 * 1024


def _address(host: str, port: int) -> str:
    return f"{host}:{port}"


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def fetch_health(
    host: str,
    port: int,
    *,
    token: str | None = None,
    tls: ssl.SSLContext | None = None,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """The daemon's ``/healthz`` JSON, as ``token`` may see it (over https with ``tls``)."""
    scheme = "https" if tls is not None else "http"
    request = urllib.request.Request(
        f"{scheme}://{_address(host, port)}/healthz", headers=_bearer(token)
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=tls) as response:
            health = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 429):
            text = exc.read().decode(errors="replace").strip()
            raise Unauthorized(f"the daemon at {_address(host, port)} refused: {text}") from None
        raise Unreachable(f"{_address(host, port)} is not an svgx-sync daemon") from exc
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)  # urllib wraps the socket's error
        reason = getattr(reason, "strerror", None) or reason
        raise Unreachable(
            f"no daemon answers at {_address(host, port)} ({reason});"
            " start one with `svgx-sync serve`"
        ) from exc
    except ValueError as exc:
        raise Unreachable(f"{_address(host, port)} is not an svgx-sync daemon") from exc
    if isinstance(health, dict) and set(health) == {"status"}:
        raise Unauthorized(
            f"the daemon at {_address(host, port)} shows what it serves only with a token:"
            " give --token or set SVGX_SYNC_TOKEN"
        )
    if not isinstance(health, dict) or "documents" not in health:
        raise Unreachable(f"{_address(host, port)} is not an svgx-sync daemon")
    return health


def served_document(typed: str, health: dict[str, Any], *, cwd: Path) -> str:
    """The name under which the daemon serves the document the user typed.

    A name the daemon lists is taken as is; anything else is a path: a document's folder,
    or a file in it, whose folder must be in the daemon's root.
    """
    documents = list(health.get("documents") or [])
    if "/" not in typed and typed in documents:
        return typed
    path = (cwd / Path(typed).expanduser()).absolute()
    if not path.exists():
        raise NotFound(
            f"no document {typed!r} on the daemon at port {health.get('port')}"
            f" (it serves: {', '.join(documents) or 'none'})"
        )
    folder = path if path.is_dir() else path.parent
    root = Path(str(health.get("root", ""))).absolute()
    for candidate in (folder, *folder.parents):
        if candidate.parent.resolve() == root.resolve() and candidate.name in documents:
            return candidate.name
    raise NotFound(f"{path} is not served by the daemon (its documents are in {root})")


def _error_of(message: dict[str, Any]) -> SvgxError:
    """The exception of an ``error`` the daemon sent, by its code."""
    code, text = message.get("code"), str(message.get("message", "refused"))
    kinds: list[type[SvgxError]] = [ClientError, ServerError]
    while kinds:
        kind = kinds.pop()
        if kind.code == code:
            return kind(text)
        kinds.extend(kind.__subclasses__())
    return ClientError(text)


def create_version(
    host: str,
    port: int,
    document: str,
    description: str,
    *,
    user: str | None,
    branch: str | None = None,
    token: str | None = None,
    tls: ssl.SSLContext | None = None,
    timeout: float = REPLY_TIMEOUT,
) -> str:
    """Join ``document`` (its checked-out branch, or ``branch``) as ``user`` (None: the
    user ``token`` names), make a version of its live state and return the version id.
    ``token`` goes in the handshake's ``Authorization`` header; with ``tls`` the
    connection is ``wss://``."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    session = f"{document}@{branch}" if branch else document
    deadline = time.monotonic() + timeout
    try:
        with connect(
            f"{'wss' if tls is not None else 'ws'}://{_address(host, port)}",
            ssl=tls,
            additional_headers=_bearer(token),
            compression=None,
            proxy=None,
            max_size=MAX_MESSAGE_BYTES,
            open_timeout=timeout,
        ) as ws:

            def receive(kind: str, match: dict[str, Any] | None = None) -> dict[str, Any]:
                return _receive(ws, kind, match or {}, deadline, _address(host, port))

            _send(ws, type="join", user_id=user, username=user, session_id=session)
            receive("welcome")
            _send(
                ws,
                type="version",
                action="create_version",
                created_by=user,
                description=description,
            )
            # Another client's version may be announced meanwhile; ours carries our words.
            ours = {"description": description, **({"created_by": user} if user else {})}
            created = receive("version_created", ours)
            _send(ws, type="leave")
            receive("left")
    except TimeoutError as exc:
        raise ServerError(f"the daemon at {_address(host, port)} did not answer") from exc
    except (OSError, WebSocketException) as exc:
        raise Unreachable(
            f"no daemon answers at {_address(host, port)} ({exc}); start one with `svgx-sync serve`"
        ) from exc
    return str(created["version_id"])


def _send(ws: Any, **message: Any) -> None:
    ws.send(json.dumps({k: v for k, v in message.items() if v is not None}))


def _receive(
    ws: Any, kind: str, match: dict[str, Any], deadline: float, address: str
) -> dict[str, Any]:
    """The next message of ``kind`` whose fields include ``match``; an ``error`` is raised."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ServerError(f"the daemon at {address} did not answer")
        message: dict[str, Any] = json.loads(ws.recv(timeout=left))
        if message.get("type") == "error":
            raise _error_of(message)
        if message.get("type") == kind and all(message.get(k) == v for k, v in match.items()):
            return message
