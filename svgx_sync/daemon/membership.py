"""Who is in which room: a client entering a room, its ``welcome``, leaving."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ..core import protocol as P
from ..core.access import Role
from ..core.svgdoc import SvgDocument
from .commit import GroupCommit
from .pages import raw_url
from .room import Conn, Room, send
from .runtime import Runtime

__all__ = ["Membership"]


class Membership:
    """Puts clients in rooms and takes them out, for every room of a daemon."""

    def __init__(self, rt: Runtime, commit: GroupCommit) -> None:
        self.rt = rt
        self.commit = commit

    def enter(self, conn: Conn, room: Room, session_id: str, now: float) -> None:
        """``conn`` (its user known) is a client of ``room`` from now on; no welcome yet."""
        conn.session_id = session_id
        conn.room = room
        room.clients.add(conn)
        room.presence.join(conn.user_id or "user", conn.username, now)

    def move(self, conn: Conn, session_id: str, room: Room) -> None:
        """``conn`` leaves its room for ``room`` and is welcomed there with every file."""
        self.leave(conn)
        self.commit.flush(room)
        self.enter(conn, room, session_id, time.time())
        self.commit.presence_soon(room)
        self.welcome(conn, room, None)

    def welcome(self, conn: Conn, room: Room, last_seq: int | None) -> None:
        """Send ``conn`` the room's state: every file, or what it missed after ``last_seq``."""
        live = room.live
        damage = room.damage_notices()
        # After damage a client may hold what the session lost: it gets every file.
        missed = live.since(last_seq) if last_seq is not None and not damage else None
        if missed:
            missed = P.addressed(missed, self.rt.settings.inline_files_bytes, room.raw_url)
        version = str(room.document.repo.references[f"refs/heads/{live.branch}"].target)
        session_id = conn.session_id or room.key
        files, urls = (None, None) if missed is not None else self.files_of(session_id, room)
        send(
            conn,
            P.welcome(
                session_id=session_id,
                document=live.name,
                branch=live.branch,
                version_id=version,
                seq=live.seq,
                files=files,
                users=room.presence.active(),
                conflicts=live.book.open(),
                missed=missed,
                strategy=live.strategy.value,
                file_urls=urls,
                role=(conn.gate.role if conn.gate is not None else Role.ADMIN).value,
                user_id=conn.user_id,
            ),
        )
        conn.delivered = live.seq
        for notice in damage:
            send(conn, notice)
        for notice in live.held.values():  # git conflicts the working tree still has
            send(conn, notice)
        # Nobody was there to be told when the session was loaded: the first to join is.
        for notice in room.load_notices:
            send(conn, notice)
        room.load_notices = []
        if self.rt.parked.get(live.name) == live.branch:
            send(conn, detached_notice(room))

    def files_of(self, session_id: str, room: Room) -> tuple[dict[str, str], dict[str, str]]:
        """The files a welcome carries, and the URLs of those too large to."""
        files = room.live.files
        limit = self.rt.settings.inline_files_bytes
        # Each file's size bound, never below its size: a big drawing is neither rendered
        # nor encoded to learn that it is fetched by URL.
        inline, fetched = P.inline_split(_counted(files, lambda doc: doc.size_bound), limit)
        if any(files[path].size_bound <= MEASURED_UP_TO for path in fetched):
            # The bound grows with every edit until the file is written: a small file
            # edited a few thousand times since is measured before it goes by URL.
            def size(doc: SvgDocument) -> int:
                bound = doc.size_bound
                return doc.measured_size() if bound <= MEASURED_UP_TO else bound

            inline, fetched = P.inline_split(_counted(files, size), limit)
        return (
            {path: files[path].render() for path in inline},
            {path: raw_url(session_id, path) for path in fetched},
        )

    def leave(self, conn: Conn) -> None:
        """``conn`` is no longer in a room (it may join another)."""
        room = conn.room
        if room is None:
            return
        conn.room = None
        room.clients.discard(conn)
        room.last_used = time.monotonic()
        if conn.user_id is not None:
            room.presence.leave(conn.user_id, time.time())
            if not self.rt.stopping:
                self.commit.presence_soon(room)


MEASURED_UP_TO = 1024 * 1024
"""A file whose size bound is at most this is rendered to learn its size exactly before
a welcome names it by URL (four times the default inline limit; milliseconds)."""


def _counted(
    files: Mapping[str, SvgDocument], size: Callable[[SvgDocument], int]
) -> dict[str, int]:
    """What each file costs a welcome: ``document.svg`` twice (its ``svg`` repeats it)."""
    sizes = {path: size(doc) for path, doc in files.items()}
    if "document.svg" in sizes:
        sizes["document.svg"] *= 2
    return sizes


def detached_notice(room: Room) -> dict[str, Any]:
    live = room.live
    return P.head_detached(live.name, live.branch, room.document.head_version(), live.seq)
