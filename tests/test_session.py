"""The live session's ordering, idempotence, catch-up and replay, without I/O."""

from __future__ import annotations

import pytest

from svgx_sync.core.conflict_record import ConflictRecord, OpRef
from svgx_sync.core.journal_records import ConflictsRecord, OpRecord, from_json
from svgx_sync.core.ops import coerce_operation
from svgx_sync.core.protocol import Ack
from svgx_sync.core.replay import replay_journal, retained
from svgx_sync.core.session import LiveDocument, version_files
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.errors import NotFound, OperationError, UnknownElement

SOURCE = b"""<svg xmlns="http://www.w3.org/2000/svg">
  <rect id="r1" x="0" y="0" width="10" height="10"/>
</svg>
"""


def live(**kw) -> LiveDocument:
    return LiveDocument("doc", "main", {"document.svg": SOURCE}, **kw)


def op(user: str, kind: str, element: str, data: dict | None = None, op_id: str | None = None):
    return coerce_operation(
        {
            "operation_type": kind,
            "user_id": user,
            "element_id": element,
            "data": data or {},
            "op_id": op_id,
        }
    )


def test_operations_get_consecutive_seqs_and_entries():
    d = live()
    a = d.submit(
        op("a", "update", "r1", {"position": {"x": 5, "y": 5}}, "a1"), base_seq=None, now=0
    )
    b = d.submit(op("b", "create", "c1", {"type": "circle"}, "b1"), base_seq=None, now=0)
    assert (a.ack, b.seq) == (Ack("a1", 1, "applied"), 2)
    assert [e["seq"] for e in a.entries + b.entries] == [1, 2]
    assert a.entries[0]["file"] == "document.svg" and a.entries[0]["user_id"] == "a"
    assert [type(r) for r in a.journal] == [OpRecord]


def test_a_resent_op_id_is_applied_once_and_answered_again():
    d = live()
    first = d.submit(op("a", "move", "r1", {"dx": 1, "dy": 0}, "m1"), base_seq=0, now=0)
    again = d.submit(op("a", "move", "r1", {"dx": 1, "dy": 0}, "m1"), base_seq=0, now=0)
    assert again.duplicate and again.ack == first.ack and again.entries == []
    assert d.files["document.svg"].get("r1").get("x") == "1"
    assert d.seq == 1


def test_operations_without_op_id_get_a_deterministic_one():
    d = live()
    out = d.submit(op("a", "update", "r1", {"attributes": {"fill": "red"}}), base_seq=0, now=0)
    assert out.ack.op_id == "auto-1" and out.entries[0]["op_id"] == "auto-1"


def test_invalid_operations_raise_and_change_nothing():
    d = live()
    with pytest.raises(UnknownElement):
        d.submit(op("a", "update", "nope", {"attributes": {"x": "1"}}, "x1"), base_seq=0, now=0)
    with pytest.raises(OperationError):
        d.submit(op("a", "update", "r1", {"bogus": 1}, "x2"), base_seq=0, now=0)
    with pytest.raises(NotFound):
        d.submit(
            op("a", "update", "r1", {}, "x3").model_copy(update={"file": "other.svg"}),
            base_seq=0,
            now=0,
        )
    assert d.seq == 0 and d.texts()["document.svg"] == SOURCE.decode()


def test_select_is_presence_not_a_document_change():
    d = live()
    out = d.submit(op("a", "select", "r1", {}, "s1"), base_seq=0, now=0)
    assert out.status == "presence" and d.seq == 0 and out.entries == []


def test_a_conflict_is_recorded_and_journalled():
    d = live()
    d.submit(op("a", "update", "r1", {"attributes": {"fill": "red"}}, "a1"), base_seq=0, now=0)
    out = d.submit(
        op("b", "update", "r1", {"attributes": {"fill": "blue"}}, "b1"), base_seq=0, now=0
    )
    assert out.status == "applied" and len(out.conflicts) == 1
    assert out.ack.conflict_ids == (out.conflicts[0].conflict_id,)
    assert [type(r) for r in out.journal] == [OpRecord, ConflictsRecord]
    resolved = d.resolve_conflict(out.conflicts[0].conflict_id, "ours", "a", now=1)
    assert resolved.resolved.status == "resolved"
    assert d.files["document.svg"].get("r1").get("fill") == "red"
    with pytest.raises(NotFound):
        d.resolve_conflict("conflict_99", "ours", "a", now=1)


def test_manual_strategy_holds_the_later_operation():
    d = live(strategy="manual")
    d.submit(op("a", "update", "r1", {"attributes": {"fill": "red"}}, "a1"), base_seq=0, now=0)
    out = d.submit(
        op("b", "update", "r1", {"attributes": {"fill": "blue"}}, "b1"), base_seq=0, now=0
    )
    assert out.status == "pending" and out.seq is None and out.entries == []


def test_catch_up_returns_exactly_the_missed_entries():
    d = live(history_size=100)
    for i in range(5):
        d.submit(op("a", "move", "r1", {"dx": 1, "dy": 0}, f"m{i}"), base_seq=None, now=0)
    assert [e["seq"] for e in d.since(2)] == [3, 4, 5]
    assert d.since(5) == []
    assert d.since(6) is None


def test_catch_up_refuses_what_fell_out_of_the_ring():
    d = live(history_size=100)
    for i in range(150):
        d.submit(op("a", "move", "r1", {"dx": 1, "dy": 0}, f"m{i}"), base_seq=None, now=0)
    assert d.since(10) is None
    assert len(d.since(50)) == 100


def test_replay_rebuilds_the_same_state():
    d = live()
    journal = []
    for i, (kind, element, data) in enumerate(
        [
            ("create", "c1", {"type": "circle", "position": {"x": 1, "y": 2}}),
            ("update", "r1", {"attributes": {"fill": "red"}}),
            ("update", "r1", {"attributes": {"fill": "blue"}}),
            ("delete", "c1", {}),
        ]
    ):
        out = d.submit(op(f"u{i % 2}", kind, element, data, f"o{i}"), base_seq=0, now=0)
        journal.extend(out.journal)
    again = live()
    assert replay_journal(again, journal, after_seq=0) == 4
    assert again.texts() == d.texts() and again.seq == d.seq
    assert again.book.conflicts.keys() == d.book.conflicts.keys()
    assert again.submit(
        op("u0", "create", "c1", {"type": "circle"}, "o0"), base_seq=0, now=0
    ).duplicate


def test_replay_after_a_checkpoint_only_rebuilds_answers():
    d = live()
    journal = []
    for i in range(3):
        journal += d.submit(
            op("a", "move", "r1", {"dx": 1, "dy": 0}, f"m{i}"), base_seq=None, now=0
        ).journal
    checkpoint = d.contents()
    again = LiveDocument("doc", "main", checkpoint, seq=3)
    assert replay_journal(again, journal, after_seq=3) == 0
    assert again.texts() == d.texts() and again.since(1) is not None
    assert again.submit(
        op("a", "move", "r1", {"dx": 1, "dy": 0}, "m1"), base_seq=None, now=0
    ).duplicate


def test_take_dirty_gives_minimal_renders_and_records_last_written():
    d = live()
    d.submit(op("a", "update", "r1", {"attributes": {"fill": "red"}}, "a1"), base_seq=0, now=0)
    written = d.take_dirty()
    assert list(written) == ["document.svg"]
    assert written["document.svg"] == SOURCE.replace(b'height="10"/>', b'height="10" fill="red"/>')
    assert d.last_written["document.svg"] == written["document.svg"]
    assert d.take_dirty() == {}


def test_external_edits_are_numbered_as_the_external_user():
    d = live()
    (out,) = d.apply_external(
        "document.svg", [op("external", "update", "r1", {"attributes": {"fill": "red"}})], now=0
    )
    assert out.entries[0]["user_id"] == "external" and out.seq == 1


def test_reset_replaces_the_files_and_breaks_catch_up():
    d = live()
    d.submit(op("a", "move", "r1", {"dx": 1, "dy": 0}, "m0"), base_seq=None, now=0)
    record = d.reset({"document.svg": SOURCE}, reason="revert")
    assert d.seq == 2 and d.since(1) is None and d.since(2) == []
    again = live()
    replay_journal(again, [*(), record], after_seq=0)
    assert again.texts() == d.texts() and again.seq == 2


def test_whole_files_join_and_leave_in_seq_order_and_replay():
    d = live()
    added = d.add_file("extra.svg", SOURCE, user_id="external", now=1.0)
    (entry,) = added.entries
    assert (entry["operation_type"], entry["file"], entry["seq"]) == ("file_add", "extra.svg", 1)
    assert entry["data"]["markup"] == SOURCE.decode() and "element_id" not in entry
    d.submit(
        op("u1", "update", "r1", {"attributes": {"fill": "green"}}, "o1").model_copy(
            update={"file": "extra.svg"}
        ),
        base_seq=1,
        now=2.0,
    )
    deleted = d.delete_file("extra.svg", user_id="external", now=3.0)
    assert deleted.entries[0]["seq"] == 3 and "extra.svg" not in d.files
    with pytest.raises(NotFound):
        d.delete_file("extra.svg", user_id="external", now=4.0)
    assert [e["seq"] for e in d.since(0)] == [1, 2, 3]
    # The journal records rebuild the same state, the ring and the answers.
    records = [r for out in (added, deleted) for r in out.journal]
    records.insert(1, OpRecord(d.since(1)[0]))
    again = live()
    assert replay_journal(again, records, after_seq=0) == 3
    assert again.seq == 3 and sorted(again.files) == sorted(d.files)
    assert [e["operation_type"] for e in again.since(0)] == ["file_add", "update", "file_delete"]


def test_a_rotated_journal_keeps_open_conflicts_and_the_counts_only():
    d = live(strategy="manual")
    d.submit(
        op("a", "update", "r1", {"attributes": {"fill": "red", "stroke": "red"}}, "a1"),
        base_seq=0,
        now=0,
    )
    first = d.submit(
        op("b", "update", "r1", {"attributes": {"fill": "blue"}}, "b1"), base_seq=0, now=0
    )
    second = d.submit(
        op("b", "update", "r1", {"attributes": {"stroke": "blue"}}, "b2"), base_seq=0, now=0
    )
    settled = first.conflicts[0].conflict_id
    still_open = second.conflicts[0].conflict_id
    d.resolve_conflict(settled, "theirs", "a", now=1)
    kept = retained(d)
    conflicts = [r for r in kept if isinstance(r, ConflictsRecord)]
    assert [c["conflict_id"] for c in conflicts[0].records] == [still_open]
    assert (conflicts[0].counter, conflicts[0].detected, conflicts[0].resolved) == (2, 2, 1)

    again = LiveDocument(
        "doc", "main", {"document.svg": d.files["document.svg"].to_bytes()}, seq=d.seq
    )
    replay_journal(again, kept, after_seq=d.seq)
    assert list(again.book.conflicts) == [still_open]
    assert [c.conflict_id for c in again.book.open()] == [still_open]
    assert (again.book.detected, again.book.resolved) == (2, 1)
    assert again.book.counter == 2  # ids are never reused after a restart


def test_a_version_holds_every_live_file_and_deletes_what_was_deleted_live():
    files = version_files({"a.svg": b"A", "b.svg": b"B"}, ["b.svg", "gone.svg"])
    assert files == {"a.svg": b"A", "b.svg": b"B", "gone.svg": None}


# -- what the working tree holds ---------------------------------------------------------

OTHER_FORMAT = SOURCE.replace(b'"', b"'")


def test_an_outside_save_with_the_same_elements_becomes_the_files_bytes_and_base():
    d = live()
    d.submit(op("a", "update", "r1", {"attributes": {"fill": "red"}}), base_seq=None, now=0)
    same = d.contents()["document.svg"].replace(b'"', b"'")
    d.outside_save_taken("document.svg", same)
    assert d.files["document.svg"].to_bytes() == same
    assert (d.last_written["document.svg"], d.base_seq("document.svg")) == (same, 1)
    assert d.take_dirty() == {}


def test_an_outside_save_merged_beside_live_edits_is_the_base_and_is_written_over():
    d = live()
    d.submit(op("a", "update", "r1", {"attributes": {"fill": "red"}}), base_seq=None, now=0)
    d.take_dirty()
    d.outside_save_merged("document.svg", OTHER_FORMAT)
    assert (d.last_written["document.svg"], d.base_seq("document.svg")) == (OTHER_FORMAT, 1)
    assert list(d.take_dirty()) == ["document.svg"]


def test_an_older_copy_of_ours_is_seen_and_the_live_state_goes_over_it():
    d = live()
    for n in range(3):
        d.submit(op("a", "update", "r1", {"attributes": {"n": str(n)}}), base_seq=None, now=0)
    d.take_dirty()
    d.older_copy_seen("document.svg", SOURCE, seq=1)
    assert (d.last_written["document.svg"], d.base_seq("document.svg")) == (SOURCE, 1)
    assert "document.svg" in d.take_dirty()
    d.older_copy_seen("document.svg", OTHER_FORMAT)  # the seq it stands at is kept
    assert (d.last_written["document.svg"], d.base_seq("document.svg")) == (OTHER_FORMAT, 3)


def test_a_file_added_or_removed_on_disk():
    d = live()
    d.add_file("b.svg", SOURCE, user_id="external", now=0)
    d.outside_file_added("b.svg", SOURCE)
    assert (d.last_written["b.svg"], d.base_seq("b.svg")) == (SOURCE, 1)
    d.removed_on_disk("b.svg", keep=True)
    assert "b.svg" not in d.last_written and d.take_dirty() == {"b.svg": SOURCE}
    d.removed_on_disk("document.svg", keep=False)
    assert "document.svg" not in d.last_written and d.take_dirty() == {}


def test_write_back_leaves_out_files_no_longer_live():
    d = live()
    d.write_back(["document.svg", "gone.svg"])
    assert d.dirty == {"document.svg"}


def test_a_recorded_base_stands_at_most_at_the_current_seq():
    d = LiveDocument("doc", "main", {"document.svg": SOURCE}, seq=5)
    d.recorded_base("document.svg", OTHER_FORMAT, 9)
    assert (d.last_written["document.svg"], d.base_seq("document.svg")) == (OTHER_FORMAT, 5)
    d.recorded_base("document.svg", SOURCE, 2)
    assert d.base_seq("document.svg") == 2
    d.base_before_git("document.svg", OTHER_FORMAT)
    assert (d.last_written["document.svg"], d.base_seq("document.svg")) == (OTHER_FORMAT, 2)


def test_a_checkout_is_seen_and_the_live_state_goes_over_what_differs():
    d = LiveDocument("doc", "main", {"a.svg": SOURCE, "b.svg": SOURCE})
    d.checkout_seen({"a.svg": SOURCE, "b.svg": OTHER_FORMAT})
    assert d.last_written == {"a.svg": SOURCE, "b.svg": OTHER_FORMAT}
    assert d.dirty == {"b.svg"}


def test_a_revert_on_disk_is_the_whole_working_tree_now():
    d = LiveDocument("doc", "main", {"a.svg": SOURCE, "b.svg": SOURCE})
    d.submit(op("a", "update", "r1", {"attributes": {"n": "1"}}, None), base_seq=None, now=0)
    d.reverted_on_disk({"a.svg": OTHER_FORMAT})
    assert d.last_written == {"a.svg": OTHER_FORMAT}
    assert (d.base_seq("a.svg"), d.written_seq["b.svg"]) == (1, 0)


def test_a_file_git_has_a_conflict_in_is_held_once_and_released_once():
    d = live()
    assert d.hold("document.svg", {"type": "git_conflict_pending"})
    assert not d.hold("document.svg", {"type": "another"})
    assert d.held == {"document.svg": {"type": "git_conflict_pending"}}
    d.write_back(["document.svg"])
    assert d.take_dirty() == {} and d.dirty == {"document.svg"}
    assert d.release("document.svg") and not d.release("document.svg")


@pytest.mark.parametrize(("status", "resolved"), [("open", 0), ("auto_resolved", 1)])
def test_a_conflict_without_an_operation_is_recorded_journaled_and_counted(status, resolved):
    d = live()
    record = ConflictRecord("edit_delete", "document.svg", "/", "#file", ["a"], "automatic")
    record.status = status
    out = d.add_conflict(record)
    (record,) = out.conflicts
    assert record.conflict_id == "conflict_1" and d.book.conflicts["conflict_1"] is record
    assert (out.ack, out.entries) == (Ack(None, None, status), [])
    (journaled,) = out.journal
    assert isinstance(journaled, ConflictsRecord) and journaled.records == [record.to_wire()]
    assert (d.book.detected, d.book.resolved, journaled.resolved) == (1, resolved, resolved)


# A manual conflict as the journal kept it before conflict records were typed, with a
# field this version does not know.
HELD_UPDATE = {
    "operation_type": "update",
    "user_id": "b",
    "session_id": None,
    "element_id": "r1",
    "data": {"attributes": {"x": "6"}},
    "op_id": "b1",
    "base_seq": None,
    "timestamp": 1.0,
    "file": "document.svg",
}
EARLIER_FORMAT = {
    "conflict_id": "conflict_1",
    "kind": "attribute",
    "file": "document.svg",
    "element_id": "r1",
    "attribute": "x",
    "base": "0",
    "ours": "5",
    "theirs": "6",
    "key": "@x",
    "users": ["a", "b"],
    "earlier": {"seq": 1, "op_id": "a1", "user_id": "a"},
    "later": {"op_id": "b1", "user_id": "b"},
    "strategy": "manual",
    "status": "open",
    "winner": "later",
    "later_operation": HELD_UPDATE,
    "held_operation": HELD_UPDATE,
    "noted_by": "a later version",
}


def test_conflicts_journaled_in_the_earlier_format_load_and_are_kept_as_they_were():
    d = live(strategy="manual")
    wire = {**op("a", "update", "r1", {"attributes": {"x": "5"}}, "a1").model_dump(), "seq": 1}
    records = [
        from_json({"kind": "op", "op": wire}),
        from_json({"kind": "conflicts", "records": [EARLIER_FORMAT], "counter": 1, "detected": 1}),
    ]
    replay_journal(d, records, after_seq=0)
    (record,) = d.book.open()
    assert (record.status, record.earlier, record.later) == (
        "open",
        OpRef("a1", "a", 1),
        OpRef("b1", "b"),
    )
    assert record.to_wire() == EARLIER_FORMAT
    assert list(record.to_wire()) == list(EARLIER_FORMAT)  # the same fields, in order
    kept = retained(d)[1]
    assert isinstance(kept, ConflictsRecord) and kept.records == [EARLIER_FORMAT]
    # And it is still resolved as it was recorded: the held operation is applied.
    done = d.resolve_conflict("conflict_1", "theirs", "a", now=2)
    assert done.resolved is record and d.files["document.svg"].get("r1").get("x") == "6"


def test_an_op_id_is_its_senders_also_after_a_replay():
    d = live()
    first = d.submit(op("a", "create", "c1", {"type": "circle"}, "v-1"), base_seq=None, now=0)
    other = d.submit(op("b", "delete", "c1", {}, "v-1"), base_seq=None, now=0)
    assert (first.ack.seq, other.ack.seq, other.duplicate) == (1, 2, False)
    again = live()
    replay_journal(again, first.journal + other.journal, after_seq=0)
    resent = again.submit(op("a", "create", "c1", {"type": "circle"}, "v-1"), base_seq=0, now=1)
    assert resent.duplicate and resent.ack == first.ack
    third = again.submit(
        op("c", "update", "r1", {"attributes": {"x": "3"}}, "v-1"), base_seq=2, now=1
    )
    assert (third.status, third.ack.seq) == ("applied", 3)


def test_a_client_base_seq_past_the_session_is_refused_and_an_outside_one_is_not():
    d = live()
    d.submit(op("a", "update", "r1", {"attributes": {"x": "1"}}, "a1"), base_seq=0, now=0)
    with pytest.raises(OperationError, match="base_seq 5 is ahead"):
        d.submit(op("b", "update", "r1", {"attributes": {"x": "2"}}, "b1"), base_seq=5, now=0)
    assert d.seq == 1 and d.files["document.svg"].get("r1").get("x") == "1"
    outside = op("external", "update", "r1", {"attributes": {"x": "3"}})
    assert d.submit(outside, base_seq=5, now=0, outside=True).status == "applied"


# An outside save of SOURCE with r1 filled, laid out another program's way.
LAID_OUT = b"""<svg
   xmlns="http://www.w3.org/2000/svg">
  <rect
     id="r1"
     x="0"
     y="0"
     width="10"
     height="10"
     fill="red" />
</svg>
"""


def taken_to_read_later() -> LiveDocument:
    """A session that took the outside save LAID_OUT in, its text not read yet."""
    d = live()
    d.submit(op("external", "update", "r1", {"attributes": {"fill": "red"}}), base_seq=0, now=0)
    d.outside_save_taken("document.svg", LAID_OUT, read_later=True)
    return d


def test_a_save_taken_in_is_read_later_with_the_edits_made_meanwhile_applied_again():
    d = taken_to_read_later()
    kept = d.files["document.svg"]
    assert set(d.unread) == {"document.svg"} and d.last_written["document.svg"] == LAID_OUT
    d.submit(op("a", "update", "r1", {"attributes": {"width": "20"}}, "a1"), base_seq=1, now=0)
    assert d.take_dirty() == {} and d.dirty == {"document.svg"}  # not written before it is read
    pending = d.unread["document.svg"]
    assert d.read_taken("document.svg", pending, SvgDocument.mapped(LAID_OUT))
    assert d.files["document.svg"] is not kept and not d.unread
    # The program's layout, with the live edit in it.
    assert d.take_dirty() == {"document.svg": LAID_OUT.replace(b'"10"\n', b'"20"\n', 1)}


def test_a_read_no_longer_wanted_changes_nothing():
    d = taken_to_read_later()
    first = d.unread["document.svg"]
    d.outside_save_taken("document.svg", LAID_OUT.replace(b"red", b"blue"), read_later=True)
    assert not d.read_taken("document.svg", first, SvgDocument.mapped(LAID_OUT))
    assert d.unread["document.svg"] is not first  # the later save's read still waits
    d = taken_to_read_later()
    pending = d.unread["document.svg"]
    d.replace_file("document.svg", SOURCE, user_id="a", now=0)
    kept = d.files["document.svg"]
    assert not d.read_taken("document.svg", pending, SvgDocument.mapped(LAID_OUT))
    assert d.files["document.svg"] is kept and not d.unread


def test_a_save_whose_render_is_the_live_tree_is_not_read_again():
    d = live()
    written = d.files["document.svg"].to_bytes()
    d.files["document.svg"].spans  # noqa: B018 (mapped, as for a file the daemon wrote)
    d.submit(op("external", "update", "r1", {"attributes": {"fill": "red"}}), base_seq=0, now=0)
    saved = written.replace(b'height="10"', b'height="10" fill="red"')
    kept = d.files["document.svg"]
    d.outside_save_taken("document.svg", saved, read_later=True)
    assert not d.unread and d.files["document.svg"] is kept and d.take_dirty() == {}
