"""Live conflict detection and the five strategies, on the pure core (no I/O)."""

from __future__ import annotations

import pytest

from svgx_sync.core.conflicts import ConflictBook, Strategy, arbitrate, merge_style, resolve
from svgx_sync.core.ops import coerce_operation
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.errors import NotFound, UnknownElement

SOURCE = b"""<svg xmlns="http://www.w3.org/2000/svg">
  <g id="layer">
    <rect id="r1" x="0" y="0" width="10" height="10" style="fill:red;stroke:blue"/>
    <circle id="c1" cx="5" cy="5" r="2"/>
  </g>
</svg>
"""


class Session:
    """Just enough of a session to number operations and keep the book."""

    def __init__(self, strategy: Strategy) -> None:
        self.files = {"document.svg": SvgDocument(SOURCE)}
        self.book = ConflictBook()
        self.strategy = strategy
        self.seq = 0

    @property
    def doc(self) -> SvgDocument:
        return self.files["document.svg"]

    def send(
        self,
        user: str,
        kind: str,
        element: str,
        data: dict,
        *,
        base: int,
        ts: float | None = None,
        own_after: int | None = None,
    ):
        op = coerce_operation(
            {
                "operation_type": kind,
                "user_id": user,
                "element_id": element,
                "data": data,
                "op_id": f"{user}-{self.seq}-{kind}",
                "timestamp": ts,
            }
        )
        verdict = arbitrate(
            self.files,
            self.book,
            op,
            file="document.svg",
            base_seq=base,
            strategy=self.strategy,
            now=0.0,
            own_after=own_after,
        )
        for applied, inverse in [*verdict.prelude, (verdict.effective, verdict.inverse)]:
            if applied is not None and verdict.status == "applied":
                self.seq += 1
                self.book.record(self.seq, applied, inverse)
        return verdict


def attr(session: Session, element: str, name: str) -> str | None:
    el = session.doc.find(element)
    return None if el is None else el.get(name)


def test_different_attributes_of_one_element_do_not_conflict():
    s = Session(Strategy.AUTOMATIC)
    assert s.send("alice", "update", "r1", {"attributes": {"x": "5"}}, base=0).conflicts == []
    v = s.send("bob", "update", "r1", {"attributes": {"width": "50"}}, base=0)
    assert v.status == "applied" and v.conflicts == []
    assert (attr(s, "r1", "x"), attr(s, "r1", "width")) == ("5", "50")


def test_same_user_never_conflicts_with_itself():
    s = Session(Strategy.REJECT)
    s.send("alice", "update", "r1", {"attributes": {"x": "5"}}, base=0)
    assert s.send("alice", "update", "r1", {"attributes": {"x": "6"}}, base=0).status == "applied"


def test_an_operation_that_saw_the_earlier_one_does_not_conflict():
    s = Session(Strategy.REJECT)
    s.send("alice", "update", "r1", {"attributes": {"x": "5"}}, base=0)
    assert s.send("bob", "update", "r1", {"attributes": {"x": "6"}}, base=1).status == "applied"


def test_automatic_later_wins_and_records_the_conflict_with_all_values():
    s = Session(Strategy.AUTOMATIC)
    s.send("alice", "update", "r1", {"position": {"x": 100, "y": 0}}, base=0)
    v = s.send("bob", "update", "r1", {"position": {"x": 200, "y": 0}}, base=0)
    assert v.status == "applied"
    assert attr(s, "r1", "x") == "200"
    (c,) = v.conflicts
    assert (c.kind, c.element_id, c.attribute) == ("attribute", "r1", "x")
    assert (c.base, c.ours, c.theirs) == ("0", "100", "200")
    assert c.users == ["alice", "bob"] and c.status == "auto_resolved"
    # Either user can override: alice takes hers back.
    r = resolve(s.files, s.book, c.conflict_id, "ours", "alice", now=1.0)
    assert attr(s, "r1", "x") == "100"
    assert r.conflict.status == "resolved" and len(r.applied) == 1
    assert s.book.detected == 1 and s.book.resolved == 1


def test_manual_holds_the_later_operation_until_resolved():
    s = Session(Strategy.MANUAL)
    s.send("alice", "update", "r1", {"attributes": {"x": "100"}}, base=0)
    before = s.doc.render()
    v = s.send("bob", "update", "r1", {"attributes": {"x": "200", "y": "7"}}, base=0)
    assert v.status == "pending" and s.doc.render() == before
    (c,) = v.conflicts
    assert c.status == "open" and c in s.book.open()
    resolve(s.files, s.book, c.conflict_id, "theirs", "alice", now=1.0)
    assert (attr(s, "r1", "x"), attr(s, "r1", "y")) == ("200", "7")


def test_manual_resolution_with_a_value():
    s = Session(Strategy.MANUAL)
    s.send("alice", "update", "r1", {"attributes": {"x": "100"}}, base=0)
    c = s.send("bob", "update", "r1", {"attributes": {"x": "200"}}, base=0).conflicts[0]
    resolve(s.files, s.book, c.conflict_id, {"value": "150"}, "carol", now=1.0)
    assert attr(s, "r1", "x") == "150"


def test_last_write_wins_by_timestamp_and_keeps_disjoint_parts():
    s = Session(Strategy.LAST_WRITE_WINS)
    s.send("alice", "update", "r1", {"attributes": {"x": "100"}}, base=0, ts=20.0)
    v = s.send("bob", "update", "r1", {"attributes": {"x": "200", "width": "99"}}, base=0, ts=10.0)
    assert v.status == "applied"
    assert (attr(s, "r1", "x"), attr(s, "r1", "width")) == ("100", "99")
    assert v.effective.data == {"attributes": {"width": "99"}}
    v = s.send("carol", "update", "r1", {"attributes": {"x": "300"}}, base=0, ts=30.0)
    assert v.status == "applied" and attr(s, "r1", "x") == "300"


def test_last_write_wins_ties_go_by_server_order():
    s = Session(Strategy.LAST_WRITE_WINS)
    s.send("alice", "update", "r1", {"attributes": {"x": "100"}}, base=0, ts=5.0)
    assert (
        s.send("bob", "update", "r1", {"attributes": {"x": "200"}}, base=0, ts=5.0).status
        == "applied"
    )
    assert attr(s, "r1", "x") == "200"


def test_reject_refuses_and_returns_the_current_state():
    s = Session(Strategy.REJECT)
    s.send("alice", "update", "r1", {"attributes": {"x": "100"}}, base=0)
    v = s.send("bob", "update", "r1", {"attributes": {"x": "200"}}, base=0)
    assert v.status == "rejected" and "reject" in v.reason
    assert attr(s, "r1", "x") == "100"
    assert v.current_state["exists"] and 'x="100"' in v.current_state["markup"]


def test_merge_merges_style_declarations_one_by_one():
    s = Session(Strategy.MERGE)
    s.send("alice", "update", "r1", {"style": {"fill": "green"}}, base=0)
    v = s.send("bob", "update", "r1", {"style": {"stroke": "black"}}, base=0)
    assert v.status == "applied"
    assert attr(s, "r1", "style") == "fill:green;stroke:black"


def test_merge_keeps_an_edited_element_against_a_delete():
    s = Session(Strategy.MERGE)
    s.send("alice", "update", "c1", {"attributes": {"r": "9"}}, base=0)
    v = s.send("bob", "delete", "layer", {}, base=0)
    assert v.status == "rejected"
    assert v.conflicts[0].kind == "edit_delete" and v.conflicts[0].element_id == "c1"
    assert attr(s, "c1", "r") == "9"


def test_automatic_delete_after_edit_deep_inside_group_is_a_conflict_that_can_be_undone():
    s = Session(Strategy.AUTOMATIC)
    s.send("alice", "update", "c1", {"attributes": {"r": "9"}}, base=0)
    v = s.send("bob", "delete", "layer", {}, base=0)
    assert v.status == "applied" and s.doc.find("layer") is None
    (c,) = v.conflicts
    assert c.kind == "edit_delete"
    resolve(s.files, s.book, c.conflict_id, "ours", "alice", now=1.0)
    assert attr(s, "c1", "r") == "9" and s.doc.find("layer") is not None


def test_edit_after_a_concurrent_delete_brings_the_element_back_under_automatic():
    s = Session(Strategy.AUTOMATIC)
    s.send("alice", "delete", "r1", {}, base=0)
    v = s.send("bob", "update", "r1", {"attributes": {"x": "42"}}, base=0)
    assert v.status == "applied" and v.conflicts[0].kind == "delete_edit"
    assert len(v.prelude) == 1 and attr(s, "r1", "x") == "42"


def test_choosing_the_delete_after_the_element_came_back_deletes_it_again():
    s = Session(Strategy.AUTOMATIC)
    s.send("alice", "delete", "r1", {}, base=0)
    (c,) = s.send("bob", "update", "r1", {"attributes": {"x": "42"}}, base=0).conflicts
    resolve(s.files, s.book, c.conflict_id, "ours", "alice", now=1.0)
    assert s.doc.find("r1") is None


def test_an_insert_into_a_group_deleted_meanwhile_meets_the_delete():
    s = Session(Strategy.AUTOMATIC)
    s.send("alice", "delete", "layer", {}, base=0)
    v = s.send("bob", "create", "n", {"type": "circle", "parent": "layer"}, base=0)
    (c,) = v.conflicts
    assert (c.kind, c.element_id, c.parent) == ("delete_edit", "n", "layer")
    assert s.doc.find("n").getparent() is s.doc.find("layer")
    resolve(s.files, s.book, c.conflict_id, "ours", "alice", now=1.0)
    assert s.doc.find("layer") is None and s.doc.find("n") is None
    s = Session(Strategy.REJECT)
    s.send("alice", "delete", "layer", {}, base=0)
    (c,) = s.send("bob", "create", "n", {"type": "circle", "parent": "layer"}, base=0).conflicts
    resolve(s.files, s.book, c.conflict_id, "theirs", "alice", now=1.0)
    assert s.doc.find("n").getparent() is s.doc.find("layer")


def test_outside_changes_are_other_parties_to_each_other():
    """``external`` stands for every other program: its earlier changes since the base
    are concurrent, its own (after ``own_after``) are not."""
    s = Session(Strategy.REJECT)
    s.send("external", "update", "r1", {"attributes": {"x": "5"}}, base=0)
    v = s.send("external", "update", "r1", {"attributes": {"x": "6"}}, base=0, own_after=1)
    assert v.status == "rejected" and v.conflicts[0].users == ["external", "external"]
    v = s.send("external", "update", "r1", {"attributes": {"x": "6"}}, base=0, own_after=0)
    assert v.status == "applied" and v.conflicts == []
    s.send("external", "delete", "c1", {}, base=0)
    v = s.send("external", "update", "c1", {"attributes": {"r": "3"}}, base=0, own_after=s.seq)
    assert v.status == "rejected" and v.conflicts[0].kind == "delete_edit"


def test_edit_after_a_concurrent_delete_is_refused_under_reject():
    s = Session(Strategy.REJECT)
    s.send("alice", "delete", "r1", {}, base=0)
    v = s.send("bob", "update", "r1", {"attributes": {"x": "42"}}, base=0)
    assert v.status == "rejected" and v.current_state == {"element_id": "r1", "exists": False}


def test_edit_of_an_element_that_never_existed_is_an_error_not_a_conflict():
    s = Session(Strategy.AUTOMATIC)
    with pytest.raises(UnknownElement):
        s.send("bob", "update", "nope", {"attributes": {"x": "42"}}, base=0)


def test_create_with_a_taken_id_is_renumbered_under_automatic():
    s = Session(Strategy.AUTOMATIC)
    s.send("alice", "create", "door", {"type": "rectangle"}, base=0)
    v = s.send("bob", "create", "door", {"type": "circle"}, base=0)
    assert v.status == "applied" and v.effective.element_id == "door-2"
    assert v.conflicts[0].kind == "duplicate_id" and v.conflicts[0].theirs == "door-2"
    assert s.doc.find("door").tag.endswith("rect") and s.doc.find("door-2").tag.endswith("circle")


def test_unknown_conflict_is_not_found():
    s = Session(Strategy.AUTOMATIC)
    with pytest.raises(NotFound):
        resolve(s.files, s.book, "conflict_99", "ours", "alice", now=0.0)


def test_book_state_survives_a_round_trip():
    s = Session(Strategy.MANUAL)
    s.send("alice", "update", "r1", {"attributes": {"x": "1"}}, base=0)
    s.send("bob", "update", "r1", {"attributes": {"x": "2"}}, base=0)
    again = ConflictBook.from_state(s.book.to_state())
    assert again.open() == s.book.open() and again.detected == 1


def test_merge_style_three_way():
    assert (
        merge_style("fill:red;stroke:blue", "fill:green;stroke:blue", "fill:red;stroke:black")
        == "fill:green;stroke:black"
    )
    assert merge_style("fill:red", "fill:red", "") is None
