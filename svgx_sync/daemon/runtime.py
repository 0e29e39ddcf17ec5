"""What the parts of one daemon share: its settings, the event loop, the live rooms and
connections, whether it is stopping, its file watcher, and the tasks nobody awaits."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from ..config import Settings

if TYPE_CHECKING:
    from ..git.store import Store
    from .room import Conn, Room
    from .watcher import Watcher

__all__ = ["Runtime"]


class Runtime:
    """The state of one daemon that every part reads; the :class:`~.server.Daemon` owns it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: Store  # made by start(), once the port is ours: a failed start creates nothing
        self.loop: asyncio.AbstractEventLoop | None = None
        self.rooms: dict[str, Room] = {}
        self.parked: dict[str, str] = {}  # document -> branch parked while HEAD is detached
        self.conns: set[Conn] = set()
        # settings.max_connections, or fewer when the open-file limit is lower (start())
        self.max_connections = settings.max_connections
        self.stopping = False
        self.watcher: Watcher | None = None  # set by Daemon.start() when files are watched
        # document -> the descriptor holding its repository's ownership mark (git/locks.py)
        self.owned: dict[str, int] = {}
        # Tasks nobody awaits (a hook's poke, a recheck, a close): the loop keeps only
        # weak references, so a task held by nobody could be collected before it ran.
        self._background: set[asyncio.Future[None]] = set()

    @property
    def running(self) -> asyncio.AbstractEventLoop:
        """The event loop the daemon was started in."""
        assert self.loop is not None
        return self.loop

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the loop, held until it ends."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def close(self, conn: Conn, code: int, reason: str) -> None:
        """Close one client connection (in the background)."""
        conn.transport.close(code, reason)
