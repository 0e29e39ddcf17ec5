"""The seed's Python API, over one daemon running in the caller's event loop.

``await start_collaboration_server(host, port)`` starts a :class:`~svgx_sync.daemon.server.Daemon`
in the running loop, serving documents from ``./svgx-documents`` (settings from the
environment as for ``svgx-sync serve``). The other functions act on that daemon as a
local client: operations go through exactly the path of a WebSocket client's (same
ordering, same journal, acknowledged once durable), with these differences:

* the seed's dicts name the operation type in ``type``; ``session_id`` defaults to
  :data:`DEFAULT_SESSION`;
* an operation's base is the current ``seq`` (the caller sees every result at once);
* the functions answer ``True``/``False`` as the seed does, and log why on ``False``.

When the loop shuts down (``asyncio.run`` returning), the daemon is stopped cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from .config import load_settings
from .core.ops import coerce_operation
from .daemon.server import Daemon
from .errors import SvgxError

__all__ = [
    "DEFAULT_SESSION",
    "get_active_users",
    "get_collaboration_performance_stats",
    "resolve_conflict",
    "send_operation",
    "start_collaboration_server",
    "stop_collaboration_server",
]

log = logging.getLogger(__name__)

DEFAULT_SESSION = "default"
REPLY_TIMEOUT = 30.0

_daemon: Daemon | None = None
_stopper: asyncio.Task[None] | None = None
"""The task that stops the daemon with the loop; held here because the loop keeps only
a weak reference to its tasks, and a task nobody holds is collected before it runs."""


def current_daemon() -> Daemon | None:
    """The daemon started by :func:`start_collaboration_server`, if it is running."""
    return _daemon if _daemon is not None and not _daemon.stopping else None


async def start_collaboration_server(host: str = "localhost", port: int = 8765) -> bool:
    """Start the daemon in the running loop; False when it cannot listen."""
    global _daemon, _stopper
    if current_daemon() is not None:
        log.warning("the collaboration server is already running")
        return True
    try:
        daemon = Daemon(load_settings({"host": host, "port": port}, os.environ))
        await daemon.start()
    except (OSError, SvgxError) as exc:
        log.error("cannot start the collaboration server on %s:%s: %s", host, port, exc)
        return False
    _daemon = daemon
    _stopper = asyncio.get_running_loop().create_task(_stop_with_the_loop(daemon))
    return True


async def _stop_with_the_loop(daemon: Daemon) -> None:
    # asyncio.run cancels the tasks left when the main coroutine returns; this one then
    # puts everything on disk before the loop closes.
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        if not daemon.stopping:
            daemon.stopping = True
            if daemon.server is not None:
                daemon.server.close(close_connections=False)
            daemon.shutdown_rooms()
        raise


async def stop_collaboration_server() -> None:
    """Stop the daemon started by :func:`start_collaboration_server`."""
    global _daemon
    if _daemon is not None:
        await _daemon.stop()
        _daemon = None


async def _reply(start: Any) -> dict[str, Any]:
    future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    start(future)
    return await asyncio.wait_for(future, REPLY_TIMEOUT)


async def send_operation(operation: dict[str, Any]) -> bool:
    """Apply one operation (the seed's dict); True once it is durable and broadcast."""
    daemon = current_daemon()
    if daemon is None:
        log.error("send_operation: the collaboration server is not running")
        return False
    fields = dict(operation)
    fields.setdefault("session_id", DEFAULT_SESSION)
    try:
        op = coerce_operation(fields)
        room = daemon.room_for(op.session_id or DEFAULT_SESSION)
        received = time.perf_counter()
        answer = await _reply(lambda f: daemon.submit(room, op, None, f, received))
    except SvgxError as exc:
        log.warning("operation refused: %s", exc)
        return False
    if answer.get("type") != "ack" or answer.get("status") not in ("applied", "pending"):
        log.warning("operation not applied: %s", answer.get("reason") or answer.get("message"))
        return False
    return True


async def resolve_conflict(conflict_id: str, resolution: Any, resolved_by: str) -> bool:
    """Resolve a recorded conflict of any live session; False if there is no such conflict."""
    daemon = current_daemon()
    if daemon is None:
        log.error("resolve_conflict: the collaboration server is not running")
        return False
    rooms = sorted(daemon.rooms.values(), key=lambda r: r.live.name != DEFAULT_SESSION)
    for room in rooms:
        if conflict_id in room.live.book.conflicts:
            try:
                await _reply(
                    lambda f, room=room: daemon.resolve_in(
                        room, conflict_id, resolution, resolved_by, f
                    )
                )
            except SvgxError as exc:
                log.warning("conflict %s not resolved: %s", conflict_id, exc)
                return False
            return True
    log.warning("no conflict %r in any live session", conflict_id)
    return False


def get_active_users() -> list[dict[str, Any]]:
    """Users present (not offline) in any live session, each as a presence dict."""
    daemon = current_daemon()
    return daemon.active_users() if daemon is not None else []


def get_collaboration_performance_stats() -> dict[str, Any]:
    """The seed's statistics: operations, conflicts, propagation time, users, sessions."""
    daemon = current_daemon()
    if daemon is None:
        return {
            "total_operations": 0,
            "conflicts_detected": 0,
            "conflicts_resolved": 0,
            "average_propagation_time_ms": 0.0,
            "active_users": 0,
            "total_sessions": 0,
        }
    return daemon.stats()


class _Caller:
    """Stands for a connection when a version action comes from Python."""

    user_id: str | None = None
    username: str | None = None


def version_action(session_id: str, action: str, **fields: Any) -> dict[str, Any] | None:
    """Run a ``version`` action on a live session, as the protocol's message would.

    ``action`` is one of create_version, revert, history, create_branch, list_branches,
    diff, merge_branch, complete_merge, abort_merge; ``fields`` are the message's
    (``created_by``, ``description``, ``version_id``, ``branch``...). Returns the reply
    sent to the caller (None when the answer is a broadcast, e.g. version_created).
    Client errors are raised as :class:`~svgx_sync.errors.ClientError`.
    """
    from .core import protocol as P

    daemon = current_daemon()
    if daemon is None:
        raise RuntimeError("the collaboration server is not running")
    if action == "switch_branch":
        raise ValueError("switch_branch moves a connection; join name@branch instead")
    msg = P.VersionRequest(type="version", action=action, **fields)  # type: ignore[arg-type]
    room = daemon.room_for(session_id)
    return daemon.versions.act(_Caller(), room, msg)


async def merge_branch(
    session_id: str, branch: str, created_by: str, description: str | None = None
) -> dict[str, Any]:
    """Merge ``branch`` into the session's branch (see ``docs/protocol.md``).

    Returns ``branch_merged`` (with the two-parent commit's ``version_id``) or
    ``merge_in_progress`` with the conflicts to resolve before ``complete_merge``.
    """
    reply = version_action(
        session_id, "merge_branch", branch=branch, created_by=created_by, description=description
    )
    assert reply is not None
    return reply
