"""The journal on real files: group commit, growth on demand, torn tails, damage, rotation."""

from __future__ import annotations

import json
import os
import threading
import zlib
from pathlib import Path

import pytest

from svgx_sync.core.journal_records import (
    ConflictsRecord,
    JournalRecord,
    OpRecord,
    ResetRecord,
    StrategyRecord,
    to_json,
)
from svgx_sync.durable.journal import PREALLOCATE, Journal, read_journal
from svgx_sync.errors import JournalError


def records(n: int, start: int = 1) -> list[JournalRecord]:
    return [OpRecord({"seq": i, "op_id": f"o{i}"}) for i in range(start, start + n)]


def written(path: Path, batch: list[JournalRecord]) -> list[int]:
    """Write ``batch`` one record per sync; where each record ends in the file."""
    journal = Journal(path)
    journal.open()
    ends = []
    for record in batch:
        journal.append(record)
        journal.sync()
        ends.append(len(path.read_bytes().rstrip(b"\0")))
    journal.close()
    return ends


def test_synced_records_are_read_back_and_the_zeros_ahead_are_ignored(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.log")
    assert journal.open() == []
    for r in records(3):
        journal.append(r)
    assert journal.unsynced
    journal.sync()
    assert not journal.unsynced and journal.syncs == 1
    data = (tmp_path / "j.log").read_bytes()
    assert data.endswith(b"\0")  # grown ahead, then zeros
    assert read_journal(tmp_path / "j.log") == records(3)
    journal.close()


def test_every_kind_of_record_is_read_back_as_the_same_value(tmp_path: Path) -> None:
    kinds: list[JournalRecord] = [
        StrategyRecord("manual"),
        ConflictsRecord([{"conflict_id": "c1", "status": "open"}], 1, 1, 0),
        OpRecord({"seq": 1, "op_id": "a", "operation_type": "move", "data": {"dx": 1}}),
        ResetRecord(2, "revert to x", {"document.svg": "<svg/>"}),
    ]
    written(tmp_path / "j.log", kinds)
    assert read_journal(tmp_path / "j.log") == kinds


def test_reopening_continues_after_the_last_record(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    for start in (1, 3, 5):
        journal = Journal(path)
        journal.open()
        for r in records(2, start):
            journal.append(r)
        journal.close()
    assert read_journal(path) == records(6)


def test_a_torn_tail_is_dropped_silently_and_never_followed_by_old_bytes(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    ends = written(path, records(3))
    data = path.read_bytes()
    # a crash mid-write: the third record half on disk, zeros where the rest was to go,
    # then whatever the file system left beyond
    torn = data[: (ends[1] + ends[2]) // 2] + b"\0" * 100 + b"junk\n"
    path.write_bytes(torn)
    assert read_journal(path) == records(2)
    journal = Journal(path)
    assert journal.open() == records(2)
    assert journal.damage == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.log"]  # nothing kept aside
    journal.append(records(1, 3)[0])
    journal.sync()
    assert read_journal(path) == records(3)
    journal.close()


def test_every_byte_flipped_loses_only_the_record_it_hit(tmp_path: Path) -> None:
    """One damaged byte anywhere costs at most the record that holds it: the journal
    reads on past it, keeps the damaged file aside, says which seq it lost, and takes
    new records after the ones it kept."""
    batch = records(5)
    original = tmp_path / "original.log"
    ends = written(original, batch)
    data = original.read_bytes()
    starts = [0, *ends[:-1]]
    for position in range(ends[-1]):
        hit = next(
            i for i, (a, b) in enumerate(zip(starts, ends, strict=True)) if a <= position < b
        )
        folder = tmp_path / f"flip-{position}"
        folder.mkdir()
        path = folder / "j.log"
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        path.write_bytes(bytes(damaged))
        kept = [r for i, r in enumerate(batch) if i != hit]

        journal = Journal(path)
        assert journal.open() == kept, position
        (damage,) = journal.damage
        lost = damage.seqs or [damage.after_seq]
        # The last record hit in its header: nothing says it held seq 5, only that
        # what came after seq 4 could not be read.
        assert lost == [hit + 1] or (hit == 4 and lost == [4] and not damage.seqs), damage
        copy = Path(damage.copy)
        assert copy.parent == folder and copy.name.startswith("j.log.damaged-")
        assert copy.read_bytes() == bytes(damaged)  # the damaged file, as it was found
        journal.append(records(1, 6)[0])
        journal.close()
        assert read_journal(path) == [*kept, *records(1, 6)], position
        # The report stays until the copy is looked at and removed.
        again = Journal(path)
        assert again.open() == [*kept, *records(1, 6)]
        assert again.damage == [damage]
        again.close()


def test_damage_past_the_last_readable_record_is_reported_not_taken_for_a_tear(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.log"
    ends = written(path, records(3))
    data = bytearray(path.read_bytes())
    # The last record's header and payload both hit: nothing in it can be read.
    for position in range(ends[1], ends[2], 7):
        data[position] ^= 0x55
    path.write_bytes(bytes(data))
    journal = Journal(path)
    assert journal.open() == records(2)
    (damage,) = journal.damage
    assert damage.seqs == [] and damage.after_seq == 2
    journal.close()


def old_line(record: JournalRecord) -> bytes:
    body = json.dumps(to_json(record), separators=(",", ":")).encode()
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def test_a_journal_of_the_line_format_is_read_and_migrated(tmp_path: Path) -> None:
    """Journals written before the framing (one ``<crc32 hex> <json>`` line a record,
    zeros grown ahead) are read, damaged lines skipped, and rewritten framed."""
    path = tmp_path / "j.log"
    lines = [old_line(r) for r in records(4)]
    broken = lines[1].replace(b'"o2"', b'"oX"')  # its CRC no longer matches
    path.write_bytes(lines[0] + broken + lines[2] + lines[3] + b"\0" * 4096)
    journal = Journal(path)
    kept = [records(1)[0], *records(2, 3)]
    assert journal.open() == kept
    assert [d.seqs for d in journal.damage] == [[2]]
    journal.append(records(1, 5)[0])
    journal.close()
    assert read_journal(path) == [*kept, *records(1, 5)]
    assert not path.read_bytes().startswith(lines[0])  # framed now


def test_a_journal_of_the_line_format_with_its_first_line_damaged_is_still_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.log"
    lines = [old_line(r) for r in records(3)]
    path.write_bytes(b"zz" + lines[0][2:] + lines[1] + lines[2])
    journal = Journal(path)
    assert journal.open() == records(2, 2)
    assert [d.seqs for d in journal.damage] == [[1]]
    journal.close()


def test_an_undamaged_journal_of_the_line_format_is_migrated_without_a_report(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.log"
    path.write_bytes(b"".join(old_line(r) for r in records(3)) + b'0badc0de {"kind"')
    journal = Journal(path)
    assert journal.open() == records(3)
    assert journal.damage == []
    journal.close()
    assert read_journal(path) == records(3)


def test_growth_is_on_demand_so_many_small_journals_stay_small(tmp_path: Path) -> None:
    """A journal grows ahead of its records in steps that start small and double up to
    PREALLOCATE: hundreds of documents with a few operations each do not take a
    mebibyte each."""
    for i in range(300):
        written(tmp_path / f"j{i}.log", records(3))
    used = sum(p.stat().st_blocks * 512 for p in tmp_path.iterdir())
    assert used < 300 * 64 * 1024, used
    # A busy journal still grows in big steps (few size changes to commit).
    busy = tmp_path / "busy.log"
    journal = Journal(busy)
    journal.open()
    sizes = set()
    for r in records(20000):
        journal.append(r)
        if r.seq % 100 == 0:
            journal.sync()
            sizes.add(os.path.getsize(busy))
    journal.close()
    assert max(sizes) > PREALLOCATE and len(sizes) < 20


def test_a_pending_sync_runs_in_another_thread_and_survives_rotation(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    journal = Journal(path)
    journal.open()
    for r in records(2):
        journal.append(r)
    pending = journal.write()
    assert journal.unsynced  # written, not yet known durable
    journal.rotate(records(1, 2))  # its own descriptor keeps the pending fsync valid
    worker = threading.Thread(target=pending.run)
    worker.start()
    worker.join()
    journal.synced(pending)
    assert not journal.unsynced
    journal.append(records(1, 3)[0])
    journal.close()
    assert read_journal(path) == records(2, 2)


@pytest.mark.parametrize("garbage", [b"not a journal at all", b"\xf5" * 40])
def test_a_file_that_holds_no_record_is_kept_aside_and_started_anew(
    tmp_path: Path, garbage: bytes
) -> None:
    path = tmp_path / "j.log"
    path.write_bytes(garbage)
    journal = Journal(path)
    assert journal.open() == []
    (damage,) = journal.damage
    assert Path(damage.copy).read_bytes() == garbage and damage.after_seq == 0
    journal.close()


def test_rotation_keeps_what_it_is_given_and_frames_only_entries_it_did_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from svgx_sync.durable import journal as module

    path = tmp_path / "j.log"
    journal = Journal(path)
    journal.open()
    appended = records(50)
    for r in appended:
        journal.append(r)
    journal.sync()
    framed: list[JournalRecord] = []
    frame = module._frame
    monkeypatch.setattr(module, "_frame", lambda r: framed.append(r) or frame(r))
    # seq 40 is kept as another dict (an entry served inert): framed anew, not the old one
    served = OpRecord({"seq": 40, "op_id": "o40", "active_content": []})
    keep = [StrategyRecord("automatic"), *appended[30:39], served, *appended[40:]]
    journal.rotate(keep)
    assert read_journal(path) == keep
    assert framed == [keep[0], served]
    # kept frames serve the next rotation too; new appends are framed once
    framed.clear()
    (latest,) = records(1, 51)
    journal.append(latest)
    journal.rotate([*keep[5:], latest])
    journal.close()
    assert read_journal(path) == [*keep[5:], latest]
    assert framed == [latest]


def test_a_rotation_since_a_mark_keeps_every_record_appended_after_it(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    journal = Journal(path)
    journal.open()
    for r in records(5):
        journal.append(r)
    mark = journal.mark(5)  # a checkpoint read the state at seq 5
    after = records(3, 6)
    for r in after:
        journal.append(r)
    journal.sync()
    keep = [StrategyRecord("automatic"), *records(2, 4)]
    journal.rotate(keep, since=mark)
    assert read_journal(path) == keep + after
    journal.append(records(1, 9)[0])
    journal.sync()
    assert read_journal(path) == [*keep, *after, *records(1, 9)]
    # A mark from before another rotation cannot tell what came after it.
    with pytest.raises(JournalError, match="rotated since"):
        journal.rotate(keep, since=mark)
    assert read_journal(path) == [*keep, *after, *records(1, 9)]
    journal.close()
