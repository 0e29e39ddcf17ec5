"""git's lock files: waiting for them, finding the ones held too long, and who holds them.

The git command takes ``index.lock`` and ``<ref>.lock`` while it works; libgit2 fails at
once when it meets one, where git itself would wait a little. Every index, ref and
checkout write of :mod:`svgx_sync.git` goes through :func:`with_lock_retry`, which
waits with a short backoff (about two seconds in all) and then lets the error through.
A thread that must not wait (the daemon's event loop, see
:func:`wait_briefly_in_this_thread`) retries for a few milliseconds only; the daemon
waits for longer-held locks off the loop (:func:`held_locks`, then an async retry).

A lock is never removed behind anyone's back. A process killed while it held one (a
``kill -9`` of git, or of the daemon inside libgit2) leaves it for good; such a lock is
reported (:func:`held_locks`, :func:`lock_holders`) and removed only by
:func:`remove_stale_lock` (``svgx-sync unlock``), which first checks that no process
may hold it: no git command working in the repository, no process with the lock file
open, no daemon owning the repository since before the lock was made
(:func:`own_repository` marks a daemon's ownership with an advisory lock that dies
with the process), and the lock older than a minimum age.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pygit2

from svgx_sync.errors import ClientError, NotFound

__all__ = [
    "HeldLock",
    "Holder",
    "Owner",
    "held_locks",
    "lock_holders",
    "own_repository",
    "owner_pid",
    "remove_stale_lock",
    "repository_owner",
    "wait_briefly_in_this_thread",
    "with_lock_retry",
]

log = logging.getLogger(__name__)

# How long to wait for a lock held by someone else (the git command, another process).
_LOCK_WAIT_SECONDS = 2.0
_LOCK_BRIEF_SECONDS = 0.02  # in a thread that must not wait (the event loop)
_LOCK_FIRST_DELAY = 0.005
_LOCK_MAX_DELAY = 0.2

_T = TypeVar("_T")

_sleep = time.sleep  # the one place the lock wait touches the clock
_brief = threading.local()

OWNER_FILE = "svgx/owner"
"""Under the git folder: the daemon that owns the repository holds an advisory lock on it."""


def wait_briefly_in_this_thread(on: bool = True) -> None:
    """While on, :func:`with_lock_retry` waits only a few ms in the calling thread (each
    ``on`` is undone by one ``off``: several daemons may share a loop)."""
    _brief.count = max(0, getattr(_brief, "count", 0) + (1 if on else -1))


def _is_lock_error(exc: BaseException) -> bool:
    # libgit2 reports a held index.lock as GitError ("the index is locked") and a held
    # ref lock as OSError ("failed to lock file ... for writing").
    text = str(exc).lower()
    return "lock" in text and ("failed" in text or "locked" in text or "exists" in text)


def with_lock_retry(action: Callable[[], _T], what: str) -> _T:
    """Run ``action``, waiting with backoff while git holds a lock it needs."""
    wait = _LOCK_BRIEF_SECONDS if getattr(_brief, "count", 0) else _LOCK_WAIT_SECONDS
    deadline = time.monotonic() + wait
    delay = _LOCK_FIRST_DELAY
    while True:
        try:
            return action()
        except (pygit2.GitError, OSError) as exc:
            if not _is_lock_error(exc) or time.monotonic() >= deadline:
                raise
            log.debug("%s: lock held, retrying in %.3fs (%s)", what, delay, exc)
            _sleep(delay)
            delay = min(delay * 2, _LOCK_MAX_DELAY)


# ---------------------------------------------------------------------- held locks


@dataclass(frozen=True, slots=True)
class HeldLock:
    """A lock file of a repository and how long ago it was made (its mtime)."""

    path: str
    age_s: float


def _lock_files(git_dir: Path) -> Iterator[Path]:
    for name in ("index.lock", "HEAD.lock", "packed-refs.lock", "config.lock"):
        if (git_dir / name).exists():
            yield git_dir / name
    for folder, _, files in os.walk(git_dir / "refs"):
        for name in files:
            if name.endswith(".lock"):
                yield Path(folder) / name


def held_locks(git_dir: str | Path, *, older_than: float = 0.0) -> list[HeldLock]:
    """The lock files git or libgit2 left in ``git_dir``, older than ``older_than`` s."""
    now = time.time()
    found = []
    for path in _lock_files(Path(git_dir)):
        try:
            age = now - path.stat().st_mtime
        except OSError:
            continue  # released meanwhile
        if age >= older_than:
            found.append(HeldLock(str(path), round(age, 1)))
    return found


@dataclass(frozen=True, slots=True)
class Holder:
    """A process that uses a repository: its pid, its command line, and how."""

    pid: int
    command: str
    why: str


def _proc_link(pid: str, what: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/{what}")
    except OSError:
        return None


def _command(pid: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip() or "?"


def _inside(path: str | None, folders: tuple[str, ...]) -> bool:
    return path is not None and any(path == f or path.startswith(f + os.sep) for f in folders)


def _is_git(pid: str) -> bool:
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return name == "git" or name.startswith("git-")


def lock_holders(
    git_dir: str | Path, workdir: str | Path | None, lock: str, *, besides: int = 0
) -> list[Holder]:
    """Other processes that may hold ``lock``, as far as ``/proc`` shows (nothing where
    there is none): a git command working in the repository (its working directory is
    inside it), or any process with the lock file open; ``besides`` is left out of the
    first (the daemon that owns the repository)."""
    folders = tuple(str(Path(p).resolve()) for p in (git_dir, workdir) if p is not None)
    lock = os.path.realpath(lock)
    holders = []
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    except OSError:
        return []
    for pid in pids:
        if int(pid) != besides and _is_git(pid) and _inside(_proc_link(pid, "cwd"), folders):
            holders.append(Holder(int(pid), _command(pid), "works in the repository"))
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        if any(_proc_link(pid, f"fd/{fd}") == lock for fd in fds):
            holders.append(Holder(int(pid), _command(pid), "has the lock file open"))
    return holders


# ---------------------------------------------------------------------- ownership


@dataclass(frozen=True, slots=True)
class Owner:
    """The daemon that owns a repository: its pid and when it took it (Unix time)."""

    pid: int
    since: float


def own_repository(git_dir: str | Path) -> int | None:
    """Mark the repository as this process's; returns the descriptor that holds the
    mark (close it to let go), or None when another live process has it. The mark dies
    with the process, ``kill -9`` included."""
    path = Path(git_dir) / OWNER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        owner = repository_owner(git_dir)
        log.warning("%s is served by process %s too", git_dir, owner.pid if owner else "?")
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "since": time.time()}).encode(), 0)
    return fd


def owner_pid(owner: Owner | None) -> int:
    """The pid of ``owner``, 0 for none."""
    return 0 if owner is None else owner.pid


def repository_owner(git_dir: str | Path) -> Owner | None:
    """The live daemon that owns the repository, or None."""
    path = Path(git_dir) / OWNER_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                mark = json.loads(os.pread(fd, 4096, 0) or b"{}")
                return Owner(int(mark["pid"]), float(mark["since"]))
            except (ValueError, KeyError, TypeError):
                return Owner(0, time.time())  # taken this instant, not written yet
        return None  # nobody holds the mark: its daemon is gone
    finally:
        os.close(fd)


def remove_stale_lock(
    git_dir: str | Path, workdir: str | Path | None, *, older_than: float
) -> list[str]:
    """Remove the lock files of a repository that nobody can be holding; returns their
    paths. Raises :class:`NotFound` when there is none, and :class:`ClientError`
    saying who holds it when one may still be in use: a process working in the
    repository or holding the file open, a lock younger than ``older_than`` seconds,
    or a live daemon that owned the repository before the lock was made."""
    locks = held_locks(git_dir)
    if not locks:
        raise NotFound(f"{git_dir} holds no lock file")
    owner = repository_owner(git_dir)
    refusals = []
    for lock in locks:
        holders = lock_holders(git_dir, workdir, lock.path, besides=owner_pid(owner))
        if holders:
            refusals += [f"{lock.path}: process {h.pid} ({h.command}) {h.why}" for h in holders]
        elif lock.age_s < older_than:
            refusals.append(f"{lock.path}: made {lock.age_s:.0f} s ago; git may still be working")
        elif owner is not None and time.time() - lock.age_s >= owner.since:
            refusals.append(
                f"{lock.path}: the daemon (process {owner.pid}) has owned the repository since"
                " before the lock was made; stop it if the lock stays"
            )
    if refusals:
        raise ClientError("left in place: " + "; ".join(refusals))
    for lock in locks:
        os.unlink(lock.path)
        log.info("removed the stale lock %s", lock.path)
    return [lock.path for lock in locks]
