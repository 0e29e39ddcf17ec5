"""What the parts of one daemon share: its settings, the event loop, the live rooms and
connections, whether it is stopping, its file watcher, and the tasks nobody awaits."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from ..config import Settings
from .heap import Heap

if TYPE_CHECKING:
    from ..git.store import Store
    from .room import Conn, Room
    from .watcher import Watcher

__all__ = ["Rooms", "Runtime"]


class Rooms(MutableMapping[str, "Room"]):
    """The live rooms by key (``document_key(name, branch)``), and by document: what a
    file event or a write asks for (the rooms of one document) is found without walking
    a thousand others."""

    def __init__(self) -> None:
        self._by_key: dict[str, Room] = {}
        self._by_document: dict[str, dict[str, Room]] = {}

    def of_document(self, name: str) -> list[Room]:
        """The live rooms (branches) of document ``name``."""
        return list(self._by_document.get(name, {}).values())

    def __getitem__(self, key: str) -> Room:
        return self._by_key[key]

    def __setitem__(self, key: str, room: Room) -> None:
        if key in self._by_key:
            del self[key]
        self._by_key[key] = room
        self._by_document.setdefault(room.live.name, {})[key] = room

    def __delitem__(self, key: str) -> None:
        room = self._by_key.pop(key)
        branches = self._by_document[room.live.name]
        del branches[key]
        if not branches:
            del self._by_document[room.live.name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)


class Runtime:
    """The state of one daemon that every part reads; the :class:`~.server.Daemon` owns it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: Store  # made by start(), once the port is ours: a failed start creates nothing
        self.loop: asyncio.AbstractEventLoop | None = None
        self.rooms = Rooms()
        self.heap = Heap()  # the live sessions' objects, out of the collector's full passes
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
