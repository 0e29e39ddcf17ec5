"""The operation journal: what was acknowledged, on disk before anyone hears of it.

One append-only file per live document branch, under ``.git/svgx/`` of the document's
repository (git ignores unknown files there and never packs or prunes them). Each line
is ``<crc32 hex> <json>\\n``; the CRC covers the JSON bytes. The file is grown ahead of
the records in zero-filled steps of :data:`PREALLOCATE` bytes, and records overwrite
those zeros: an fdatasync then flushes data blocks only, with no file-size change for
the file system to commit (on ext4 about half the time of an append, and no waiting on
other files' metadata). Readers stop at the zeros.

Guarantees:

* :meth:`Journal.append` buffers; :meth:`Journal.sync` writes and fsyncs everything
  appended so far, once (group commit: one fsync per batch). Only after ``sync`` returns
  may the records be acknowledged.
* The same in two halves, so the fsync can run in a worker thread while the event loop
  goes on: :meth:`Journal.write` writes the buffer and returns a :class:`PendingSync`;
  the records it covers may be acknowledged once its :meth:`PendingSync.run` has
  returned (in any thread) and :meth:`Journal.synced` has been told. The pending sync
  holds its own descriptor, so a rotation or a close meanwhile cannot pull the file
  from under it; a :meth:`Journal.sync` meanwhile fsyncs again (it cannot know the
  other one finished).
* :func:`read_journal` returns the records in order and stops at the first line that is
  incomplete or fails its CRC: a crash can only tear the last line, which was never
  acknowledged.
* :meth:`Journal.rotate` replaces the file atomically (temporary file, fsync, rename,
  fsync of the folder) with the records given, after a checkpoint made the rest
  redundant.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from ..errors import JournalError
from .atomic import write_atomic

__all__ = ["Journal", "PendingSync", "journal_path", "read_journal"]

log = logging.getLogger(__name__)


def journal_path(git_dir: str | Path, branch: str) -> Path:
    """Where the journal of ``branch`` lives (branch names may contain ``/``)."""
    return Path(git_dir) / "svgx" / f"journal-{quote(branch, safe='')}.log"


# fdatasync also persists a new file size, which is all a growing step needs.
_datasync = getattr(os, "fdatasync", os.fsync)

PREALLOCATE = 1 << 20
"""Bytes of zeros written ahead of the records when the journal needs room."""


def _line(record: dict[str, Any]) -> bytes:
    body = orjson.dumps(record)
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def _scan(data: bytes, path: Path) -> tuple[list[dict[str, Any]], int]:
    """The intact records at the start of ``data``, and the offset just after them."""
    records: list[dict[str, Any]] = []
    end = 0
    size = len(data.rstrip(b"\0"))  # the zeros grown ahead of the records
    while end < size:
        newline = data.find(b"\n", end, size)
        line = data[end : size if newline < 0 else newline]
        try:
            if newline < 0:  # no newline after it: the write was cut short
                raise ValueError("torn")
            crc, body = line.split(b" ", 1)
            if int(crc, 16) != zlib.crc32(body):
                raise ValueError("crc")
            records.append(orjson.loads(body))
        except ValueError:
            log.warning(
                "journal %s: a torn or corrupt line at byte %d; ignoring it and the %d bytes"
                " after it",
                path,
                end,
                size - end,
            )
            break
        end = newline + 1
    return records, end


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The intact records of a journal (none when it does not exist)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc}") from exc
    return _scan(data, Path(path))[0]


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


class PendingSync:
    """The fsync of what :meth:`Journal.write` wrote: ``run()`` it once, in any thread."""

    __slots__ = ("fd", "path", "position")

    def __init__(self, fd: int, path: Path, position: int) -> None:
        self.fd = fd  # a duplicate of the journal's descriptor, closed by run()
        self.path = path
        self.position = position

    def run(self) -> None:
        """fdatasync (releases the GIL); raises :class:`JournalError` when it fails."""
        try:
            _datasync(self.fd)
        except OSError as exc:
            raise JournalError(f"cannot write the journal {self.path}: {exc}") from exc
        finally:
            os.close(self.fd)


class Journal:
    """The open journal of one live document branch."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._buffer: list[bytes] = []
        self._fd: int | None = None
        self._end = 0  # where the next record goes
        self._size = 0  # the file's size: records, then zeros
        # Bytes written through this object, and how many of them are known fsynced.
        self._written = 0
        self._synced = 0
        self.syncs = 0

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                data = b""
            _, self._end = _scan(data, self.path)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if len(data) != self._end:
                # A torn last line, or zeros grown ahead: drop both, so nothing old can
                # ever follow the next record.
                os.ftruncate(self._fd, self._end)
                os.fsync(self._fd)
            self._size = self._end
        except OSError as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from exc

    def append(self, record: dict[str, Any]) -> None:
        self._buffer.append(_line(record))

    @property
    def pending(self) -> bool:
        return bool(self._buffer)

    @property
    def unsynced(self) -> bool:
        """Whether something appended is not yet known to be on disk."""
        return bool(self._buffer) or self._synced < self._written

    def _write_buffer(self) -> None:
        if not self._buffer:
            return
        if self._fd is None:
            raise JournalError(f"the journal {self.path} is not open")
        data = b"".join(self._buffer)
        try:
            end = self._end + len(data)
            if end > self._size:
                # Grow by a step of zeros; the fdatasync that follows persists the size.
                size = end + PREALLOCATE
                _write_all(self._fd, bytes(size - self._size), self._size)
                self._size = size
            _write_all(self._fd, data, self._end)
            self._end = end
        except OSError as exc:
            raise JournalError(f"cannot write the journal {self.path}: {exc}") from exc
        self._buffer.clear()
        self._written += len(data)

    def sync(self) -> None:
        """Write and fsync everything appended so far (one fsync for the whole batch)."""
        if not self.unsynced:
            return
        self._write_buffer()
        assert self._fd is not None
        try:
            _datasync(self._fd)
        except OSError as exc:
            raise JournalError(f"cannot write the journal {self.path}: {exc}") from exc
        self._synced = self._written
        self.syncs += 1

    def write(self) -> PendingSync:
        """Write what was appended; the returned sync makes it (and all before) durable."""
        self._write_buffer()
        if self._fd is None:
            raise JournalError(f"the journal {self.path} is not open")
        try:
            fd = os.dup(self._fd)
        except OSError as exc:
            raise JournalError(f"cannot write the journal {self.path}: {exc}") from exc
        return PendingSync(fd, self.path, self._written)

    def synced(self, pending: PendingSync) -> None:
        """Record that ``pending.run()`` returned: what it covers is durable."""
        self._synced = max(self._synced, pending.position)
        self.syncs += 1

    def rotate(self, keep: Iterable[dict[str, Any]]) -> None:
        """Replace the journal with just ``keep`` (after a checkpoint)."""
        self.sync()
        data = b"".join(_line(r) for r in keep)
        try:
            write_atomic(self.path, data)
            if self._fd is not None:
                os.close(self._fd)
            self._fd = os.open(self.path, os.O_RDWR)
            self._end = self._size = len(data)
            self._synced = self._written  # write_atomic fsynced the new file
        except OSError as exc:
            raise JournalError(f"cannot rotate the journal {self.path}: {exc}") from exc

    def close(self) -> None:
        try:
            self.sync()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
