"""The operation journal: what was acknowledged, on disk before anyone hears of it.

One append-only file per live document branch, under ``.git/svgx/`` of the document's
repository (git ignores unknown files there and never packs or prunes them). Each
record (:mod:`svgx_sync.core.journal_records`, as JSON) is a frame::

    magic "\\xf5SJ1" | length u32 | seq u64 (0: none) | crc32 of payload u32
    | crc32 of the 20 bytes before u32 | payload (length bytes of JSON)

all big-endian. The magic starts with a byte UTF-8 never uses, so it never occurs in a
payload. The file is grown ahead of the records in zero-filled steps, and records
overwrite those zeros: an fdatasync then flushes data blocks only, with no file-size
change for the file system to commit (on ext4 about half the time of an append). The
steps start at :data:`FIRST_STEP` and double up to :data:`PREALLOCATE`, so a journal
holding a few records takes a few KiB, not a mebibyte. Readers stop at the zeros.

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
* :meth:`Journal.rotate` replaces the file with what a checkpoint must keep. A checkpoint
  built in a worker thread takes a :meth:`Journal.mark` when it reads the live state;
  its rotation keeps, after what it must keep, every record appended since the mark
  (they are not in the checkpoint).
* A torn tail (a crash mid-write: a frame cut short, or zeros where its bytes were to
  go) was never acknowledged and is cut silently.
* Damage anywhere else costs only the records it hit: the reader resynchronises at the
  next frame that checks out, and :meth:`Journal.open` first copies the file aside
  (``<journal>.damaged-<UTC time>``), then rewrites the journal with the records it
  could read, and records a :class:`JournalDamage` report beside the copy
  (``.json``). The reports stand, in :attr:`Journal.damage`, until an operator removes
  the copy and its report. A frame whose header checks out names its seq even when its
  payload is lost; otherwise the seqs are those missing between the readable ones.
* A journal of the earlier format (``<crc32 hex> <json>`` lines) is read line by line,
  skipping damaged lines the same way, and rewritten framed on open.
* :meth:`Journal.rotate` replaces the file atomically (temporary file, fsync, rename,
  fsync of the folder) with the records given, after a checkpoint made the rest
  redundant.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import time
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from ..core.journal_records import JournalRecord, OpRecord, from_json, to_json
from ..errors import JournalError
from .atomic import write_atomic

__all__ = [
    "FIRST_STEP",
    "PREALLOCATE",
    "Journal",
    "JournalDamage",
    "JournalMark",
    "PendingSync",
    "journal_path",
    "read_journal",
]

log = logging.getLogger(__name__)


def journal_path(git_dir: str | Path, branch: str) -> Path:
    """Where the journal of ``branch`` lives (branch names may contain ``/``)."""
    return Path(git_dir) / "svgx" / f"journal-{quote(branch, safe='')}.log"


# fdatasync also persists a new file size, which is all a growing step needs.
_datasync = getattr(os, "fdatasync", os.fsync)

PREALLOCATE = 1 << 20
"""The largest step of zeros written ahead of the records when the journal needs room."""

FIRST_STEP = 4096
"""The first step; each step is as large as the journal then is, up to PREALLOCATE."""

FRAMED_KEPT = 50_000
"""At most this many frames of op records are kept for the next rotation (the recent
entries a rotation keeps are ``history_size``, ten thousand by default)."""

MAGIC = b"\xf5SJ1"
_HEADER = struct.Struct(">4sIQII")
_MAX_PAYLOAD = 1 << 30
# A line of the earlier format at the start of the file or after a newline.
_OLD_LINE = re.compile(rb"(?:^|\n)[0-9a-f]{8} \{")


def _frame(record: JournalRecord) -> bytes:
    payload = orjson.dumps(to_json(record))
    head = struct.pack(">4sIQI", MAGIC, len(payload), record.seq or 0, zlib.crc32(payload))
    return head + struct.pack(">I", zlib.crc32(head)) + payload


@dataclass(slots=True)
class JournalDamage:
    """What a damaged journal lost: the ``seqs`` known unreadable, and ``after_seq``
    when the damage runs past the last readable record (later seqs unknown: 0 for none
    readable at all); ``copy`` is the damaged file, kept as it was found."""

    copy: str
    found_at: str
    seqs: list[int] = field(default_factory=list)
    after_seq: int | None = None
    regions: int = 0
    damaged_bytes: int = 0

    def describe(self) -> str:
        """One line for the log and for people."""
        lost = ", ".join(map(str, self.seqs)) or "none known"
        later = "" if self.after_seq is None else f"; records after seq {self.after_seq} unreadable"
        return (
            f"{self.damaged_bytes} damaged bytes in {self.regions} place(s); seqs lost: "
            f"{lost}{later}; the damaged file is kept as {self.copy}"
        )


@dataclass(slots=True)
class _Scan:
    """What reading a journal's bytes found: the records and the bytes that frame them,
    the damaged regions (start, end, seqs their headers name), and where it stopped."""

    records: list[JournalRecord] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    regions: list[tuple[int, int, list[int]]] = field(default_factory=list)
    end: int = 0
    old_format: bool = False

    def add(self, record: JournalRecord, frame: bytes, start: int) -> None:
        self.records.append(record)
        self.frames.append(frame)
        self.starts.append(start)


def _header(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """The (length, seq, payload crc) of a frame header at ``pos`` that checks out."""
    if data[pos : pos + 4] != MAGIC or len(data) < pos + _HEADER.size:
        return None
    _, length, seq, crc, check = _HEADER.unpack_from(data, pos)
    if check != zlib.crc32(data[pos : pos + _HEADER.size - 4]) or not 0 < length < _MAX_PAYLOAD:
        return None
    return length, seq, crc


def _frame_at(data: bytes, pos: int, size: int) -> tuple[JournalRecord, int] | None:
    """The record of a whole, intact frame at ``pos``, and where the frame ends."""
    header = _header(data, pos)
    if header is None:
        return None
    length, _, crc = header
    start = pos + _HEADER.size
    end = start + length
    if end > size or zlib.crc32(data[start:end]) != crc:
        return None
    try:
        return from_json(orjson.loads(data[start:end])), end
    except ValueError:  # orjson.JSONDecodeError is one too
        return None


def _next_frame(data: bytes, pos: int, size: int) -> int | None:
    """Where the next intact frame after ``pos`` starts."""
    while (pos := data.find(MAGIC, pos + 1, size)) >= 0:
        if _frame_at(data, pos, size) is not None:
            return pos
    return None


def _torn(data: bytes, pos: int, size: int) -> bool:
    """Whether the bytes from ``pos`` to the end look like a write cut short: a crash
    leaves a frame's bytes missing or zero (JSON never holds a zero byte), while damage
    leaves it whole and wrong."""
    if data[pos] == 0:
        return True
    if size - pos < _HEADER.size:
        return MAGIC.startswith(data[pos : pos + len(MAGIC)])
    header = _header(data, pos)
    if header is None:
        return False
    start = pos + _HEADER.size
    return start + header[0] > size or b"\0" in data[start : start + header[0]]


def _scan(data: bytes) -> _Scan:
    """Every intact record of a framed journal, resynchronising past damage."""
    scan = _Scan()
    size = len(data.rstrip(b"\0"))  # the zeros grown ahead of the records
    pos = 0
    while pos < size:
        found = _frame_at(data, pos, size)
        if found is not None:
            scan.add(found[0], data[pos : found[1]], pos)
            pos = scan.end = found[1]
            continue
        resume = _next_frame(data, pos, size)
        if resume is None and _torn(data, pos, size):
            break
        stop = size if resume is None else resume
        scan.regions.append((pos, stop, _named_seqs(data, pos, stop)))
        pos = stop
    return scan


def _named_seqs(data: bytes, pos: int, stop: int) -> list[int]:
    """The seqs that intact headers between ``pos`` and ``stop`` name."""
    seqs: list[int] = []
    pos -= 1
    while (pos := data.find(MAGIC, pos + 1, stop)) >= 0:
        header = _header(data, pos)
        if header is not None and header[1]:
            seqs.append(header[1])
    return seqs


def _scan_lines(data: bytes) -> _Scan:
    """Every intact record of a journal of the line format, skipping damaged lines."""
    scan = _Scan(old_format=True)
    size = len(data.rstrip(b"\0"))
    pos = 0
    while pos < size:
        newline = data.find(b"\n", pos, size)
        if newline < 0:
            break  # a torn last line
        line = data[pos:newline]
        try:
            crc, body = line.split(b" ", 1)
            if int(crc, 16) != zlib.crc32(body):
                raise ValueError("crc")
            record = from_json(orjson.loads(body))
        except ValueError:
            scan.regions.append((pos, newline + 1, []))
        else:
            scan.add(record, _frame(record), pos)
        pos = newline + 1
    scan.end = pos
    return scan


def _read(data: bytes) -> _Scan:
    """A framed journal starts with the magic; a journal of the line format has a line
    of that format somewhere, even when its first one is damaged."""
    if data.startswith(MAGIC) or not _OLD_LINE.search(data):
        return _scan(data)
    return _scan_lines(data)


def _lost_seqs(scan: _Scan) -> tuple[list[int], int | None]:
    """The seqs each damaged region took (named by its headers, else the gap between
    the readable records around it), and the last readable seq when damage runs to the
    end and nothing after it is known."""
    lost: set[int] = set()
    after: int | None = None
    placed = list(zip(scan.starts, (r.seq for r in scan.records), strict=True))
    for start, stop, named in scan.regions:
        before = [seq for at, seq in placed if at < start and seq is not None]
        later = [seq for at, seq in placed if at >= stop and seq is not None]
        low = max(before, default=0)
        lost.update(named)
        if later:
            lost.update(range(low + 1, min(later)))
        elif not named:
            after = low
    return sorted(lost), after


def read_journal(path: Path) -> list[JournalRecord]:
    """The intact records of a journal (none when it does not exist); reads only."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc}") from exc
    return _read(data).records


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


@dataclass(frozen=True, slots=True)
class JournalMark:
    """Where the journal ended when a checkpoint read the live state at ``seq``."""

    rotation: int  # how many rotations the journal had seen then
    end: int
    seq: int


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
        self.rotations = 0
        self.damage: list[JournalDamage] = []
        # The frames of the op records appended or kept since the last rotation, by seq,
        # with the entry each framed: the next rotation keeps the recent entries (ten
        # thousand by default), and framing them all again was half of its 19 ms.
        self._framed: dict[int, tuple[dict[str, Any], bytes]] = {}

    def open(self) -> list[JournalRecord]:
        """Open for appending; returns the records read. Damage found is kept aside and
        reported (:attr:`damage`) before anything is rewritten."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                data = b""
            scan = _read(data)
            if scan.regions:
                self._keep_aside(data, scan)
            if scan.regions or scan.old_format:
                write_atomic(self.path, b"".join(scan.frames))
                self._fd = os.open(self.path, os.O_RDWR)
                self._end = sum(map(len, scan.frames))
            else:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                self._end = scan.end
                if len(data) != self._end:
                    # A torn last record, or zeros grown ahead: drop both, so nothing
                    # old can ever follow the next record.
                    os.ftruncate(self._fd, self._end)
                    os.fsync(self._fd)
            self._size = self._end
            self.damage = _reports(self.path)
        except OSError as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from exc
        return scan.records

    def _keep_aside(self, data: bytes, scan: _Scan) -> None:
        """Copy the damaged file next to the journal, durably, with a report of what it
        lost: before the journal itself is rewritten."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        copy = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        n = 1
        while copy.exists():
            n += 1
            copy = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}")
        seqs, after = _lost_seqs(scan)
        damage = JournalDamage(
            str(copy),
            stamp,
            seqs,
            after,
            len(scan.regions),
            sum(stop - start for start, stop, _ in scan.regions),
        )
        write_atomic(copy, data)
        write_atomic(Path(f"{copy}.json"), orjson.dumps(asdict(damage)))
        log.error("journal %s was damaged: %s", self.path, damage.describe())

    def append(self, record: JournalRecord) -> None:
        frame = _frame(record)
        if isinstance(record, OpRecord):
            framed = self._framed
            framed[record.seq] = (record.entry, frame)
            if len(framed) > FRAMED_KEPT:  # checkpoints failing: the oldest go
                del framed[next(iter(framed))]
        self._buffer.append(frame)

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
                size = end + min(PREALLOCATE, max(FIRST_STEP, end))
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

    def mark(self, seq: int) -> JournalMark:
        """Where the journal ends now, everything in it synced (a checkpoint of ``seq``
        reads the live state): see :meth:`rotate`."""
        self.sync()
        return JournalMark(self.rotations, self._end, seq)

    def rotate(self, keep: Iterable[JournalRecord], since: JournalMark | None = None) -> None:
        """Replace the journal with just ``keep`` (after a checkpoint), followed by every
        record appended after ``since`` (a checkpoint built while operations went on).
        A mark from before another rotation cannot say what came after it: refused."""
        self.sync()
        tail = b""
        if since is not None:
            if since.rotation != self.rotations:
                raise JournalError(f"the journal {self.path} was rotated since the checkpoint")
            tail = self._read_from(since.end)
        framed, self._framed = self._framed, {}
        frames = []
        for record in keep:
            if isinstance(record, OpRecord):
                known = framed.get(record.seq)
                # the very entry framed before (an entry served otherwise is framed anew)
                frame = known[1] if known and known[0] is record.entry else _frame(record)
                self._framed[record.seq] = (record.entry, frame)
            else:
                frame = _frame(record)
            frames.append(frame)
        if since is not None:  # the tail's records, framed when they were appended
            self._framed.update((seq, v) for seq, v in framed.items() if seq > since.seq)
        frames.append(tail)
        data = b"".join(frames)
        try:
            write_atomic(self.path, data)
            if self._fd is not None:
                os.close(self._fd)
            self._fd = os.open(self.path, os.O_RDWR)
            self._end = self._size = len(data)
            self._synced = self._written  # write_atomic fsynced the new file
        except OSError as exc:
            raise JournalError(f"cannot rotate the journal {self.path}: {exc}") from exc
        self.rotations += 1

    def _read_from(self, start: int) -> bytes:
        """The records written from ``start`` to the end."""
        if self._fd is None:
            raise JournalError(f"the journal {self.path} is not open")
        parts, pos = [], start
        try:
            while pos < self._end:
                chunk = os.pread(self._fd, self._end - pos, pos)
                if not chunk:
                    raise JournalError(f"the journal {self.path} is shorter than written")
                parts.append(chunk)
                pos += len(chunk)
        except OSError as exc:
            raise JournalError(f"cannot read the journal {self.path}: {exc}") from exc
        return b"".join(parts)

    def close(self) -> None:
        try:
            self.sync()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _reports(path: Path) -> list[JournalDamage]:
    """The damage reports kept beside the journal at ``path``, oldest first."""
    found = []
    for report in sorted(path.parent.glob(f"{path.name}.damaged-*.json")):
        try:
            found.append(JournalDamage(**orjson.loads(report.read_bytes())))
        except (OSError, ValueError, TypeError):
            log.warning("cannot read the journal damage report %s", report)
    return found
