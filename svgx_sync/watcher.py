"""The file watcher: brings other programs' saves and the git command's work to live editors.

A shell over :mod:`watchfiles` (one ``awatch`` over the store's root). The rules are in
:mod:`svgx_sync.external`; this module reads files and refs, asks those rules, submits
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

The daemon is reached through :class:`WatchTarget`, a small protocol, so the watcher runs
against the real daemon or against a small stand-in in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, runtime_checkable

import pygit2
from watchfiles import Change, awatch

from .adopt import adopt_folder
from .errors import ClientError, NotFound, OperationError, SvgxError
from .external import (
    EXTERNAL_USER,
    HeadMove,
    HeadState,
    Outcome,
    auto_version_due,
    auto_version_message,
    base_after_head_move,
    classify_head_move,
    delete_conflict,
    external_change,
    file_delete_decision,
    is_svg_path,
    to_operations,
)
from .names import PRIVATE_REF_NAMESPACE, validate_document_name
from .session import LiveDocument
from .session import Outcome as Submitted
from .store import SYSTEM_EMAIL, USER_EMAIL_DOMAIN, Document, Store
from .svgdoc import SvgDocument

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


@runtime_checkable
class WatchTarget(Protocol):
    """What the watcher needs from the daemon."""

    def live_session(self, name: str) -> LiveDocument | None:
        """The live session bound to the working tree of document ``name`` (the
        checked-out branch), or None when nobody is editing it."""
        ...

    async def publish(
        self, name: str, outcomes: Sequence[Submitted], messages: Sequence[dict[str, Any]]
    ) -> None:
        """Journal and broadcast what the session returned for external operations (like
        a client's, without an ack), then send ``messages`` to the session's clients."""
        ...

    def writing(self, name: str) -> bool:
        """A write of document ``name``'s files is under way (its bytes are already
        ``last_written`` but not yet all on disk): look again shortly."""
        ...

    def branch_switched(self, name: str, old: str | None, new: str) -> None:
        """git checked out branch ``new`` in document ``name``'s working tree: the
        session of ``new`` takes the working tree (its live state is written out) and
        the clients that followed ``old`` follow the working tree to ``new``."""
        ...


@dataclass(slots=True)
class _DocState:
    head: HeadState | None = None
    head_files: dict[str, bytes] = field(default_factory=dict)
    last_change: float | None = None
    last_version: float | None = None
    pending: set[str] = field(default_factory=set)
    retry: asyncio.Task[None] | None = None
    delay: float = 0.0


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
        self.handled = 0
        """Groups of changes handled so far (for tests and status)."""

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
        for task in [self._task, self._auto_task, *(s.retry for s in self._docs.values())]:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._auto_task = None

    async def poke(self, name: str) -> None:
        """React to document ``name`` now (a git hook asked): refs and every SVG file."""
        validate_document_name(name)
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
        if self._locked(doc) or self.target.writing(name):
            log.debug("watcher: git holds a lock in %s, or the daemon writes; waiting", name)
            self._schedule_retry(name)
            return
        state.delay = 0.0
        files, state.pending = state.pending, set()
        messages: list[dict[str, Any]] = []
        outcomes: list[Submitted] = []
        old_files: dict[str, bytes] | None = None
        new_head = self._read_head(doc)
        if new_head is not None and new_head != state.head:
            move, old_files, head_messages = self._head_moved(doc, state, new_head)
            messages += head_messages
            everything = True
            if move is not HeadMove.REWIND:
                # Only a rewind (reset --hard, checkout -f, amend) can have replaced live
                # work git saw as uncommitted; git refuses to overwrite it otherwise. After
                # a switch another branch's session owns the working tree and was written
                # out when the switch was noticed.
                old_files = None
        live = self.target.live_session(name)
        if everything:
            files |= set(doc.svg_files()) | (set(live.files) if live is not None else set())
            files |= set(old_files or ()) | set(state.head_files)
        if files:
            state.last_change = time.monotonic()
        if live is not None:
            for file in sorted(files):
                o, m = await self._file_changed(doc, live, file, old_files, state.head_files)
                outcomes += o
                messages += m
        self.handled += 1
        if outcomes or messages:
            await self.target.publish(name, outcomes, messages)

    # -- git -------------------------------------------------------------------------

    def _read_head(self, doc: Document) -> HeadState | None:
        try:
            repo = doc.repo
            head = repo.references.get("HEAD")
            if head is None:
                return None
            branch = None
            if head.type == pygit2.enums.ReferenceType.SYMBOLIC:
                branch = str(head.target).removeprefix("refs/heads/")
            commit = None if repo.head_is_unborn else str(repo.head.target)
            return HeadState(branch, commit)
        except (pygit2.GitError, KeyError, ValueError) as exc:
            log.debug("watcher: cannot read HEAD of %s (%s)", doc.name, exc)
            return None

    def _remember_head(self, name: str) -> None:
        doc = self._document(name)
        if doc is None:
            return
        state = self._state(name)
        state.head = self._read_head(doc)
        state.head_files = self._tree(doc, state.head)

    def _tree(self, doc: Document, head: HeadState | None) -> dict[str, bytes]:
        if head is None or head.commit is None:
            return {}
        try:
            return doc.svg_files(head.commit)
        except SvgxError:
            return {}

    def _head_moved(
        self, doc: Document, state: _DocState, new: HeadState
    ) -> tuple[HeadMove, dict[str, bytes], list[dict[str, Any]]]:
        """Note what git did to HEAD; returns the old version's files and the notices."""
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
        old_files = state.head_files
        state.head = new
        state.head_files = self._tree(doc, new)
        if move is HeadMove.SWITCH and new.branch is not None:
            # The working tree now shows another branch; its session takes over.
            self.target.branch_switched(doc.name, old.branch, new.branch)
        live = self.target.live_session(doc.name)
        seq = live.seq if live is not None else None
        messages: list[dict[str, Any]] = []
        if move is HeadMove.COMMITS and new.commit:
            for commit in self._new_commits(doc, old.commit, new.commit):
                if _made_by_daemon(commit):
                    continue  # the daemon announced its own versions already
                messages.append(_version_notice(commit, seq))
        elif move is not HeadMove.NONE:
            messages.append(
                {
                    "type": "branch_switched" if move is HeadMove.SWITCH else "head_moved",
                    "document": doc.name,
                    "branch": new.branch,
                    "previous_branch": old.branch,
                    "version_id": new.commit,
                    "previous_version_id": old.commit,
                    "source": "git",
                    "seq": seq,
                }
            )
            if new.commit and move is HeadMove.REWIND:
                commit = doc.repo.get(new.commit)
                if isinstance(commit, pygit2.Commit) and not _made_by_daemon(commit):
                    messages.append(_version_notice(commit, seq))
        log.info("watcher: %s HEAD %s (%s -> %s)", doc.name, move.value, old, new)
        return move, old_files, messages

    def _new_commits(self, doc: Document, old: str | None, new: str) -> list[pygit2.Commit]:
        walker = doc.repo.walk(new, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
        if old:
            with contextlib.suppress(pygit2.GitError, KeyError, ValueError):
                walker.hide(old)
        return list(walker)[-100:]

    # -- files -----------------------------------------------------------------------

    async def _file_changed(
        self,
        doc: Document,
        live: LiveDocument,
        file: str,
        old_files: Mapping[str, bytes] | None,
        new_files: Mapping[str, bytes],
    ) -> tuple[list[Submitted], list[dict[str, Any]]]:
        disk = _read(doc.path, file)
        base = live.last_written.get(file)
        if old_files is not None:
            base = base_after_head_move(base, old_files.get(file), new_files.get(file), disk)
        if disk is not None and disk == base:
            return [], []
        current = live.files.get(file)
        ours = current.to_bytes() if current is not None else None
        seq_before = live.seq
        change = await asyncio.to_thread(external_change, base, ours, disk, file)
        if live.seq != seq_before:
            # Live operations arrived while the file was compared: judge it again.
            ours = live.files[file].to_bytes() if file in live.files else None
            change = external_change(base, ours, disk, file)
        log.debug("watcher: %s/%s: %s (%s)", doc.name, file, change.outcome.value, change.reason)
        now = time.time()
        if change.outcome is Outcome.OPERATIONS:
            return self._apply_operations(live, file, change, now), []
        if change.outcome is Outcome.FILE_ADD and change.data is not None:
            return [], self._add_file(live, file, change.data)
        if change.outcome is Outcome.FILE_DELETE:
            return [], self._delete_file(live, file, change.live_edited)
        if change.outcome is Outcome.IGNORE and disk is not None and ours == base:
            # Formatting only, with no live edits: the file's bytes are now the base, so
            # the daemon keeps them and does not write the file back.
            _take_bytes(live, file, disk)
        return [], []

    def _apply_operations(
        self, live: LiveDocument, file: str, change: Any, now: float
    ) -> list[Submitted]:
        base_seq = _written_seq(live, file)
        ops = to_operations(change, timestamp=now, session_id=getattr(live, "key", None))
        outcomes: list[Submitted] = []
        failed = 0
        for op in ops:
            try:
                outcomes.append(live.submit(op.model_copy(update={"file": file}), base_seq=base_seq, now=now))
            except (OperationError, NotFound) as exc:
                failed += 1
                log.warning("watcher: external %s on %s refused: %s", op.operation_type, file, exc)
        disk = change.data
        clean = all(o.status in ("applied", "duplicate") and not o.conflicts for o in outcomes)
        if not failed and clean and not change.live_edited and disk is not None:
            # base + (base -> disk) with nothing else live is the file's elements: keep
            # the file's own bytes, so the daemon does not write it back.
            _take_bytes(live, file, disk)
            return outcomes
        # The file now holds theirs; the merged live state is written back by the daemon.
        live.last_written[file] = disk if disk is not None else b""
        live.dirty.add(file)
        return outcomes

    def _add_file(self, live: LiveDocument, file: str, data: bytes) -> list[dict[str, Any]]:
        live.files[file] = SvgDocument(data, name=file)
        live.last_written[file] = data
        return [
            {
                "type": "file_added",
                "file": file,
                "svg": data.decode("utf-8", "replace"),
                "user_id": EXTERNAL_USER,
                "seq": live.seq,
            }
        ]

    def _delete_file(self, live: LiveDocument, file: str, live_edited: bool) -> list[dict[str, Any]]:
        decision = file_delete_decision(live.strategy, live_edited=live_edited)
        messages: list[dict[str, Any]] = []
        if decision.conflict is not None:
            users = {
                t.user_id
                for touches in live.book.history.values()
                for t in touches
                if t.seq > _written_seq(live, file)
            } - {EXTERNAL_USER}
            fields = delete_conflict(file, decision, live_users=users, strategy=live.strategy)
            status = fields.pop("status")
            winner = fields.pop("winner")
            record = live.book._new(**fields, status=status, winner=winner)
            if status != "open":
                live.book.resolved += 1
            messages.append({"type": "conflict_detected", "conflicts": [record]})
        if decision.delete:
            live.files.pop(file, None)
            live.last_written.pop(file, None)
            live.dirty.discard(file)
            messages.append(
                {"type": "file_deleted", "file": file, "user_id": EXTERNAL_USER, "seq": live.seq}
            )
        else:
            # Kept: the daemon writes the live file back.
            live.last_written.pop(file, None)
            live.dirty.add(file)
        return messages

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
                    quiet_s=quiet, last_change=state.last_change, last_version=state.last_version, now=now
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
        committed = self._tree(doc, head)
        disk = doc.svg_files()
        changed: dict[str, bytes | None] = {p: d for p, d in disk.items() if committed.get(p) != d}
        changed.update({p: None for p in committed if p not in disk})
        if not changed:
            return
        version = doc.commit(
            changed,
            user_id=AUTO_VERSION_USER,
            username="svgx_sync",
            description=auto_version_message(changed),
        )
        state.head = self._read_head(doc)
        state.head_files = self._tree(doc, state.head)
        live = self.target.live_session(name)
        if live is not None:
            await self.target.publish(
                name,
                [],
                [
                    {
                        "type": "version_created",
                        "version_id": version,
                        "description": auto_version_message(changed),
                        "created_by": "svgx_sync",
                        "seq": live.seq,
                        "auto": True,
                    }
                ],
            )


# -- helpers ---------------------------------------------------------------------------


def _read(folder: Path, file: str) -> bytes | None:
    path = folder.joinpath(*PurePosixPath(file).parts)
    try:
        if path.is_symlink():
            return None
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _take_bytes(live: LiveDocument, file: str, data: bytes) -> None:
    """Make ``data`` (same elements as the live file) the live file's bytes and base."""
    live.files[file] = SvgDocument(data, name=file)
    live.last_written[file] = data
    live.dirty.discard(file)


def _written_seq(live: LiveDocument, file: str) -> int:
    """The ``seq`` at which the daemon last wrote ``file`` (the base of an external edit)."""
    written: Mapping[str, int] | None = getattr(live, "written_seq", None)
    if written is None:
        return live.seq
    return written.get(file, live.seq)


def _made_by_daemon(commit: pygit2.Commit) -> bool:
    email = commit.author.email or ""
    return email == SYSTEM_EMAIL or email.endswith("@" + USER_EMAIL_DOMAIN)


def _version_notice(commit: pygit2.Commit, seq: int | None) -> dict[str, Any]:
    return {
        "type": "version_created",
        "version_id": str(commit.id),
        "description": commit.message.strip(),
        "created_by": commit.author.name,
        "seq": seq,
        "source": "git",
    }


# -- attaching to the daemon -----------------------------------------------------------


class DaemonTarget:
    """:class:`WatchTarget` over a running :class:`svgx_sync.server.Daemon`.

    External operations take the daemon's own path for a client's operations (journal,
    group commit, broadcast in ``seq`` order, debounced file writes), with nobody to
    acknowledge.
    """

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon

    def _room(self, name: str) -> Any:
        for room in list(self.daemon.rooms.values()):
            if room.live.name == name and self.daemon._checked_out(room):
                return room
        return None

    def live_session(self, name: str) -> LiveDocument | None:
        room = self._room(name)
        return None if room is None or room.broken else room.live  # type: ignore[no-any-return]

    async def publish(
        self, name: str, outcomes: Sequence[Submitted], messages: Sequence[dict[str, Any]]
    ) -> None:
        daemon, room = self.daemon, self._room(name)
        if room is None:
            return
        for out in outcomes:
            daemon._queue(room, out, None)
            room.version_ops.extend(e["op_id"] for e in out.entries)
        room.notices.extend(messages)
        daemon._flush_soon(room)
        if room.live.dirty:
            daemon._write_soon(room)

    def writing(self, name: str) -> bool:
        room = self._room(name)
        if room is None:
            return False
        lock = getattr(room, "write_lock", None)
        pending = getattr(room, "write_generation", 0) > getattr(room, "written_generation", 0)
        return pending or (lock is not None and lock.locked())

    def branch_switched(self, name: str, old: str | None, new: str) -> None:
        from .session import document_key

        daemon = self.daemon
        previous = daemon.rooms.get(document_key(name, old)) if old else None
        if previous is None or not previous.clients:
            return
        room = daemon.room_for(f"{name}@{new}")
        # Whatever git checked out, the working tree shows this session's live state.
        on_disk = room.document.svg_files()
        live = room.live
        live.dirty.update(p for p, data in live.contents().items() if on_disk.get(p) != data)
        daemon._write_files(room)
        daemon._flush(previous)
        for conn in list(previous.clients):
            previous.clients.discard(conn)
            if conn.user_id is not None:
                previous.presence.leave(conn.user_id, time.time())
            conn.session_id = room.key
            conn.room = room
            room.clients.add(conn)
            room.presence.join(conn.user_id or "user", conn.username, time.time())
            daemon._welcome(conn, room, None)
        daemon._presence_soon(previous)
        daemon._presence_soon(room)
