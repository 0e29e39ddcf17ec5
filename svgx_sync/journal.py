"""The operation journal: what was acknowledged, on disk before anyone hears of it.

One append-only file per live document branch, under ``.git/svgx/`` of the document's
repository (git ignores unknown files there and never packs or prunes them). Each line
is ``<crc32 hex> <json>\\n``; the CRC covers the JSON bytes.

Guarantees:

* :meth:`Journal.append` buffers; :meth:`Journal.sync` writes and fsyncs everything
  appended so far, once (group commit: one fsync per batch). Only after ``sync`` returns
  may the records be acknowledged.
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

from .atomic import write_atomic
from .errors import JournalError

__all__ = ["Journal", "journal_path", "read_journal"]

log = logging.getLogger(__name__)


def journal_path(git_dir: Path, branch: str) -> Path:
    """Where the journal of ``branch`` lives (branch names may contain ``/``)."""
    return Path(git_dir) / "svgx" / f"journal-{quote(branch, safe='')}.log"


# fdatasync also persists the new file size, which is all an append needs.
_datasync = getattr(os, "fdatasync", os.fsync)


def _line(record: dict[str, Any]) -> bytes:
    body = orjson.dumps(record)
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The intact records of a journal (none when it does not exist)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc}") from exc
    records: list[dict[str, Any]] = []
    lines = data.split(b"\n")
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        torn = number == len(lines)  # no newline after it: the write was cut short
        try:
            crc, body = line.split(b" ", 1)
            if torn or int(crc, 16) != zlib.crc32(body):
                raise ValueError("crc")
            records.append(orjson.loads(body))
        except ValueError:
            remaining = sum(1 for rest in lines[number:] if rest)
            log.warning(
                "journal %s: line %d is torn or corrupt; ignoring it and %d later line(s)",
                path,
                number,
                remaining,
            )
            break
    return records


class Journal:
    """The open journal of one live document branch."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._buffer: list[bytes] = []
        self._fd: int | None = None
        self.syncs = 0
        self.records = 0

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._truncate_torn_tail()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from exc

    def _truncate_torn_tail(self) -> None:
        # A torn last line would otherwise glue itself to the next record.
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as handle:
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())

    def append(self, record: dict[str, Any]) -> None:
        self._buffer.append(_line(record))

    @property
    def pending(self) -> bool:
        return bool(self._buffer)

    def sync(self) -> None:
        """Write and fsync everything appended so far (one fsync for the whole batch)."""
        if not self._buffer:
            return
        if self._fd is None:
            raise JournalError(f"the journal {self.path} is not open")
        data = b"".join(self._buffer)
        count = len(self._buffer)
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            _datasync(self._fd)
        except OSError as exc:
            raise JournalError(f"cannot write the journal {self.path}: {exc}") from exc
        self._buffer.clear()
        self.syncs += 1
        self.records += count

    def rotate(self, keep: Iterable[dict[str, Any]]) -> None:
        """Replace the journal with just ``keep`` (after a checkpoint)."""
        self.sync()
        data = b"".join(_line(r) for r in keep)
        try:
            write_atomic(self.path, data)
            if self._fd is not None:
                os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise JournalError(f"cannot rotate the journal {self.path}: {exc}") from exc

    def close(self) -> None:
        try:
            self.sync()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
