"""What the daemon wrote to each working-tree file lately, kept across restarts.

An edit made beside the daemon is merged from a *base*: a version of that file the
daemon wrote (or took from it), the one the saving program most likely loaded
(:func:`svgx_sync.core.external.closest_version`). The versions must outlive the process, or
a file edited while the daemon was down could not be told from the daemon's own write
and would be overwritten at the next start. One :class:`WrittenBases` per live document
branch keeps them under ``.git/svgx/written-<branch>/`` (git ignores that folder and
never packs or prunes it):

- ``manifest.json``: per file, its recent versions newest first, each the SHA-1 of its
  bytes, the ``seq`` it was taken at and its size; and the branch's commit at the last
  record (``head``), so that a branch git moved meanwhile is told from an edit;
- ``<sha1>``: the bytes of each version the manifest names (content addressed).

Rules:

* A version is recorded (:meth:`WrittenBases.persist`) *before* the file is written, by
  the write itself, so a crash in between leaves the record one write ahead of the
  disk; the disk then holds the version before, which is still recorded (and is the
  base at the next start, also when git's index holds those bytes). Writes may
  run out of order; a file is recorded and written only by the latest write that has
  it (:meth:`WrittenBases.claim`).
* At most :data:`MAX_VERSIONS` versions per file, and older ones only while the file's
  versions stay under :data:`MAX_VERSION_BYTES` (the newest two are always kept).
* :meth:`WrittenBases.seen` names every recent version the daemon staged, recorded or
  was given (:meth:`WrittenBases.note_seen`): the bytes a write may replace.
* Every file is replaced atomically (:func:`svgx_sync.durable.atomic.write_atomic`); bytes no
  longer named by the manifest are removed after the manifest is replaced.
* A missing, unreadable or damaged record is no error: the caller falls back to what the
  session was loaded from.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from ..core.external import content_id
from .atomic import write_atomic

__all__ = ["MAX_VERSIONS", "MAX_VERSION_BYTES", "WrittenBases", "bases_folder", "carried"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MAX_VERSIONS = 8
"""Recent versions kept per file: an editor that loaded the file longer ago than this
many writes has its save judged against the oldest one kept."""
MAX_VERSION_BYTES = 32 * 1024 * 1024
"""Older versions of a file are dropped once its versions together pass this size."""
SEEN_PER_FILE = 64
"""Content ids remembered per file for :meth:`WrittenBases.seen` (in memory only)."""


def bases_folder(git_dir: Path, branch: str) -> Path:
    """Where the bases of ``branch`` are kept (branch names may contain ``/``)."""
    return Path(git_dir) / "svgx" / f"written-{quote(branch, safe='')}"


_sha = content_id


@dataclass(frozen=True, slots=True)
class _Version:
    sha: str
    seq: int
    size: int


def _kept(versions: list[_Version]) -> tuple[_Version, ...]:
    """The newest versions within :data:`MAX_VERSIONS` and :data:`MAX_VERSION_BYTES`."""
    kept: list[_Version] = []
    total = 0
    for version in versions[:MAX_VERSIONS]:
        total += version.size
        if len(kept) >= 2 and total > MAX_VERSION_BYTES:
            break
        kept.append(version)
    return tuple(kept)


def carried(own: tuple[_Version, ...], theirs: list[_Version], seq: int) -> tuple[_Version, ...]:
    """A file's versions once another branch's versions ``theirs`` (newest first) followed
    the working tree into this record at ``seq``: this record's versions taken since
    (at or after ``seq``) stay newest, then ``theirs``, taken at ``seq`` (the live edits
    after it are concurrent with a save made from one of them), then this record's
    older versions; within bounds."""
    recent = [v for v in own if v.seq >= seq]
    known = {v.sha for v in recent}
    moved = [_Version(v.sha, seq, v.size) for v in theirs if v.sha not in known]
    known |= {v.sha for v in moved}
    return _kept([*recent, *moved, *(v for v in own if v.sha not in known)])


def _parse_entry(raw: Mapping[str, Any]) -> tuple[_Version, ...]:
    """One file's versions from the manifest (also the older sha/previous form)."""
    if "versions" in raw:
        items = raw["versions"]
        if not isinstance(items, list):
            raise TypeError("versions is not a list")
        return tuple(_Version(v["sha"], int(v["seq"]), int(v.get("size", 0))) for v in items)
    out = [_Version(str(raw["sha"]), int(raw["seq"]), 0)]
    if raw.get("previous") is not None:
        seq = raw.get("previous_seq")
        out.append(_Version(str(raw["previous"]), int(seq if seq is not None else raw["seq"]), 0))
    return tuple(out)


class WrittenBases:
    """The recorded versions of one document branch's files.

    :meth:`stage` is called where the bytes of a write are decided (the event loop),
    :meth:`claim` and :meth:`persist` where they are written (a worker thread, one write
    at a time), :meth:`record` for bases taken from the files themselves. All are safe
    to call from different threads.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._entries: dict[str, tuple[_Version, ...]] = {}
        self._stored: set[str] = set()  # shas whose bytes are in the folder
        self._staged: dict[int, tuple[dict[str, bytes | None], dict[str, int], str | None]] = {}
        self._written: dict[str, int] = {}  # path -> the latest write that claimed it
        self._seen: dict[str, OrderedDict[str, None]] = {}  # path -> recent content ids
        self._lock = threading.Lock()  # guards the above
        self._persist_lock = threading.Lock()  # one record at a time
        self.head: str | None = None
        """The branch's commit when the bases were last staged (None: unknown)."""

    # -- reading ---------------------------------------------------------------------

    def load(self) -> None:
        """Read the record from disk (nothing when there is none or it is damaged)."""
        try:
            raw = orjson.loads((self.folder / MANIFEST).read_bytes())
            entries = {path: _parse_entry(e) for path, e in raw["files"].items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning(
                "bases in %s are unreadable (%s); falling back to the loaded files",
                self.folder,
                exc,
            )
            return
        with self._lock:
            self._entries = entries
            self.head = raw.get("head")
            self._stored = {p.name for p in self.folder.iterdir() if p.name != MANIFEST}
            for path, versions in entries.items():
                self._see(path, [v.sha for v in reversed(versions)])

    def _read(self, sha: str | None) -> bytes | None:
        if sha is None:
            return None
        try:
            data = (self.folder / sha).read_bytes()
        except OSError:
            return None
        return data if _sha(data) == sha else None

    def recorded_at(self) -> int | None:
        """When the record was last replaced, in ns (None: there is none)."""
        try:
            return (self.folder / MANIFEST).stat().st_mtime_ns
        except OSError:
            return None

    def files(self) -> set[str]:
        """The files with a recorded base."""
        with self._lock:
            return set(self._entries)

    def versions(self, file: str) -> list[tuple[bytes, int]]:
        """The recorded versions of ``file``, newest first: bytes and ``seq`` (those whose
        bytes are missing or damaged are left out)."""
        with self._lock:
            entry = self._entries.get(file, ())
        return [(data, v.seq) for v in entry if (data := self._read(v.sha)) is not None]

    def seen(self, file: str) -> frozenset[str]:
        """The content ids of the recent bytes of ``file`` the daemon knows: staged for a
        write, recorded, loaded or noted. A write may replace only these."""
        with self._lock:
            return frozenset(self._seen.get(file, ()))

    def _see(self, file: str, shas: list[str]) -> None:
        # Under self._lock.
        known = self._seen.setdefault(file, OrderedDict())
        for sha in shas:
            known[sha] = None
            known.move_to_end(sha)
        while len(known) > SEEN_PER_FILE:
            known.popitem(last=False)

    def note_seen(self, files: Mapping[str, bytes]) -> None:
        """Remember bytes the daemon holds as what is on disk (a loaded session)."""
        with self._lock:
            for path, data in files.items():
                self._see(path, [_sha(data)])

    # -- recording -------------------------------------------------------------------

    def stage(
        self,
        changes: Mapping[str, bytes | None],
        seqs: Mapping[str, int],
        head: str | None,
        *,
        write: int,
    ) -> None:
        """Note the bases that write number ``write`` is to put on disk (None: the file
        is gone) and the branch's commit ``head``; :meth:`persist` records them."""
        with self._lock:
            self._staged[write] = (dict(changes), {p: seqs.get(p, 0) for p in changes}, head)
            for path, data in changes.items():
                if data is not None:
                    self._see(path, [_sha(data)])

    def take_over(self, write: int) -> dict[str, bytes]:
        """Hand the files of earlier writes that have not run yet to write number
        ``write`` (their stages become its, under what it staged itself); returns their
        bytes, for a caller that must have every taken file on disk when it returns."""
        with self._lock:
            earlier = sorted(k for k in self._staged if k < write)
            if not earlier:
                return {}
            changes: dict[str, bytes | None] = {}
            seqs: dict[str, int] = {}
            head: str | None = None
            for key in [*earlier, write]:
                if key in self._staged:
                    more, more_seqs, head = self._staged.pop(key)
                    changes.update(more)
                    seqs.update(more_seqs)
            self._staged[write] = (changes, seqs, head)
            return {p: d for p, d in changes.items() if d is not None}

    def claim(self, write: int, files: Mapping[str, bytes]) -> dict[str, bytes]:
        """The part of ``files`` that write number ``write`` may put on disk: the files
        no later write has written already (writes may run out of order)."""
        with self._lock:
            mine = {p: d for p, d in files.items() if self._written.get(p, -1) < write}
            self._written.update(dict.fromkeys(mine, write))
            return mine

    def persist(self, write: int, files: Mapping[str, bytes] | None = None) -> None:
        """Record the bases staged for write number ``write`` (only ``files``, when
        given: what it claimed), before that write puts them on disk."""
        with self._lock:
            staged = self._staged.pop(write, None)
            for older in [k for k in self._staged if k < write]:
                del self._staged[older]  # superseded: never written
        if staged is None:
            return
        changes, seqs, head = staged
        if files is not None:
            changes = {p: d for p, d in changes.items() if p in files}
        self.record(changes, seqs, head)

    def record(
        self, changes: Mapping[str, bytes | None], seqs: Mapping[str, int], head: str | None
    ) -> None:
        """Record new bases now: the bytes, then the manifest, then drop unused bytes.
        Each becomes its file's newest version; the older ones are kept within bounds.

        Raises OSError (nothing is recorded then); the caller decides, the journal
        still has every operation.
        """
        with self._persist_lock:
            with self._lock:
                entries = dict(self._entries)
            blobs: dict[str, bytes] = {}
            shas = {path: _sha(data) for path, data in changes.items() if data is not None}
            for path, data in changes.items():
                if data is None:
                    entries.pop(path, None)
                    continue
                sha = shas[path]
                old = entries.get(path, ())
                if old and old[0].sha == sha:
                    continue
                newest = _Version(sha, seqs.get(path, 0), len(data))
                entries[path] = _kept([newest, *(v for v in old if v.sha != sha)])
                blobs[sha] = data
            self._store(entries, blobs, head)
            with self._lock:
                for path, sha in shas.items():
                    self._see(path, [sha])

    def follow(self, other: WrittenBases, disk: Mapping[str, bytes], seq: int) -> set[str]:
        """Take ``other``'s recent versions of the files whose bytes on disk are its
        newest (a checkout kept them), as versions of this record taken at ``seq``; an
        editor may have loaded any of them. Returns the files that followed.

        Raises OSError like :meth:`record`.
        """
        taken: dict[str, list[tuple[bytes, int]]] = {}
        for path, data in disk.items():
            if other.newest(path) == _sha(data):
                taken[path] = other.versions(path)
        if not taken:
            return set()
        with self._persist_lock:
            with self._lock:
                entries = dict(self._entries)
            blobs: dict[str, bytes] = {}
            for path, versions in taken.items():
                theirs = [_Version(_sha(data), 0, len(data)) for data, _ in versions]
                blobs.update((_sha(data), data) for data, _ in versions)
                entries[path] = carried(entries.get(path, ()), theirs, seq)
            self._store(entries, blobs, self.head)
            with self._lock:
                for path, versions in taken.items():
                    self._see(path, [_sha(data) for data, _ in reversed(versions)])
        return set(taken)

    def newest(self, file: str) -> str | None:
        """The content id of the newest recorded version of ``file`` (None: none)."""
        with self._lock:
            entry = self._entries.get(file, ())
        return entry[0].sha if entry else None

    def _store(
        self, entries: dict[str, tuple[_Version, ...]], blobs: Mapping[str, bytes], head: str | None
    ) -> None:
        """Replace the record with ``entries`` (the bytes of new versions in ``blobs``):
        the bytes, then the manifest, then drop unused bytes. Under the persist lock."""
        with self._lock:
            stored = set(self._stored)
        named = {v.sha for versions in entries.values() for v in versions}
        manifest = {
            "head": head,
            "files": {
                path: {"versions": [{"sha": v.sha, "seq": v.seq, "size": v.size} for v in versions]}
                for path, versions in sorted(entries.items())
            },
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        for sha, data in blobs.items():
            if sha not in stored and sha in named:
                write_atomic(self.folder / sha, data)
                stored.add(sha)
        write_atomic(self.folder / MANIFEST, orjson.dumps(manifest))
        unused = stored - named
        with self._lock:
            self._entries = entries
            self.head = head
            self._stored = stored - unused
        for sha in unused:
            with contextlib.suppress(OSError):
                (self.folder / sha).unlink()
