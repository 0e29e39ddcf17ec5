"""The rules of version actions (core/versions.py) and the typed ack (core/protocol.py)."""

from __future__ import annotations

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
        records=[{"conflict_id": "conflict_1"}, {"conflict_id": "conflict_2"}],
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
        "conflict_1": {"status": "open"},
        "conflict_2": {"status": "resolved"},
        "conflict_3": {"status": "open"},
    }
    assert merge.waiting(book) == ["conflict_1"]
    book["conflict_1"]["status"] = "aborted"
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
