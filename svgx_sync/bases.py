"""What the daemon last wrote to each working-tree file, kept across restarts.

An edit made beside the daemon is merged from a *base*: the bytes the daemon last wrote
to (or took from) that file (:mod:`svgx_sync.external`). The base must outlive the
process, or a file edited while the daemon was down could not be told from the daemon's
own write and would be overwritten at the next start. One :class:`WrittenBases` per live
document branch keeps them under ``.git/svgx/written-<branch>/`` (git ignores that
folder and never packs or prunes it):

- ``manifest.json``: per file, the SHA-1 of its base and the ``seq`` it was taken at,
  and the same two for the base before it; and the branch's commit at the last record
  (``head``), so that a branch git moved meanwhile is told from an edit;
- ``<sha1>``: the bytes of each base the manifest names (content addressed).

Rules:

* A base is recorded (:meth:`WrittenBases.persist`) *before* the file is written, so a
  crash in between leaves the record one write ahead of the disk. The previous base is
  kept for that case: when the disk holds it, it is the base (:meth:`WrittenBases.base`).
* Every file is replaced atomically (:func:`svgx_sync.atomic.write_atomic`); bytes no
  longer named by the manifest are removed after the manifest is replaced.
* A missing, unreadable or damaged record is no error: the caller falls back to what the
  session was loaded from.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import orjson

from .atomic import write_atomic

__all__ = ["WrittenBases", "bases_folder"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def bases_folder(git_dir: Path, branch: str) -> Path:
    """Where the bases of ``branch`` are kept (branch names may contain ``/``)."""
    return Path(git_dir) / "svgx" / f"written-{quote(branch, safe='')}"


def _sha(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class _Entry:
    sha: str
    seq: int
    previous: str | None = None
    previous_seq: int | None = None


class WrittenBases:
    """The recorded bases of one document branch's files.

    :meth:`stage` is called where the bytes are decided (the event loop),
    :meth:`persist` where they are written (possibly a worker thread); both are safe to
    call from different threads.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._entries: dict[str, _Entry] = {}
        self._data: dict[str, bytes] = {}  # sha -> bytes not yet known to be on disk
        self._stored: set[str] = set()  # shas on disk
        self._lock = threading.Lock()  # guards the three above
        self._persist_lock = threading.Lock()  # one persist at a time
        self._changed = False
        self.head: str | None = None
        """The branch's commit when the bases were last staged (None: unknown)."""

    # -- reading ---------------------------------------------------------------------

    def load(self) -> None:
        """Read the record from disk (nothing when there is none or it is damaged)."""
        try:
            raw = orjson.loads((self.folder / MANIFEST).read_bytes())
            entries = {
                path: _Entry(e["sha"], int(e["seq"]), e.get("previous"), e.get("previous_seq"))
                for path, e in raw["files"].items()
            }
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("bases in %s are unreadable (%s); falling back to the loaded files", self.folder, exc)
            return
        with self._lock:
            self._entries = entries
            self.head = raw.get("head")
            self._stored = {p.name for p in self.folder.iterdir() if p.name != MANIFEST}

    def _read(self, sha: str | None) -> bytes | None:
        if sha is None:
            return None
        data = self._data.get(sha)
        if data is None:
            try:
                data = (self.folder / sha).read_bytes()
            except OSError:
                return None
        return data if _sha(data) == sha else None

    def files(self) -> set[str]:
        """The files with a recorded base."""
        with self._lock:
            return set(self._entries)

    def base(self, file: str, disk: bytes | None) -> tuple[bytes, int] | None:
        """The base of ``file`` and its ``seq``, given what the disk holds now; None when
        nothing usable is recorded. When the disk holds the previous base, the last
        recorded write never landed and the previous base is the one."""
        with self._lock:
            entry = self._entries.get(file)
        if entry is None:
            return None
        if disk is not None and entry.previous is not None and _sha(disk) == entry.previous:
            return disk, entry.previous_seq if entry.previous_seq is not None else entry.seq
        data = self._read(entry.sha)
        return None if data is None else (data, entry.seq)

    # -- recording -------------------------------------------------------------------

    def stage(
        self, changes: Mapping[str, bytes | None], seqs: Mapping[str, int], head: str | None
    ) -> None:
        """Note new bases (None: the file is gone) and the branch's commit ``head``, to be
        written by :meth:`persist`."""
        with self._lock:
            if head != self.head:
                self.head = head
                self._changed = True
            for path, data in changes.items():
                old = self._entries.get(path)
                if data is None:
                    if self._entries.pop(path, None) is not None:
                        self._changed = True
                    continue
                sha = _sha(data)
                if old is not None and old.sha == sha:
                    continue
                self._entries[path] = _Entry(
                    sha,
                    seqs.get(path, 0),
                    old.sha if old is not None else None,
                    old.seq if old is not None else None,
                )
                if sha not in self._stored:
                    self._data[sha] = data
                self._changed = True

    def persist(self) -> None:
        """Write what was staged: the bytes, then the manifest, then drop unused bytes.

        Raises OSError; the caller decides (the journal still has every operation).
        """
        with self._persist_lock:
            with self._lock:
                if not self._changed:
                    return
                self._changed = False
                entries = dict(self._entries)
                head = self.head
                pending = dict(self._data)
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                named = {e.sha for e in entries.values()} | {
                    e.previous for e in entries.values() if e.previous is not None
                }
                for sha, data in pending.items():
                    if sha in named:
                        write_atomic(self.folder / sha, data)
                manifest = {
                    "head": head,
                    "files": {
                        path: {
                            "sha": e.sha,
                            "seq": e.seq,
                            "previous": e.previous,
                            "previous_seq": e.previous_seq,
                        }
                        for path, e in sorted(entries.items())
                    }
                }
                write_atomic(self.folder / MANIFEST, orjson.dumps(manifest))
            except OSError:
                with self._lock:
                    self._changed = True
                raise
            with self._lock:
                current = {x for e in self._entries.values() for x in (e.sha, e.previous)}
                for sha in pending:
                    if sha in named:
                        self._stored.add(sha)
                    if sha in named or sha not in current:
                        self._data.pop(sha, None)
                unused = self._stored - named - current
                self._stored -= unused
            for sha in unused:
                with contextlib.suppress(OSError):
                    (self.folder / sha).unlink()
