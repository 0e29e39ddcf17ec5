"""What a judged outside change does to the live session: pure, no files, no loop."""

from __future__ import annotations

import pytest
from samples import BASE

from svgx_sync.core.conflicts import Strategy
from svgx_sync.core.external import ExternalChange, GitConflict, Outcome, external_change
from svgx_sync.core.external_merge import apply_change, hold_git_conflict, recover_working_tree
from svgx_sync.core.journal_records import ConflictsRecord
from svgx_sync.core.ops import coerce_operation
from svgx_sync.core.replay import replay_journal
from svgx_sync.core.session import LiveDocument

F = "document.svg"
BLUE = BASE.replace(b'fill="red"', b'fill="blue"')
OTHER_FORMAT = BASE.replace(b'"', b"'")


def session(strategy: Strategy = Strategy.AUTOMATIC) -> LiveDocument:
    return LiveDocument("doc", "main", {F: BASE}, strategy=strategy)


def live_edit(live: LiveDocument, element: str, attributes: dict[str, str], file: str = F) -> None:
    op = coerce_operation(
        {
            "operation_type": "update",
            "user_id": "ada",
            "element_id": element,
            "data": {"attributes": attributes},
            "file": file,
        }
    )
    live.submit(op, base_seq=None, now=0)


def judged(live: LiveDocument, disk: bytes | None) -> ExternalChange:
    return external_change(live.last_written.get(F), live.contents().get(F), disk, F)


def test_a_save_with_no_live_edits_beside_it_keeps_its_own_bytes() -> None:
    live = session()
    outcomes = apply_change(live, judged(live, BLUE), base=BASE, disk=BLUE, now=1)
    assert [o.status for o in outcomes] == ["applied"] and live.seq == 1
    assert live.files[F].to_bytes() == BLUE and live.last_written[F] == BLUE
    assert live.take_dirty() == {}


def test_a_save_merged_beside_live_edits_is_written_back() -> None:
    live = session()
    live_edit(live, "c", {"r": "7"})
    outcomes = apply_change(live, judged(live, BLUE), base=BASE, disk=BLUE, now=1)
    assert [o.status for o in outcomes] == ["applied"] and live.seq == 2
    assert live.last_written[F] == BLUE and live.base_seq(F) == 2
    merged = live.take_dirty()[F]
    assert b'fill="blue"' in merged and b'r="7"' in merged


def test_formatting_only_with_no_live_edits_becomes_the_base() -> None:
    live = session()
    assert apply_change(live, judged(live, OTHER_FORMAT), base=BASE, disk=OTHER_FORMAT, now=1) == []
    assert live.files[F].to_bytes() == OTHER_FORMAT and live.take_dirty() == {}


def test_a_refused_outside_operation_is_a_conflict_record() -> None:
    live = session()
    live.delete_file(F, user_id="ada", now=0)
    live.add_file(F, BASE.replace(b'<rect id="r"', b'<rect id="q"'), user_id="ada", now=0)
    change = external_change(BASE, live.contents()[F], BLUE, F)
    (noted,) = apply_change(live, change, base=BASE, disk=BLUE, now=1, base_seq=0)
    (record,) = noted.conflicts
    (journaled,) = noted.journal
    assert record.kind == "refused"
    assert isinstance(journaled, ConflictsRecord) and journaled.records == [record.to_wire()]
    assert live.take_dirty()  # the live state goes over the save


@pytest.mark.parametrize(
    ("strategy", "deleted", "status"),
    [(Strategy.AUTOMATIC, True, "auto_resolved"), (Strategy.MANUAL, False, "open")],
)
def test_a_file_deleted_against_live_edits(strategy: Strategy, deleted: bool, status: str) -> None:
    live = session(strategy)
    live_edit(live, "c", {"r": "7"})
    outcomes = apply_change(live, judged(live, None), base=BASE, disk=None, now=1)
    (record,) = outcomes[0].conflicts
    assert (record.kind, record.status, record.users) == (
        "edit_delete",
        status,
        ["ada", "external"],
    )
    assert (F not in live.files) is deleted and F not in live.last_written
    assert (F in live.take_dirty()) is not deleted


def test_a_git_conflict_is_announced_when_held_and_when_settled() -> None:
    live = session()
    found = GitConflict("git's conflict markers are in the file")
    held, told = hold_git_conflict(live, F, found)
    assert held and [m["type"] for m in told] == ["git_conflict_pending"]
    assert hold_git_conflict(live, F, found) == (True, [])
    held, told = hold_git_conflict(live, F, None)
    assert not held and [m["type"] for m in told] == ["git_conflict_resolved"]
    assert hold_git_conflict(live, F, None) == (False, [])


def test_recovery_merges_saves_writes_over_our_own_and_holds_git_conflicts() -> None:
    files = {"a.svg": BASE, "b.svg": BASE, "c.svg": BASE, "d.svg": BASE}
    live = LiveDocument("doc", "main", files)
    live_edit(live, "c", {"r": "7"}, "a.svg")
    marked = b"<<<<<<< ours\n" + BASE + b"=======\n" + BLUE + b">>>>>>> theirs\n"
    disk = {"a.svg": BASE, "b.svg": BLUE, "c.svg": marked, "d.svg": b"not svg"}
    rejected: list[tuple[str, str]] = []
    losses: list[ExternalChange] = []
    outcomes, changed = recover_working_tree(
        live, disk, {}, None, now=1, rejected=rejected, before_loss=losses.append
    )
    assert [o.status for o in outcomes] == ["applied"] and live.files["b.svg"].to_bytes() == BLUE
    assert set(live.held) == {"c.svg"} and [f for f, _ in rejected] == ["d.svg"]
    assert changed == {"b.svg"} and losses == []
    assert set(live.take_dirty()) == {"a.svg"}  # the live edit goes over our own write


def sheet(count: int, fill: str = "gray") -> bytes:
    rects = "".join(f'  <rect id="r{n}" x="{n}" fill="{fill}"/>\n' for n in range(count))
    return f'<svg xmlns="http://www.w3.org/2000/svg">\n{rects}</svg>\n'.encode()


def test_a_save_that_rewrites_most_of_the_file_is_taken_whole_as_one_entry() -> None:
    small, many = sheet(2), sheet(3000)
    live = LiveDocument("doc", "main", {F: small})
    change = external_change(small, small, many, F)
    assert change.outcome is Outcome.WHOLE and change.data == many
    (outcome,) = apply_change(live, change, base=small, disk=many, now=1)
    (entry,) = outcome.entries
    assert entry["operation_type"] == "file_add" and entry["user_id"] == "external"
    assert entry["data"]["markup"].encode() == many and live.seq == 1
    assert live.files[F].to_bytes() == many and live.last_written[F] == many
    assert live.take_dirty() == {}
    # The journal keeps the entry; a replay makes the same file.
    again = LiveDocument("doc", "main", {F: small})
    assert replay_journal(again, outcome.journal, after_seq=0) == 1
    assert again.files[F].to_bytes() == many
    # What a client is sent is inert; the live file keeps what the save holds.
    live = LiveDocument("doc", "main", {F: small})
    active = many.replace(b'<rect id="r7"', b'<rect id="r7" onclick="x()"')
    change = external_change(small, small, active, F)
    (outcome,) = apply_change(live, change, base=small, disk=active, now=1)
    (entry,) = outcome.entries
    assert "onclick" not in entry["data"]["markup"] and entry["active_content"]
    assert live.files[F].to_bytes() == active


def test_a_file_taken_whole_or_added_is_parsed_and_served_while_it_is_judged() -> None:
    """The judging runs in the watcher's worker thread: the file it parsed and served
    inert is the one the session takes, and the loop does neither again."""
    small = sheet(2)
    active = sheet(3000).replace(b'<rect id="r7"', b'<rect id="r7" onclick="x()"')
    for base, ours in ((small, small), (None, None)):  # taken whole; a new file
        live = LiveDocument("doc", "main", {F: small} if base else {})
        change = external_change(base, ours, active, F)
        assert change.outcome is (Outcome.WHOLE if base else Outcome.FILE_ADD)
        whole = change.whole
        assert whole is not None and whole.doc.to_bytes() == active
        assert "onclick" not in whole.text and [f.attribute for f in whole.found] == ["onclick"]
        (outcome,) = apply_change(live, change, base=base, disk=active, now=1)
        assert live.files[F] is whole.doc
        (entry,) = outcome.entries
        assert entry["data"]["markup"] is whole.text and entry["active_content"]
        assert live.served_text(F) is whole.text  # a welcome does not make it inert again


def test_a_sweeping_save_beside_live_edits_is_taken_whole_after_a_version() -> None:
    small = sheet(2)
    live = LiveDocument("doc", "main", {F: small})
    live_edit(live, "r0", {"fill": "red"})
    many = sheet(3000, fill="blue")
    change = external_change(small, live.contents()[F], many, F)
    assert change.outcome is Outcome.WHOLE and change.live_edited
    # The watcher makes a version of the live state first, as for any save with a loss.
    assert change.loss is not None and change.loss.live_edits_replaced
    assert "live edits" in change.loss.summary()
    apply_change(live, change, base=small, disk=many, now=1)
    assert live.files[F].to_bytes() == many and live.take_dirty() == {}


# BLUE laid out another program's way: taken in, its text not the live tree's render.
BLUE_LAID_OUT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<svg\n   xmlns="http://www.w3.org/2000/svg"\n'
    b'   viewBox="0 0 100 100">\n  <rect\n     id="r"\n     x="1"\n     y="2"\n'
    b'     width="10"\n     height="10"\n     fill="blue" />\n  <circle\n     id="c"\n'
    b'     cx="50"\n     cy="50"\n     r="5" />\n</svg>\n'
)


def test_a_save_laid_out_anew_found_at_start_up_is_read_at_once() -> None:
    """Only the watcher reads a save beside the loop; taken in any other way (here at
    start-up), its text becomes the file's tree at once, and a live edit made next is
    written in its layout."""
    live = session()
    assert judged(live, BLUE_LAID_OUT).outcome is Outcome.OPERATIONS
    recover_working_tree(live, {F: BLUE_LAID_OUT}, {}, None, now=1)
    assert not live.unread and live.files[F].to_bytes() == BLUE_LAID_OUT
    live_edit(live, "c", {"r": "7"})
    assert live.take_dirty() == {F: BLUE_LAID_OUT.replace(b'r="5"', b'r="7"')}


def test_the_watcher_reads_a_save_laid_out_anew_later() -> None:
    live = session()
    apply_change(
        live, judged(live, BLUE_LAID_OUT), base=BASE, disk=BLUE_LAID_OUT, now=1, read_later=True
    )
    assert set(live.unread) == {F} and live.last_written[F] == BLUE_LAID_OUT
