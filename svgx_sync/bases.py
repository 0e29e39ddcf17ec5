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

* A base is recorded (:meth:`WrittenBases.persist`) *before* the file is written, by
  the write itself, so a crash in between leaves the record one write ahead of the
  disk. The previous base is kept for that case: when the disk holds it, it is the
  base (:meth:`WrittenBases.base`). Writes may run out of order; a file is recorded
  and written only by the latest write that has it (:meth:`WrittenBases.claim`).
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

    :meth:`stage` is called where the bytes of a write are decided (the event loop),
    :meth:`claim` and :meth:`persist` where they are written (a worker thread, one write
    at a time), :meth:`record` for bases taken from the files themselves. All are safe
    to call from different threads.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._entries: dict[str, _Entry] = {}
        self._stored: set[str] = set()  # shas whose bytes are in the folder
        self._staged: dict[int, tuple[dict[str, bytes | None], dict[str, int], str | None]] = {}
        self._written: dict[str, int] = {}  # path -> the latest write that claimed it
        self._lock = threading.Lock()  # guards the above
        self._persist_lock = threading.Lock()  # one record at a time
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
        The previous base of each file is what the record said before.

        Raises OSError (nothing is recorded then); the caller decides, the journal
        still has every operation.
        """
        with self._persist_lock:
            with self._lock:
                entries = dict(self._entries)
                stored = set(self._stored)
            blobs: dict[str, bytes] = {}
            for path, data in changes.items():
                old = entries.get(path)
                if data is None:
                    entries.pop(path, None)
                    continue
                sha = _sha(data)
                if old is not None and old.sha == sha:
                    continue
                entries[path] = _Entry(
                    sha,
                    seqs.get(path, 0),
                    old.sha if old is not None else None,
                    old.seq if old is not None else None,
                )
                blobs[sha] = data
            named = {e.sha for e in entries.values()} | {
                e.previous for e in entries.values() if e.previous is not None
            }
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
                },
            }
            self.folder.mkdir(parents=True, exist_ok=True)
            for sha, data in blobs.items():
                if sha not in stored:
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
