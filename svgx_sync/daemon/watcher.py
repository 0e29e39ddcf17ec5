"""The file watcher: brings other programs' saves and the git command's work to live editors.

A shell over :mod:`watchfiles` (one ``awatch`` over the store's root). The rules are in
:mod:`svgx_sync.core.external`; this module reads files and refs, asks those rules, submits
what they return to the live session and hands the results to the daemon to journal
and broadcast. What it watches, per document folder:

- ``*.svg`` in the working tree (not hidden, not in a hidden folder): an external save,
  a new file or a deleted one;
- ``.git/HEAD``, ``.git/refs/**`` (except ``refs/svgx/**``, the daemon's own refs) and
  ``.git/packed-refs``: a commit, checkout, reset, revert, merge or pull made with git.

Everything else (``.git/objects``, the daemon's temporary files ``.name.xxxx.tmp``, its
journal under ``.git/svgx/``) is filtered out. watchfiles groups the changes of a burst
(``step_ms`` of quiet or at most ``debounce_ms``), and each file is read once per group,
as it is then, so an editor saving many times a second costs one merge per group.

While git holds ``index.lock`` or a ref's ``.lock`` in a document, that document is left
alone and looked at again with backoff: git is half-way through changing it. The lock is
never touched. Nothing the daemon acknowledged is lost meanwhile: live operations keep
being accepted and journaled by the daemon; the watcher only adds the external ones.

The daemon is reached through :class:`WatchTarget`, a small protocol made of public
methods of :class:`svgx_sync.daemon.server.Daemon`, so the watcher needs none of its internals.
What a judged change does to the live session is :mod:`svgx_sync.core.external_merge`,
which also judges, for a session just loaded, what happened to the working tree while
the daemon was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, runtime_checkable

import pygit2
from watchfiles import Change, awatch

from ..core import protocol
from ..core.external import (
    Checkout,
    ExternalChange,
    Fingerprint,
    HeadMove,
    HeadState,
    Outcome,
    auto_version_due,
    auto_version_message,
    base_after_head_move,
    classify_head_move,
    closest_version,
    content_id,
    element_fingerprint,
    external_change,
    git_conflict,
    is_svg_path,
    loss_message,
    settle_incomplete,
    unread_changes,
)
from ..core.external_merge import apply_change, hold_git_conflict, report_unread
from ..core.intake import Verdict, screen_svg
from ..core.session import LiveDocument, version_files
from ..core.session import Outcome as Submitted
from ..errors import (
    ClientError,
    StoreError,
    SvgxError,
)
from ..git.adopt import adopt_folder
from ..git.layout import PRIVATE_REF_NAMESPACE, made_by_daemon
from ..git.names import validate_document_name
from ..git.store import Document, Store

__all__ = ["WatchSettings", "WatchTarget", "Watcher"]

log = logging.getLogger(__name__)

AUTO_VERSION_USER = "auto-version"
READY_PROBE = ".svgx-watch-ready"
"""A file the watcher touches in the root at start-up to know its watch is live."""


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """How the watcher groups changes, waits for git, and makes quiet-period versions."""

    # grouping: a group is yielded after ``step_ms`` without a change, or ``debounce_ms``
    debounce_ms: int = 400
    step_ms: int = 30
    # waiting for git's locks
    lock_first_delay_s: float = 0.02
    lock_max_delay_s: float = 1.0
    # quiet-period versions (None: off)
    auto_version_quiet_s: float | None = None
    # adoption of new sub-folders of the root that hold SVG files
    adopt_new_folders: bool = True
    # polling instead of inotify (network file systems)
    force_polling: bool = False
    # a file left incomplete (its XML end missing) this long, unchanged, is rejected
    incomplete_grace_s: float = 2.0


@runtime_checkable
class WatchTarget(Protocol):
    """What the watcher needs from the daemon (:class:`svgx_sync.daemon.server.Daemon` has it)."""

    def working_tree_session(self, name: str) -> LiveDocument | None:
        """The live session bound to the working tree of document ``name`` (the
        checked-out branch), or None when nobody is editing it."""
        ...

    async def publish_external(
        self,
        name: str,
        outcomes: Sequence[Submitted],
        messages: Sequence[dict[str, Any]],
        bases: Collection[str] = (),
    ) -> None:
        """Journal and broadcast what the session returned for external operations (like
        a client's, without an ack), send ``messages`` to the session's clients, record
        the new ``last_written`` of the files in ``bases``, and write back what the
        merge changed."""
        ...

    def written_versions(self, name: str, file: str) -> list[tuple[bytes, int]]:
        """The recent versions of ``file`` the daemon recorded (bytes and ``seq``,
        newest first): the candidates for the base of a save."""
        ...

    def writing_files(self, name: str) -> bool:
        """A write of document ``name``'s files is under way (its bytes are already
        ``last_written`` but not yet all on disk): look again shortly."""
        ...

    def follow_checkout(self, name: str, old: str | None, new: str | None) -> Checkout:
        """git moved HEAD of document ``name`` from branch ``old`` to ``new`` (None:
        detached): carry out :func:`~svgx_sync.core.external.checkout_sessions` (a session
        parked or taking the working tree, its live state written out, clients moved
        or told ``head_detached``) and return it."""
        ...

    def keep_live_state(self, name: str, reason: str) -> str | None:
        """Commit the live state of document ``name``'s working-tree session to
        ``refs/svgx/kept/<branch>`` before git's forced change is merged into it;
        returns the ref, or None when it could not be kept."""
        ...

    def version_before_loss(self, name: str, description: str) -> str | None:
        """Make a version (a commit on the branch, by svgx_sync) of the live state of
        document ``name``'s working-tree session before an outside save that drops ids
        or the model is merged in; returns its id, or None when it could not be made."""
        ...


@dataclass(slots=True)
class _DocState:
    head: HeadState | None = None
    head_files: dict[str, bytes] | None = None  # the files of ``head``; None: not read yet
    rewound_from: dict[str, bytes] = field(default_factory=dict)
    last_change: float | None = None
    last_version: float | None = None
    pending: set[str] = field(default_factory=set)
    retry: asyncio.Task[None] | None = None
    delay: float = 0.0
    # incomplete files: file -> (digest, when first seen with these bytes)
    waiting: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    rechecks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # rejected files already announced: file -> digest of the bytes announced
    announced: dict[str, bytes] = field(default_factory=dict)


class Watcher:
    """Watches a store's root for the daemon; ``start`` and ``stop`` from the event loop."""

    def __init__(
        self, target: WatchTarget, root: Path, settings: WatchSettings | None = None
    ) -> None:
        self.target = target
        self.root = Path(root).absolute()
        self.settings = settings or WatchSettings()
        self.store = Store(self.root)
        self._docs: dict[str, _DocState] = {}
        self._documents: dict[str, Document] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._auto_task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._batches = 0
        self._fingerprints: dict[str, Fingerprint | None] = {}  # content id -> fingerprint
        self.handled = 0
        """Groups of changes handled so far (for tests and status)."""
        self.notified = 0
        """Requests to look at a document now (``/notify``, from git hooks) so far."""

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Begin watching; returns once the watch is set up."""
        for name in self.store.names():
            self._remember_head(name)
        self._stop.clear()
        self._ready.clear()
        self._task = asyncio.create_task(self._run(), name="svgx-watcher")
        if self.settings.auto_version_quiet_s:
            self._auto_task = asyncio.create_task(self._auto_versions(), name="svgx-autoversion")
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
        rechecks = [t for s in self._docs.values() for t in s.rechecks.values()]
        for task in [
            self._task,
            self._auto_task,
            *(s.retry for s in self._docs.values()),
            *rechecks,
        ]:
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
                by_doc: dict[str, set[str]] = {}
                for _, path in changes:
                    rel = Path(path).relative_to(self.root).parts
                    if len(rel) < 2:
                        self._ready.set()
                        continue
                    by_doc.setdefault(rel[0], set()).add("/".join(rel[1:]))
                for name, paths in sorted(by_doc.items()):
                    try:
                        await self._handle(name, paths)
                    except Exception:  # one document's failure must not stop the watch
                        log.exception("watcher: cannot handle changes in %s", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("watcher stopped")

    # -- one document ----------------------------------------------------------------

    def _state(self, name: str) -> _DocState:
        return self._docs.setdefault(name, _DocState())

    def _document(self, name: str) -> Document | None:
        doc = self._documents.get(name)
        if doc is None:
            folder = self.root / name
            if not (folder / ".git").exists():
                if not self.settings.adopt_new_folders:
                    return None
                try:
                    doc = adopt_folder(folder)
                except (ClientError, SvgxError) as exc:
                    log.debug("watcher: %s is not a document (%s)", folder, exc)
                    return None
            else:
                try:
                    doc = self.store.open(name)
                except SvgxError as exc:
                    log.debug("watcher: cannot open %s: %s", name, exc)
                    return None
            self._documents[name] = doc
        return doc

    def _locked(self, doc: Document) -> bool:
        git_dir = Path(doc.repo.path)
        if (git_dir / "index.lock").exists() or (git_dir / "HEAD.lock").exists():
            return True
        refs = git_dir / "refs" / "heads"
        return (git_dir / "packed-refs.lock").exists() or any(refs.rglob("*.lock"))

    def _schedule_retry(self, name: str) -> None:
        state = self._state(name)
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
        doc = self._document(name)
        if doc is None:
            return
        state = self._state(name)
        state.pending |= {p for p in paths if is_svg_path(p)}
        for folder in (p for p in paths if p and (doc.path / p).is_dir()):
            state.pending |= {
                f.relative_to(doc.path).as_posix()
                for f in (doc.path / folder).rglob("*.svg")
                if is_svg_path(f.relative_to(doc.path).as_posix())
            }
        if self._locked(doc) or self.target.writing_files(name):
            log.debug("watcher: git holds a lock in %s, or the daemon writes; waiting", name)
            self._schedule_retry(name)
            return
        state.delay = 0.0
        files, state.pending = state.pending, set()
        messages: list[dict[str, Any]] = []
        outcomes: list[Submitted] = []
        old_files: dict[str, bytes] | None = None
        new_head = self._read_head(doc)
        if state.head is None:
            # First sight of a document made since the watch began (a join created it, a
            # folder was adopted): where its HEAD is now is where it starts, not a move.
            state.head = new_head
        elif new_head is not None and new_head != state.head:
            old_files, head_messages = self._head_moved(doc, state, new_head)
            messages += head_messages
            everything = True
        live = self.target.working_tree_session(name)
        if everything:
            files |= set(doc.svg_paths()) | (set(live.files) if live is not None else set())
            files |= set(old_files or ()) | set(self._head_files(doc, state))
        if live is not None:
            # `git add` or `git commit` may have settled them without touching the file.
            files |= set(live.held)
        if files:
            state.last_change = time.monotonic()
        bases: set[str] = set()
        if live is not None:
            for file in sorted(files):
                o, m, changed = await self._file_changed(doc, state, live, file, old_files)
                outcomes += o
                messages += m
                if changed:
                    bases.add(file)
        self.handled += 1
        if outcomes or messages or bases:
            await self.target.publish_external(name, outcomes, messages, bases)

    # -- git -------------------------------------------------------------------------

    def _read_head(self, doc: Document) -> HeadState | None:
        try:
            return HeadState(doc.head_branch(), doc.head_version())
        except StoreError as exc:
            log.debug("watcher: cannot read HEAD of %s (%s)", doc.name, exc)
            return None

    def _remember_head(self, name: str) -> None:
        doc = self._document(name)
        if doc is None:
            return
        self._state(name).head = self._read_head(doc)

    def _head_files(self, doc: Document, state: _DocState) -> dict[str, bytes]:
        """The SVG files of the commit HEAD was last seen at, read when first needed."""
        if state.head_files is None:
            state.head_files = self._tree(doc, state.head)
        return state.head_files

    def _tree(self, doc: Document, head: HeadState | None) -> dict[str, bytes]:
        if head is None or head.commit is None:
            return {}
        try:
            return doc.svg_files(head.commit)
        except SvgxError:
            return {}

    def _head_moved(
        self, doc: Document, state: _DocState, new: HeadState
    ) -> tuple[dict[str, bytes] | None, list[dict[str, Any]]]:
        """Note what git did to HEAD; returns the old version's files after a rewind
        (None otherwise) and the notices."""
        old = state.head or HeadState(None, None)
        descends = False
        if old.commit and new.commit:
            try:
                descends = old.commit == new.commit or doc.repo.descendant_of(
                    new.commit, old.commit
                )
            except (pygit2.GitError, KeyError, ValueError):
                descends = False
        move = classify_head_move(old, new, descends=descends)
        # Only a rewind (reset --hard, checkout -f, amend) can have replaced live work git
        # saw as uncommitted; git refuses to overwrite it otherwise. After a switch another
        # branch's session owns the working tree and was written out when the switch was
        # noticed.
        old_files = self._head_files(doc, state) if move is HeadMove.REWIND else None
        state.head, state.head_files = new, None
        # A rewind may move HEAD before git rewrites the files (reset --soft, then
        # checkout -f): those files are judged against the version they were on.
        state.rewound_from = old_files or {}
        checkout = None
        if move is HeadMove.SWITCH or (new.branch is None and move is not HeadMove.NONE):
            # Another branch's session takes the working tree, or HEAD is detached (or
            # moved while detached) and the branch's session is parked.
            checkout = self.target.follow_checkout(doc.name, old.branch, new.branch)
        live = self.target.working_tree_session(doc.name)
        seq = live.seq if live is not None else None
        messages: list[dict[str, Any]] = []
        if checkout is not None and checkout.takes is None:
            pass  # the parked session's clients were told by the daemon: head_detached
        elif move is HeadMove.COMMITS and new.commit:
            for commit in self._new_commits(doc, old.commit, new.commit):
                if made_by_daemon(commit):
                    continue  # the daemon announced its own versions already
                messages.append(_version_notice(commit, seq))
        elif move is not HeadMove.NONE:
            messages.append(
                {
                    "type": checkout.notice if checkout is not None else "head_moved",
                    "document": doc.name,
                    "branch": new.branch,
                    "previous_branch": checkout.leaves if checkout is not None else old.branch,
                    "version_id": new.commit,
                    "previous_version_id": old.commit,
                    "source": "git",
                    "seq": seq,
                }
            )
            if new.commit and move is HeadMove.REWIND:
                rewound = doc.repo.get(new.commit)
                if isinstance(rewound, pygit2.Commit) and not made_by_daemon(rewound):
                    messages.append(_version_notice(rewound, seq))
        log.info("watcher: %s HEAD %s (%s -> %s)", doc.name, move.value, old, new)
        return old_files, messages

    def _new_commits(self, doc: Document, old: str | None, new: str) -> list[pygit2.Commit]:
        walker = doc.repo.walk(
            new, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE
        )
        if old:
            with contextlib.suppress(pygit2.GitError, KeyError, ValueError):
                walker.hide(old)
        return list(walker)[-100:]

    # -- files -----------------------------------------------------------------------

    async def _file_changed(
        self,
        doc: Document,
        state: _DocState,
        live: LiveDocument,
        file: str,
        old_files: Mapping[str, bytes] | None,
    ) -> tuple[list[Submitted], list[dict[str, Any]], bool]:
        """Judge one file; returns the outcomes, the messages, and whether its base changed."""
        disk = _read(doc.path, file)
        held, notices = self._hold_git_conflict(doc, live, file, disk)
        if held:
            return [], notices, False
        base = live.last_written.get(file)
        if disk is not None and disk == base:
            state.waiting.pop(file, None)
            state.announced.pop(file, None)
            return [], notices, False
        versions = (
            (old_files.get(file), self._head_files(doc, state).get(file))
            if old_files is not None
            else self._git_wrote(doc, state, file, disk)
        )
        base_seq = None
        if versions is not None:
            moved = base_after_head_move(base, versions[0], versions[1], disk)
            if moved is not base:
                # git replaced live work that is in no version (reset --hard, checkout
                # -f): keep it on our own ref, replay only what git changed between the
                # two versions, and count every live edit since the load as concurrent,
                # so that overlaps are reported as conflicts.
                kept = self.target.keep_live_state(doc.name, f"before git replaced {file}")
                log.info(
                    "watcher: git replaced live work in %s/%s; kept on %s", doc.name, file, kept
                )
                base, base_seq = moved, 0
                state.rewound_from.pop(file, None)
        current = live.files.get(file)
        ours = current.to_bytes() if current is not None else None
        seq_before = live.seq
        newest: bytes | None = (
            None  # the latest write, when the save reads as made from an older one
        )
        if (
            versions is None
            and disk is not None
            and base is not None
            and not doc.index_holds(file, disk)
        ):
            # The version the saving program most likely loaded, of the recent ones (not
            # for what git wrote: git's own versions are judged from our last write).
            candidates = [(base, live.base_seq(file))] + [
                v for v in self.target.written_versions(doc.name, file) if v[0] != base
            ]
            if len(candidates) > 1:
                chosen = await asyncio.to_thread(
                    closest_version, disk, [data for data, _ in candidates], self._fingerprint
                )
                if chosen:
                    newest = base
                    base, base_seq = candidates[chosen]
                    log.debug(
                        "watcher: %s/%s saved from an older version (seq %d)",
                        doc.name,
                        file,
                        base_seq,
                    )
        change = await asyncio.to_thread(external_change, base, ours, disk, file)
        if live.seq != seq_before:
            # Live operations arrived while the file was compared: judge it again.
            ours = live.files[file].to_bytes() if file in live.files else None
            change = external_change(base, ours, disk, file)
        log.debug("watcher: %s/%s: %s (%s)", doc.name, file, change.outcome.value, change.reason)
        change = self._settle(doc.name, state, file, disk, change)
        if change.outcome is Outcome.REJECTED:
            return [], notices + self._rejected(doc.name, state, live, file, disk, change), False
        if change.outcome is not Outcome.WAIT:
            state.waiting.pop(file, None)
            state.announced.pop(file, None)
        lost: list[dict[str, Any]] = []
        if change.loss is not None:
            lost.append(await self._version_before_loss(doc, state, live, change))
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
            live, change, base=base, disk=disk, now=time.time(), base_seq=base_seq
        )
        if unread:
            outcomes += report_unread(live, file, unread, base_seq=seen_seq, own_after=own_after)
        return outcomes, notices + lost, live.last_written.get(file) is not before

    def _hold_git_conflict(
        self, doc: Document, live: LiveDocument, file: str, disk: bytes | None
    ) -> tuple[bool, list[dict[str, Any]]]:
        """Hold ``file`` while git has a merge conflict in it (nothing of it is taken in,
        the daemon does not write it) and release it once settled; returns whether it is
        held and what to tell the clients."""
        try:
            unmerged = file in doc.unmerged_paths()
        except StoreError as exc:
            log.warning("watcher: %s", exc)
            unmerged = False
        return hold_git_conflict(live, file, git_conflict(disk, unmerged=unmerged))

    def _fingerprint(self, data: bytes) -> Fingerprint | None:
        """:func:`element_fingerprint`, remembered for the last few versions."""
        key = content_id(data)
        if key not in self._fingerprints:
            if len(self._fingerprints) >= 32:
                self._fingerprints.pop(next(iter(self._fingerprints)))
            self._fingerprints[key] = element_fingerprint(data)
        return self._fingerprints[key]

    def _settle(
        self, name: str, state: _DocState, file: str, disk: bytes | None, change: ExternalChange
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
                await self._handle(name, {file})

            state.rechecks[file] = asyncio.create_task(again())
        return settled

    def _rejected(
        self,
        name: str,
        state: _DocState,
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
        self, doc: Document, state: _DocState, live: LiveDocument, change: ExternalChange
    ) -> dict[str, Any]:
        """Version the live state before a save that drops ids or the model is merged
        in; returns the warning for the clients, naming the loss and the version."""
        loss = change.loss
        assert loss is not None
        version = self.target.version_before_loss(doc.name, loss_message(change.file, loss))
        state.head, state.head_files = self._read_head(doc), None
        log.warning(
            "watcher: an outside save of %s/%s dropped %s; the state before is version %s",
            doc.name,
            change.file,
            loss.summary(),
            version,
        )
        return protocol.external_loss(doc.name, change.file, loss, version, live.seq)

    def _git_wrote(
        self, doc: Document, state: _DocState, file: str, disk: bytes | None
    ) -> tuple[bytes | None, bytes | None] | None:
        """When git itself wrote ``file`` (its index holds exactly these bytes) with a
        version other than the one HEAD was known at: the old and the new version.

        This does not wait for HEAD: git rewrites the files before it moves the ref, and
        the two may reach the watcher in separate groups, in either order.
        """
        if disk is None or not doc.index_holds(file, disk):
            return None
        known = self._head_files(doc, state).get(file)
        if disk != known:
            return known, disk
        previous = state.rewound_from.get(file)
        if previous is not None and previous != disk:
            return previous, disk
        return None

    # -- quiet-period versions -------------------------------------------------------

    async def _auto_versions(self) -> None:
        quiet = self.settings.auto_version_quiet_s
        assert quiet
        while not self._stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=max(quiet / 4, 0.05))
            now = time.monotonic()
            for name, state in list(self._docs.items()):
                if auto_version_due(
                    quiet_s=quiet,
                    last_change=state.last_change,
                    last_version=state.last_version,
                    now=now,
                ):
                    state.last_version = now
                    try:
                        await self._auto_version(name)
                    except SvgxError as exc:
                        log.warning("auto-version of %s failed: %s", name, exc)

    async def _auto_version(self, name: str) -> None:
        doc = self._document(name)
        if doc is None or self._locked(doc):
            return
        state = self._state(name)
        head = self._read_head(doc)
        committed = self._head_files(doc, state) if head == state.head else self._tree(doc, head)
        # A live session's state is the truth; the disk may lag it by a debounced write.
        live = self.target.working_tree_session(name)
        current = live.contents() if live is not None else _svg_files_or_committed(doc, committed)
        changed = {
            p: d for p, d in version_files(current, committed).items() if committed.get(p) != d
        }
        if not changed:
            return
        version = doc.commit(
            changed,
            user_id=AUTO_VERSION_USER,
            username="svgx_sync",
            description=auto_version_message(changed),
        )
        state.head, state.head_files = self._read_head(doc), None
        if live is not None:
            notice = protocol.version_created(
                version, auto_version_message(changed), "svgx_sync", live.seq, auto=True
            )
            await self.target.publish_external(name, [], [notice])


# -- helpers ---------------------------------------------------------------------------


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


def _svg_files_or_committed(doc: Document, committed: Mapping[str, bytes]) -> dict[str, bytes]:
    """The working tree's SVG files, a file that is not one standing for its committed
    version (or left out): bytes that are not SVG are never versioned."""
    out: dict[str, bytes] = {}
    for path, data in doc.svg_files().items():
        if screen_svg(data).verdict is Verdict.SVG:
            out[path] = data
        elif path in committed:
            out[path] = committed[path]
    return out


def _version_notice(commit: pygit2.Commit, seq: int | None) -> dict[str, Any]:
    return protocol.version_created(
        str(commit.id), commit.message.strip(), commit.author.name, seq, source="git"
    )
