"""The journal on real files: group commit, the zeros grown ahead, torn tails, rotation."""

from __future__ import annotations

import threading
from pathlib import Path

from svgx_sync.durable.journal import PREALLOCATE, Journal, read_journal


def records(n: int, start: int = 0) -> list[dict]:
    return [{"kind": "op", "op": {"seq": i, "op_id": f"o{i}"}} for i in range(start, start + n)]


def test_synced_records_are_read_back_and_the_zeros_ahead_are_ignored(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.log")
    journal.open()
    for r in records(3):
        journal.append(r)
    assert journal.unsynced
    journal.sync()
    assert not journal.unsynced and journal.syncs == 1
    data = (tmp_path / "j.log").read_bytes()
    assert len(data) > PREALLOCATE and data.endswith(b"\0")  # grown ahead, then zeros
    assert read_journal(tmp_path / "j.log") == records(3)
    journal.close()


def test_reopening_continues_after_the_last_record(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    for start in (0, 2, 4):
        journal = Journal(path)
        journal.open()
        for r in records(2, start):
            journal.append(r)
        journal.close()
    assert read_journal(path) == records(6)


def test_a_torn_tail_is_dropped_and_never_followed_by_old_bytes(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    journal = Journal(path)
    journal.open()
    for r in records(2):
        journal.append(r)
    journal.close()
    data = path.read_bytes().rstrip(b"\0")
    # a crash mid-write: half a line, then garbage where the zeros were
    path.write_bytes(data + b'0badc0de {"kind": "op", "op"' + b"\0" * 100 + b"junk\n")
    assert read_journal(path) == records(2)
    journal = Journal(path)
    journal.open()
    journal.append(records(1, 2)[0])
    journal.sync()
    assert read_journal(path) == records(3)
    journal.close()


def test_a_pending_sync_runs_in_another_thread_and_survives_rotation(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    journal = Journal(path)
    journal.open()
    for r in records(2):
        journal.append(r)
    pending = journal.write()
    assert journal.unsynced  # written, not yet known durable
    journal.rotate(records(1, 1))  # its own descriptor keeps the pending fsync valid
    worker = threading.Thread(target=pending.run)
    worker.start()
    worker.join()
    journal.synced(pending)
    assert not journal.unsynced
    journal.append(records(1, 2)[0])
    journal.close()
    assert read_journal(path) == records(2, 1)
