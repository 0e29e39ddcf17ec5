"""The rules of version actions (core/versions.py), the typed ack and the version replies
(core/protocol.py)."""

from __future__ import annotations

from svgx_sync.core import protocol as P
from svgx_sync.core.conflict_record import ConflictRecord
from svgx_sync.core.protocol import Ack, ack
from svgx_sync.core.versions import BranchMerge, author, revert_deletes


def test_a_version_is_made_by_who_the_request_names_else_by_the_connection() -> None:
    assert author("carol", "bob", "alice", "Alice") == ("carol", "carol")
    assert author(None, "bob", "alice", "Alice") == ("bob", "bob")
    assert author(None, None, "alice", "Alice") == ("alice", "Alice")
    assert author(None, "alice", "alice", "Alice") == ("alice", "Alice")
    assert author(None, None, None, None) == ("user", "user")


def test_a_revert_deletes_the_live_files_the_target_lacks() -> None:
    assert revert_deletes(["a.svg", "b.svg"], {"a.svg": b"A"}) == {"b.svg": None}
    assert revert_deletes(["a.svg"], {"a.svg": b"A", "c.svg": b"C"}) == {}


def _merge() -> BranchMerge:
    return BranchMerge.start(
        "feature",
        "o1",
        "t1",
        before={"a.svg": b"A"},
        theirs_files={"a.svg": b"A2", "new.svg": b"N"},
        records=[
            ConflictRecord.from_state({"conflict_id": "conflict_1"}),
            ConflictRecord.from_state({"conflict_id": "conflict_2"}),
        ],
    )


def test_a_branch_merge_keeps_what_only_theirs_has_and_its_two_parents() -> None:
    merge = _merge()
    assert merge.conflict_ids == ("conflict_1", "conflict_2")
    assert merge.theirs_only == {"new.svg": b"N"}
    assert merge.parents == ["o1", "t1"]
    assert merge.files({"a.svg": b"A3"}) == {"new.svg": b"N", "a.svg": b"A3"}
    assert merge.description(None, "main") == "Merge branch 'feature' into main"
    assert merge.description("Mine", "main") == "Mine"


def test_a_branch_merge_waits_on_its_open_conflicts_only() -> None:
    merge = _merge()
    book = {
        cid: ConflictRecord("attribute", "a.svg", "r", "@fill", ["ada"], "merge_branch", status)
        for cid, status in (
            ("conflict_1", "open"),
            ("conflict_2", "resolved"),
            ("conflict_3", "open"),
        )
    }
    assert merge.waiting(book) == ["conflict_1"]
    book["conflict_1"].status = "aborted"
    assert merge.waiting(book) == []


def test_an_ack_carries_only_what_it_has() -> None:
    assert ack(Ack("a1", 3, "applied")) == {
        "type": "ack",
        "op_id": "a1",
        "seq": 3,
        "status": "applied",
    }
    refused = ack(Ack("a2", None, "rejected", reason="deleted", conflict_ids=("conflict_1",)))
    assert refused["reason"] == "deleted" and refused["conflict_ids"] == ["conflict_1"]
    assert "current_state" not in refused


def test_branch_merged_says_either_the_commit_or_that_nothing_was_to_merge() -> None:
    assert P.branch_merged("feature", up_to_date=True) == {
        "type": "branch_merged",
        "branch": "feature",
        "up_to_date": True,
    }
    merged = P.branch_merged("feature", version_id="v9", notes=["kept b.svg"])
    assert merged == {
        "type": "branch_merged",
        "branch": "feature",
        "version_id": "v9",
        "notes": ["kept b.svg"],
    }
    assert "notes" not in P.branch_merged("feature", version_id="v9")


def test_a_reload_message_carries_the_seq_and_every_file() -> None:
    reverted = P.reload(P.version_reverted("v2", "v1", "alice"), 7, {"a.svg": "<svg/>"})
    assert reverted == {
        "type": "version_reverted",
        "version_id": "v2",
        "reverted_to": "v1",
        "created_by": "alice",
        "seq": 7,
        "files": {"a.svg": "<svg/>"},
    }
    assert P.reload(P.merge_aborted("feature"), 3, {})["type"] == "merge_aborted"
