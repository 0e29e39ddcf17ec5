"""The watch loop: one ``awatch`` over the store's root, its changes grouped per document.

Each group of a document is judged in one pass (:meth:`Watcher._handle`): first git's
side (HEAD moved?), then each file changed, new, deleted or held, and what comes out of
it all is handed to the daemon at once (``publish_external``). While git holds a lock in
the document, or the daemon is writing its files, the paths wait and are looked at
again with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from watchfiles import Change, awatch

from ...core.external import is_svg_path
from ...core.session import LiveDocument
from ...core.session import Outcome as Submitted
from ...errors import ClientError
from ...git.layout import PRIVATE_REF_NAMESPACE
from ...git.names import validate_document_name
from ...git.store import Document, Store
from .. import memory
from .autoversion import AutoVersions
from .documents import DocState, Documents
from .head import HeadWatch, git_is_busy
from .saves import OutsideSaves
from .target import WatchSettings, WatchTarget

__all__ = ["READY_PROBE", "Watcher"]

log = logging.getLogger(__name__)

READY_PROBE = ".svgx-watch-ready"
"""A file the watcher touches in the root at start-up to know its watch is live."""


class Watcher:
    """Watches a store's root for the daemon; ``start`` and ``stop`` from the event loop."""

    def __init__(
        self, target: WatchTarget, root: Path, settings: WatchSettings | None = None
    ) -> None:
        self.target = target
        self.root = Path(root).absolute()
        self.settings = settings or WatchSettings()
        self.store = Store(self.root)
        self.documents = Documents(self.store, adopt_new_folders=self.settings.adopt_new_folders)
        self.head = HeadWatch(target)
        self.saves = OutsideSaves(target, self.settings, self.head, self._handle)
        quiet = self.settings.auto_version_quiet_s
        self.versions = AutoVersions(target, self.documents, self.head, quiet) if quiet else None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._auto_task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.handled = 0
        """Groups of changes handled so far (for tests and status)."""
        self.notified = 0
        """Requests to look at a document now (``/notify``, from git hooks) so far."""

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Begin watching; returns once the watch is set up."""
        for name in self.store.names():
            doc = self.documents.open(name)
            if doc is not None:
                self.head.remember(doc, self.documents.state(name))
        self._stop.clear()
        self._ready.clear()
        self._task = asyncio.create_task(self._run(), name="svgx-watcher")
        if self.versions is not None:
            self._auto_task = asyncio.create_task(
                self.versions.run(self._stop), name="svgx-autoversion"
            )
        # watchfiles has no "ready" signal: touch a probe until the watch reports it, so
        # that no change made after start() returns can be missed.
        probe = self.root / READY_PROBE
        deadline = time.monotonic() + 10
        try:
            while not self._ready.is_set() and time.monotonic() < deadline:
                probe.write_bytes(str(time.monotonic()).encode())
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._ready.wait(), 0.2)
        finally:
            probe.unlink(missing_ok=True)
        if not self._ready.is_set():
            log.warning("watcher: the watch on %s did not report ready", self.root)

    async def stop(self) -> None:
        """Stop watching and cancel pending retries."""
        self._stop.set()
        scheduled = [t for s in self.documents.states.values() for t in s.tasks()]
        for task in [self._task, self._auto_task, *scheduled]:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._auto_task = None

    async def recheck(self, name: str, files: Collection[str]) -> None:
        """Judge ``files`` of document ``name`` now (a write found them changed)."""
        await self._handle(name, set(files))

    async def poke(self, name: str) -> None:
        """React to document ``name`` now (a git hook asked): refs and every SVG file."""
        validate_document_name(name)
        self.notified += 1
        await self._handle(name, set(), everything=True)

    # -- the watch loop --------------------------------------------------------------

    def _filter(self, change: Change, path: str) -> bool:
        try:
            rel = PurePosixPath(Path(path).relative_to(self.root).as_posix())
        except ValueError:
            return False
        parts = rel.parts
        if len(parts) < 2:
            return parts == (READY_PROBE,) and not self._ready.is_set()
        inner = parts[1:]
        if inner[0] == ".git":
            git = inner[1:]
            if not git:
                return False
            if git == ("HEAD",) or git == ("packed-refs",) or git == ("index.lock",):
                return True
            if git[0] == "refs":
                return len(git) < 2 or git[1] != PRIVATE_REF_NAMESPACE
            return False
        relative = "/".join(inner)
        if change is Change.added and not relative.startswith(".") and Path(path).is_dir():
            # Files written into a new folder before its watch was set up raise no event
            # of their own (inotify); the folder is scanned instead.
            return not any(p.startswith(".") for p in inner)
        return is_svg_path(relative)

    async def _run(self) -> None:
        s = self.settings
        try:
            async for changes in awatch(
                self.root,
                watch_filter=self._filter,
                debounce=s.debounce_ms,
                step=s.step_ms,
                stop_event=self._stop,
                force_polling=s.force_polling or None,
                recursive=True,
                ignore_permission_denied=True,
            ):
                for name, paths in sorted(self._by_document(changes).items()):
                    try:
                        await self._handle(name, paths)
                    except Exception:  # one document's failure must not stop the watch
                        log.exception("watcher: cannot handle changes in %s", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("watcher stopped")

    def _by_document(self, changes: Collection[tuple[Change, str]]) -> dict[str, set[str]]:
        """The changed paths of one group, per document folder (relative to it)."""
        by_doc: dict[str, set[str]] = {}
        for _, path in changes:
            rel = Path(path).relative_to(self.root).parts
            if len(rel) < 2:
                self._ready.set()
                continue
            by_doc.setdefault(rel[0], set()).add("/".join(rel[1:]))
        return by_doc

    # -- one document ----------------------------------------------------------------

    def _schedule_retry(self, name: str, state: DocState) -> None:
        if state.retry is not None and not state.retry.done():
            return
        s = self.settings
        state.delay = min(max(state.delay * 2, s.lock_first_delay_s), s.lock_max_delay_s)

        async def again() -> None:
            await asyncio.sleep(state.delay)  # backoff while git holds its lock
            state.retry = None
            await self._handle(name, set())

        state.retry = asyncio.create_task(again())

    async def _handle(self, name: str, paths: set[str], *, everything: bool = False) -> None:
        try:
            validate_document_name(name)
        except ClientError:
            return
        doc = self.documents.open(name)
        if doc is None:
            return
        state = self.documents.state(name)
        async with state.judging:  # a look begun meanwhile waits, then finds it all done
            try:
                await self._look(doc, state, name, paths, everything=everything)
            finally:
                live = self.target.working_tree_session(name)
                if live is not None and live.unread:
                    # Not read (an error, the daemon stopping): the trees kept hold the
                    # saves' elements, and are written in their own layout.
                    live.unread.clear()

    async def _look(
        self, doc: Document, state: DocState, name: str, paths: set[str], *, everything: bool
    ) -> None:
        """One look at document ``name``: what changed in ``paths`` (or ``everything``)
        is judged and taken in."""
        state.pending |= _svg_paths(doc, paths)
        if git_is_busy(doc) or self.target.writing_files(name):
            log.debug("watcher: git holds a lock in %s, or the daemon writes; waiting", name)
            self._schedule_retry(name, state)
            return
        state.delay = 0.0
        files, state.pending = state.pending, set()
        messages: list[dict[str, Any]] = []
        old_files: dict[str, bytes] | None = None
        new_head = self.head.read(doc)
        if state.head is None:
            # First sight of a document made since the watch began (a join created it, a
            # folder was adopted): where its HEAD is now is where it starts, not a move.
            state.head = new_head
        elif new_head is not None and new_head != state.head:
            old_files, messages = self.head.moved(doc, state, new_head)
            everything = True
        live = self.target.working_tree_session(name)
        if everything:
            files |= set(doc.svg_paths()) | (set(live.files) if live is not None else set())
            files |= set(old_files or ()) | set(self.head.files(doc, state))
        if live is not None:
            # `git add` or `git commit` may have settled them without touching the file.
            files |= set(live.held)
        if files:
            state.last_change = time.monotonic()
        outcomes, notices, bases = await self._judge(doc, state, live, files, old_files)
        if (outcomes or bases) and live is not None:
            # A save was judged (an echo of our own write is not): the versions parsed
            # for it are gone.
            memory.release_soon(sum(live.files[f].size_bound for f in files if f in live.files))
        self.handled += 1
        if outcomes or messages or notices or bases:
            await self.target.publish_external(name, outcomes, messages + notices, bases)
        if live is not None and live.unread and await self.saves.read_taken(live):
            # Live edits arrived while a save was read: publishing nothing writes them.
            await self.target.publish_external(name, [], [])

    async def _judge(
        self,
        doc: Document,
        state: DocState,
        live: LiveDocument | None,
        files: Collection[str],
        old_files: Mapping[str, bytes] | None,
    ) -> tuple[list[Submitted], list[dict[str, Any]], set[str]]:
        """Judge ``files`` one by one; returns the outcomes, the messages and the files
        whose base changed."""
        outcomes: list[Submitted] = []
        messages: list[dict[str, Any]] = []
        bases: set[str] = set()
        if live is None:
            return outcomes, messages, bases
        for file in sorted(files):
            o, m, rebased = await self.saves.file_changed(doc, state, live, file, old_files)
            outcomes += o
            messages += m
            if rebased:
                bases.add(file)
        return outcomes, messages, bases


def _svg_paths(doc: Document, paths: Collection[str]) -> set[str]:
    """The SVG files among ``paths`` of ``doc``, and those under the folders among them."""
    found = {p for p in paths if is_svg_path(p)}
    for folder in (p for p in paths if p and (doc.path / p).is_dir()):
        found |= {
            f.relative_to(doc.path).as_posix()
            for f in (doc.path / folder).rglob("*.svg")
            if is_svg_path(f.relative_to(doc.path).as_posix())
        }
    return found
