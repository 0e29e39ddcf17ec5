"""An outside save, from the bytes on disk to the live session.

One file of a group is read once, as it is then, and judged against its base with
:func:`~svgx_sync.core.external.external_change`; what that returns is carried into the
live session with :func:`~svgx_sync.core.external_merge.apply_change`. Around that,
this module does what needs the disk, git, the clock or the daemon: it picks the base
(our last write; the version git replaced, kept first on our own ref; or, for a save
from a copy loaded several writes ago, the recent version it was most likely made
from), lets an incomplete file wait out its grace, announces a file that is not taken
in once, and makes a version before a save that drops ids or the model.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from ...core import protocol
from ...core.external import (
    ExternalChange,
    Fingerprint,
    Outcome,
    base_after_head_move,
    closest_version,
    content_id,
    element_fingerprint,
    element_ids,
    external_change,
    judged_again,
    loss_message,
    made_from_newest,
    settle_incomplete,
    unread_changes,
)
from ...core.external_merge import apply_change, report_unread
from ...core.session import LiveDocument
from ...core.session import Outcome as Submitted
from ...core.svgdoc import SvgDocument
from ...errors import DocumentError
from ...git.store import Document
from ...git.worktree import blob_id
from .documents import DocState
from .head import HeadWatch
from .target import WatchSettings, WatchTarget

__all__ = ["OutsideSaves"]

log = logging.getLogger(__name__)

FINGERPRINTS_KEPT = 12
"""Element fingerprints remembered (by content id) for picking the base of a save: the
recent versions of a file (at most ``MAX_VERSIONS`` of :mod:`svgx_sync.durable.bases`)
and the save, with a few to spare; each costs 8 bytes per attribute of the drawing."""


class OutsideSaves:
    """Judges the files of a group one by one and carries them into the live session."""

    def __init__(
        self,
        target: WatchTarget,
        settings: WatchSettings,
        head: HeadWatch,
        again: Callable[[str, set[str]], Awaitable[None]],
    ) -> None:
        self.target = target
        self.settings = settings
        self.head = head
        self._again = again  # judge these files of a document again (after a grace)
        # content id -> element_fingerprint, element_ids
        self._fingerprints: dict[str, Fingerprint | None] = {}
        self._element_ids: dict[str, Fingerprint | None] = {}

    async def file_changed(
        self,
        doc: Document,
        state: DocState,
        live: LiveDocument,
        file: str,
        old_files: Mapping[str, bytes] | None,
    ) -> tuple[list[Submitted], list[dict[str, Any]], bool]:
        """Judge one file; returns the outcomes, the messages, and whether its base changed.

        ``old_files`` are the files of the version HEAD was on before a rewind."""
        disk = _read(doc.path, file)
        held, notices = self.head.hold_conflict(doc, live, file, disk)
        if held:
            return [], notices, False
        if disk is not None and disk == live.last_written.get(file):
            state.settled(file)
            return [], notices, False
        base, base_seq, newest, change = await self._base(doc, state, live, file, disk, old_files)
        change = self._settle(doc.name, state, file, disk, change)
        if change.outcome is Outcome.REJECTED:
            return [], notices + self._rejected(doc.name, state, live, file, disk, change), False
        if change.outcome is not Outcome.WAIT:
            state.settled(file)
        lost: list[dict[str, Any]] = []
        if change.loss is not None:
            lost.append(await self._version_before_loss(doc, state, live, change))
        outcomes, rebased = await self._take(live, change, base, base_seq, newest, disk)
        return outcomes, notices + lost, rebased

    async def _base(
        self,
        doc: Document,
        state: DocState,
        live: LiveDocument,
        file: str,
        disk: bytes | None,
        old_files: Mapping[str, bytes] | None,
    ) -> tuple[bytes | None, int | None, bytes | None, ExternalChange]:
        """The base to judge ``disk`` from, the ``seq`` it stands at (None: the base's
        own), the latest write when the save reads as made from an older version, and
        ``disk`` judged from that base."""
        base = live.last_written.get(file)
        # Whether git's index holds the bytes (hashing them is not free: asked once).
        held = disk is not None and doc.index_holds(file, await asyncio.to_thread(blob_id, disk))
        versions = (
            (old_files.get(file), self.head.files(doc, state).get(file))
            if old_files is not None
            else self.head.git_wrote(doc, state, file, disk, held=held)
        )
        if versions is not None:
            moved = base_after_head_move(base, versions[0], versions[1], disk)
            if moved is base:
                return base, None, None, await self._judge(doc, live, file, base, disk)
            # git replaced live work that is in no version (reset --hard, checkout -f):
            # keep it on our own ref, replay only what git changed between the two
            # versions, and count every live edit since the load as concurrent, so that
            # overlaps are reported as conflicts.
            kept = self.target.keep_live_state(doc.name, f"before git replaced {file}")
            log.info("watcher: git replaced live work in %s/%s; kept on %s", doc.name, file, kept)
            state.rewound_from.pop(file, None)
            return moved, 0, None, await self._judge(doc, live, file, moved, disk)
        change = await self._judge(doc, live, file, base, disk)
        if disk is None or base is None or held:
            return base, None, None, change  # git's own versions are judged from our last write
        if change.outcome in (Outcome.WAIT, Outcome.REJECTED):
            return base, None, None, change  # nothing is taken in: the base does not matter
        # The version the saving program most likely loaded, of the recent ones: the
        # latest write, unless the elements the save changed say otherwise.
        candidates = [(base, live.base_seq(file))] + [
            v for v in await self.target.written_versions(doc.name, file) if v[0] != base
        ]
        known = [data for data, _ in candidates]
        if len(candidates) > 1 and not await asyncio.to_thread(
            made_from_newest, change, disk, known, self._ids
        ):
            chosen = await asyncio.to_thread(closest_version, disk, known, self._fingerprint)
            if chosen:
                older, seq = candidates[chosen]
                log.debug(
                    "watcher: %s/%s saved from an older version (seq %d)", doc.name, file, seq
                )
                return older, seq, base, await self._judge(doc, live, file, older, disk)
        return base, None, None, change

    async def _judge(
        self, doc: Document, live: LiveDocument, file: str, base: bytes | None, disk: bytes | None
    ) -> ExternalChange:
        current = live.files.get(file)
        ours = current.to_bytes() if current is not None else None
        seq_before = live.seq
        change = await asyncio.to_thread(external_change, base, ours, disk, file)
        if live.seq != seq_before:
            # Live operations arrived while the file was compared: judge it again for
            # the live state now, on the loop, where nothing comes in between (most of
            # the judgment does not read the live state and is not done again).
            ours = live.files[file].to_bytes() if file in live.files else None
            change = judged_again(change, base, ours, disk) or external_change(
                base, ours, disk, file
            )
        log.debug("watcher: %s/%s: %s (%s)", doc.name, file, change.outcome.value, change.reason)
        return change

    async def _take(
        self,
        live: LiveDocument,
        change: ExternalChange,
        base: bytes | None,
        base_seq: int | None,
        newest: bytes | None,
        disk: bytes | None,
    ) -> tuple[list[Submitted], bool]:
        """Carry ``change`` into the live session, with what a save read as a stale copy
        leaves out; returns the outcomes and whether the file's base changed."""
        file = change.file
        unread: list[dict[str, Any]] = []
        if (
            newest is not None
            and disk is not None
            and change.outcome in (Outcome.OPERATIONS, Outcome.IGNORE)
        ):
            assert base is not None
            unread = await asyncio.to_thread(
                unread_changes, newest, base, disk, file, change.operations
            )
        before = live.last_written.get(file)
        own_after, seen_seq = live.seq, live.base_seq(file) if base_seq is None else base_seq
        outcomes = apply_change(
            live, change, base=base, disk=disk, now=time.time(), base_seq=base_seq, read_later=True
        )
        if unread:
            outcomes += report_unread(live, file, unread, base_seq=seen_seq, own_after=own_after)
        return outcomes, live.last_written.get(file) is not before

    async def read_taken(self, live: LiveDocument) -> bool:
        """Read the text of every save taken in that waits to be read (see
        :meth:`~svgx_sync.core.session.LiveDocument.outside_save_taken`), each in a
        worker thread, and let the session take it; whether one of those files has live
        edits made meanwhile to write back (held back while it waited, taken or not)."""
        write_back = False
        for file, pending in list(live.unread.items()):
            try:
                parsed = await asyncio.to_thread(SvgDocument.mapped, pending.data, name=file)
            except DocumentError as exc:  # it was read as a whole SVG file moments ago
                log.warning("watcher: %s/%s not read again: %s", live.name, file, exc)
                live.unread.pop(file, None)
                continue
            live.read_taken(file, pending, parsed)
            write_back = write_back or file in live.dirty
        return write_back

    def _fingerprint(self, data: bytes) -> Fingerprint | None:
        """:func:`element_fingerprint`, remembered for the last few versions."""
        return _remembered(self._fingerprints, element_fingerprint, data)

    def _ids(self, data: bytes) -> Fingerprint | None:
        """:func:`element_ids`, remembered for the last few versions."""
        return _remembered(self._element_ids, element_ids, data)

    def _settle(
        self, name: str, state: DocState, file: str, disk: bytes | None, change: ExternalChange
    ) -> ExternalChange:
        """An incomplete file waits, and is looked at again once its grace is over."""
        if change.outcome is not Outcome.WAIT or disk is None:
            return change
        digest, now = _digest(disk), time.monotonic()
        seen = state.waiting.get(file)
        if seen is None or seen[0] != digest:
            seen = state.waiting[file] = (digest, now)
        grace = self.settings.incomplete_grace_s
        settled = settle_incomplete(change, first_seen=seen[1], now=now, grace_s=grace)
        if settled.outcome is Outcome.WAIT and file not in state.rechecks:

            async def again() -> None:
                await asyncio.sleep(max(seen[1] + grace - time.monotonic(), 0.0))  # the grace
                state.rechecks.pop(file, None)
                await self._again(name, {file})

            state.rechecks[file] = asyncio.create_task(again())
        return settled

    @staticmethod
    def _rejected(
        name: str,
        state: DocState,
        live: LiveDocument,
        file: str,
        disk: bytes | None,
        change: ExternalChange,
    ) -> list[dict[str, Any]]:
        """Log and announce a file that is not taken in, once for the same bytes."""
        digest = _digest(disk or b"")
        state.waiting.pop(file, None)
        if state.announced.get(file) == digest:
            return []
        state.announced[file] = digest
        log.warning("watcher: %s/%s is not taken in: %s", name, file, change.reason)
        return [protocol.file_rejected(name, file, change.reason, live.seq)]

    async def _version_before_loss(
        self, doc: Document, state: DocState, live: LiveDocument, change: ExternalChange
    ) -> dict[str, Any]:
        """Version the live state before a save that drops ids or the model is merged
        in; returns the warning for the clients, naming the loss and the version."""
        loss = change.loss
        assert loss is not None
        version = self.target.version_before_loss(doc.name, loss_message(change.file, loss))
        self.head.remember(doc, state)
        log.warning(
            "watcher: an outside save of %s/%s dropped %s; the state before is version %s",
            doc.name,
            change.file,
            loss.summary(),
            version,
        )
        return protocol.external_loss(doc.name, change.file, loss, version, live.seq)


def _read(folder: Path, file: str) -> bytes | None:
    path = folder.joinpath(*PurePosixPath(file).parts)
    try:
        if path.is_symlink():
            return None
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


_REMEMBERING = threading.Lock()  # the caches are filled from worker threads


def _remembered(
    cache: dict[str, Fingerprint | None],
    compute: Callable[[bytes], Fingerprint | None],
    data: bytes,
) -> Fingerprint | None:
    """``compute(data)``, kept for the last :data:`FINGERPRINTS_KEPT` contents."""
    key = content_id(data)
    with _REMEMBERING:
        if key in cache:
            return cache[key]
    value = compute(data)
    with _REMEMBERING:
        while len(cache) >= FINGERPRINTS_KEPT:
            cache.pop(next(iter(cache)))
        cache[key] = value
    return value
