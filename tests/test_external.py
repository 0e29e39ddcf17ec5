"""The rules for edits made beside the daemon: pure, no files, no loop."""

from __future__ import annotations

from pathlib import Path

import pytest
from samples import BASE

from svgx_sync.core.conflicts import ConflictBook, Strategy, arbitrate
from svgx_sync.core.diff import diff_documents
from svgx_sync.core.external import (
    AUTO_VERSION_PREFIX,
    HeadMove,
    HeadState,
    Loss,
    Outcome,
    auto_version_due,
    auto_version_message,
    base_after_head_move,
    checkout_sessions,
    classify_head_move,
    delete_conflict,
    external_change,
    external_loss,
    file_delete_decision,
    git_conflict,
    is_svg_path,
    judged_again,
    loss_message,
    settle_incomplete,
    to_operations,
)
from svgx_sync.core.ops import EXTERNAL_USER, coerce_operation
from svgx_sync.core.svgdoc import MAX_DEPTH, SvgDocument

F = "document.svg"


def edited(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


# -- our own writes and no-change saves ----------------------------------------------------


def test_the_daemons_own_write_is_no_change() -> None:
    live = edited(BASE, b'fill="red"', b'fill="green"')
    # The file holds what we last wrote while live has moved on: nothing new on disk.
    assert external_change(BASE, live, BASE, F).outcome is Outcome.IGNORE
    # The file already holds the live state (our write landed before base was updated).
    assert external_change(BASE, live, live, F).outcome is Outcome.IGNORE


def test_same_content_with_other_formatting_is_no_change() -> None:
    reformatted = (
        b"<svg viewBox='0 0 100 100' xmlns='http://www.w3.org/2000/svg'>\r\n"
        b"<rect fill='red' height='10' width='10' y='2' x='1' id='r' />\r\n"
        b"<circle r='5' cy='50' cx='50' id='c'></circle>\r\n"
        b"</svg>"
    )
    change = external_change(BASE, BASE, reformatted, F)
    assert change.outcome is Outcome.IGNORE
    assert change.reason == "formatting only"


@pytest.mark.parametrize(
    "cut", [0, 1, 40, len(BASE) // 2, len(BASE) - 8], ids=lambda n: f"first-{n}-bytes"
)
def test_a_half_written_file_waits(cut: int) -> None:
    change = external_change(BASE, BASE, BASE[:cut], F)
    assert change.outcome is Outcome.WAIT
    assert not change.operations


@pytest.mark.parametrize(
    ("disk", "why"),
    [
        (b"\x00\xffgarbage" * 10, "not well-formed"),
        (BASE.replace(b"</svg>", b"</g></svg>"), "mismatched tag"),
        (b'<!DOCTYPE svg [<!ENTITY e "x">]>' + BASE.split(b"?>", 1)[1], "entity declarations"),
        (b'<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>', "root element is"),
    ],
    ids=["random-bytes", "broken-xml", "entity-declaration", "html-page"],
)
def test_a_file_that_is_not_svg_is_rejected_not_waited_for(disk: bytes, why: str) -> None:
    for base in (BASE, None):  # an edit of a file we wrote, or a new file
        change = external_change(base, base, disk, F)
        assert change.outcome is Outcome.REJECTED, change
        assert why in change.reason and not change.operations and change.data is None


def test_a_file_left_incomplete_is_rejected_after_the_grace_period() -> None:
    waiting = external_change(BASE, BASE, BASE[:50], F)
    assert waiting.outcome is Outcome.WAIT
    early = settle_incomplete(waiting, first_seen=10.0, now=11.9, grace_s=2.0)
    assert early is waiting
    late = settle_incomplete(waiting, first_seen=10.0, now=12.0, grace_s=2.0)
    assert late.outcome is Outcome.REJECTED and "incomplete and unchanged for 2.0 s" in late.reason
    # Anything but a wait is left as it is, however long it has been.
    whole = external_change(BASE, BASE, BASE.replace(b"red", b"blue"), F)
    assert settle_incomplete(whole, first_seen=0.0, now=100.0, grace_s=2.0) is whole


# -- element changes -------------------------------------------------------------------------


def test_an_external_save_becomes_element_operations() -> None:
    disk = edited(BASE, b'fill="red"', b'fill="blue"')
    disk = edited(disk, b"  <circle", b'  <ellipse id="e" cx="5" cy="5" rx="2" ry="1"/>\n  <circle')
    change = external_change(BASE, BASE, disk, F)
    assert change.outcome is Outcome.OPERATIONS
    kinds = [(o["operation_type"], o["element_id"]) for o in change.operations]
    assert ("update", "r") in kinds and ("create", "e") in kinds
    assert change.data == disk and not change.live_edited
    # Applied to the live state they give the file's elements.
    live = SvgDocument(BASE)
    book = ConflictBook()
    for op in to_operations(change, base_seq=0, op_id_prefix="ext-1", timestamp=5.0):
        assert op.user_id == EXTERNAL_USER and op.base_seq == 0 and op.timestamp == 5.0
        verdict = arbitrate(
            {F: live}, book, op, file=F, base_seq=0, strategy=Strategy.AUTOMATIC, now=5.0
        )
        assert verdict.status == "applied" and not verdict.conflicts
    assert diff_documents(live.render().encode(), disk, F) == []
    assert live.get("r").get("fill") == "blue" and live.get("e") is not None


def test_operations_are_numbered_from_the_given_prefix() -> None:
    disk = edited(BASE, b'x="1"', b'x="9"')
    ops = to_operations(external_change(BASE, BASE, disk, F), op_id_prefix="ext-7")
    assert [o.op_id for o in ops] == ["ext-7-1"]


def test_live_edits_and_a_file_edit_of_other_attributes_both_survive() -> None:
    """The three-way merge: base = last written, ours = live, theirs = disk."""
    live_doc = SvgDocument(BASE)
    book = ConflictBook()
    mine = coerce_operation(
        {
            "operation_type": "update",
            "user_id": "ada",
            "element_id": "r",
            "data": {"attributes": {"x": "40"}},
            "op_id": "a1",
        }
    )
    files = {F: live_doc}
    verdict = arbitrate(files, book, mine, file=F, base_seq=0, strategy=Strategy.REJECT, now=1)
    book.record(1, verdict.effective, verdict.inverse)  # type: ignore[arg-type]
    disk = edited(BASE, b'fill="red"', b'fill="blue"')
    change = external_change(BASE, live_doc.render().encode(), disk, F)
    assert change.live_edited
    for op in to_operations(change, base_seq=0):
        verdict = arbitrate(files, book, op, file=F, base_seq=0, strategy=Strategy.REJECT, now=2)
        assert verdict.status == "applied" and not verdict.conflicts
    assert live_doc.get("r").get("x") == "40" and live_doc.get("r").get("fill") == "blue"


@pytest.mark.parametrize("strategy", list(Strategy))
def test_an_external_edit_of_a_live_edited_attribute_is_a_conflict(strategy: Strategy) -> None:
    live_doc = SvgDocument(BASE)
    book = ConflictBook()
    mine = coerce_operation(
        {
            "operation_type": "update",
            "user_id": "ada",
            "element_id": "r",
            "data": {"attributes": {"fill": "green"}},
            "op_id": "a1",
            "timestamp": 1.0,
        }
    )
    verdict = arbitrate({F: live_doc}, book, mine, file=F, base_seq=0, strategy=strategy, now=1)
    book.record(1, verdict.effective, verdict.inverse)  # type: ignore[arg-type]
    disk = edited(BASE, b'fill="red"', b'fill="blue"')
    change = external_change(BASE, live_doc.render().encode(), disk, F)
    (op,) = to_operations(change, base_seq=0, timestamp=2.0)
    verdict = arbitrate({F: live_doc}, book, op, file=F, base_seq=0, strategy=strategy, now=2)
    assert verdict.conflicts, strategy
    assert verdict.conflicts[0].users == ["ada", EXTERNAL_USER]
    expected = {
        Strategy.AUTOMATIC: ("applied", "blue"),
        Strategy.MANUAL: ("pending", "green"),
        Strategy.LAST_WRITE_WINS: ("applied", "blue"),
        Strategy.MERGE: ("applied", "blue"),
        Strategy.REJECT: ("rejected", "green"),
    }[strategy]
    assert (verdict.status, live_doc.get("r").get("fill")) == expected


# -- files appearing and disappearing --------------------------------------------------------


def test_a_new_file_joins_the_document() -> None:
    change = external_change(None, None, BASE, "icons/new.svg")
    assert change.outcome is Outcome.FILE_ADD and change.data == BASE


def test_a_half_written_new_file_waits() -> None:
    assert external_change(None, None, BASE[:20], "new.svg").outcome is Outcome.WAIT


def test_an_html_page_named_svg_does_not_join_the_document() -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>Hi</title></head><body></body></html>\n"
    change = external_change(None, None, page, "page.svg")
    assert change.outcome is Outcome.REJECTED and "root element is <html>" in change.reason


@pytest.mark.parametrize("rows", [1, 2000], ids=["small", "large"])
def test_a_save_nested_deeper_than_a_file_may_be_is_rejected(rows: int) -> None:
    plenty = "".join(f'<rect id="p{n}" width="1"/>\n' for n in range(rows))
    base = f'<svg xmlns="http://www.w3.org/2000/svg">\n{plenty}</svg>\n'.encode()
    for depth in (MAX_DEPTH, MAX_DEPTH + 1):
        nested = "<g>" * (depth - 1) + "</g>" * (depth - 1)
        disk = base.replace(b"</svg>", nested.encode() + b"\n</svg>")
        saved = external_change(base, base, disk, "document.svg")
        added = external_change(None, None, disk, "document.svg")
        if depth <= MAX_DEPTH:
            assert saved.outcome is Outcome.OPERATIONS and added.outcome is Outcome.FILE_ADD
        else:
            assert saved.outcome is added.outcome is Outcome.REJECTED, (saved, added)


# -- saves that drop what only a version can keep --------------------------------------------


SVGO = Path(__file__).parent.parent / "fixtures" / "tools" / "svgo-strip"


def test_svgo_stripping_ids_and_the_model_is_a_loss() -> None:
    before, after = (SVGO / "before.svg").read_bytes(), (SVGO / "after.svg").read_bytes()
    change = external_change(before, before, after, F)
    assert change.outcome is Outcome.OPERATIONS  # applied as far as it goes
    assert change.loss == Loss(
        ids_stripped=("wall", "r1", "r2", "c1"),
        ids_removed=(),
        metadata_dropped=("svgx-model", "r1-distance-1"),
    )
    assert loss_message(F, change.loss) == (
        "Before an outside save of document.svg that dropped ids stripped: wall, r1, r2, c1;"
        " metadata dropped: svgx-model, r1-distance-1"
    )


def test_deleting_elements_with_their_ids_is_no_loss() -> None:
    deleted = edited(BASE, b'  <circle id="c" cx="50" cy="50" r="5"/>\n', b"")
    assert external_change(BASE, BASE, deleted, F).loss is None
    # Only when an id is stripped as well are the deletions of that save listed.
    stripped = edited(deleted, b' id="r"', b"")
    assert external_loss(BASE, stripped, F) == Loss(("r",), ("c",), ())


def test_dropping_only_constraints_from_the_model_is_a_loss() -> None:
    before = (SVGO / "before.svg").read_bytes()
    after = edited(
        before,
        b'    <svgx:constraint id="r1-distance-1" element="r1" type="distance" value="50" targets="r2"/>\n',
        b"",
    )
    assert external_loss(before, after, F) == Loss((), (), ("r1-distance-1",))


def test_a_removed_file_is_a_deletion() -> None:
    change = external_change(BASE, BASE, None, F)
    assert change.outcome is Outcome.FILE_DELETE and not change.live_edited
    assert file_delete_decision(Strategy.REJECT, live_edited=False).delete


def test_removing_a_file_we_never_wrote_or_already_dropped_is_nothing() -> None:
    assert external_change(None, BASE, None, F).outcome is Outcome.IGNORE
    assert external_change(BASE, None, None, F).outcome is Outcome.IGNORE


@pytest.mark.parametrize(
    ("strategy", "deleted", "status"),
    [
        (Strategy.AUTOMATIC, True, "auto_resolved"),
        (Strategy.LAST_WRITE_WINS, True, "resolved"),
        (Strategy.MANUAL, False, "open"),
        (Strategy.MERGE, False, "merged"),
        (Strategy.REJECT, False, "rejected"),
    ],
)
def test_deleting_a_live_edited_file_follows_the_strategy(
    strategy: Strategy, deleted: bool, status: str
) -> None:
    live = edited(BASE, b'fill="red"', b'fill="green"')
    change = external_change(BASE, live, None, F)
    assert change.outcome is Outcome.FILE_DELETE and change.live_edited
    decision = file_delete_decision(strategy, live_edited=change.live_edited)
    assert (decision.delete, decision.conflict) == (deleted, status)
    record = delete_conflict(F, decision, live_users=["ada"], strategy=strategy)
    assert record.kind == "edit_delete" and record.users == ["ada", EXTERNAL_USER]


def test_a_file_edited_on_disk_after_a_live_deletion_comes_back() -> None:
    disk = edited(BASE, b'fill="red"', b'fill="blue"')
    assert external_change(BASE, None, disk, F).outcome is Outcome.FILE_ADD
    # The same elements in other clothes do not undo the deletion.
    assert external_change(BASE, None, BASE.replace(b"\n", b"\r\n"), F).outcome is Outcome.IGNORE


# -- git moving HEAD ---------------------------------------------------------------------


def test_head_moves_are_classified() -> None:
    a, b = HeadState("main", "a" * 40), HeadState("main", "b" * 40)
    assert classify_head_move(a, a, descends=True) is HeadMove.NONE
    assert classify_head_move(a, b, descends=True) is HeadMove.COMMITS
    assert classify_head_move(a, b, descends=False) is HeadMove.REWIND
    assert classify_head_move(a, HeadState("feature", "a" * 40), descends=True) is HeadMove.SWITCH
    assert classify_head_move(a, HeadState(None, "a" * 40), descends=True) is HeadMove.SWITCH
    assert classify_head_move(HeadState("main", None), a, descends=False) is HeadMove.COMMITS


# -- quiet-period versions -------------------------------------------------------------------


def test_auto_versions_are_off_by_default_and_wait_for_quiet() -> None:
    assert not auto_version_due(quiet_s=None, last_change=0, last_version=None, now=1e9)
    assert not auto_version_due(quiet_s=30, last_change=None, last_version=None, now=100)
    assert not auto_version_due(quiet_s=30, last_change=100, last_version=None, now=120)
    assert auto_version_due(quiet_s=30, last_change=100, last_version=None, now=130)
    assert not auto_version_due(quiet_s=30, last_change=100, last_version=101, now=200)


def test_auto_version_messages_say_so() -> None:
    message = auto_version_message(["b.svg", "a.svg"])
    assert message == f"{AUTO_VERSION_PREFIX} a.svg, b.svg"
    many = auto_version_message([f"f{i}.svg" for i in range(8)])
    assert many.startswith(AUTO_VERSION_PREFIX) and many.endswith("and 3 more")


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("document.svg", True),
        ("icons/a.svg", True),
        (".document.svg.x1y2.tmp", False),
        (".document.svg", False),
        (".git/x.svg", False),
        ("notes.txt", False),
        ("sub/.hidden/a.svg", False),
    ],
)
def test_which_paths_are_drawings(path: str, kept: bool) -> None:
    assert is_svg_path(path) is kept


def test_work_git_replaced_by_force_stays_on_top() -> None:
    old = BASE
    new = edited(BASE, b'r="5"', b'r="7"')
    written = edited(BASE, b'fill="red"', b'fill="green"')  # live work, written, no version
    # git reset --hard: the file went from our write to the new version.
    assert base_after_head_move(written, old, new, new) == old
    # A clean tree (our write was the old version): the usual base.
    assert base_after_head_move(old, old, new, new) == old
    # The file is not the new version (someone edited it): judge it from our write.
    assert base_after_head_move(written, old, new, written + b" ") == written
    # Nothing happened to the file.
    assert base_after_head_move(written, old, new, written) == written


# -- merge conflicts git leaves in files ---------------------------------------------------


def _marked() -> bytes:
    from svgx_sync.core.merge import Versions, mark_conflicts, merge_documents

    ours, theirs = (BASE.replace(b'fill="red"', f'fill="{c}"'.encode()) for c in ("blue", "green"))
    return mark_conflicts(merge_documents(Versions(BASE, ours, theirs), file=F))


def test_the_merge_drivers_conflict_block_is_a_git_conflict_with_its_marks() -> None:
    found = git_conflict(_marked(), unmerged=False)
    assert found is not None and "merge driver" in found.reason
    (mark,) = found.conflicts
    assert (mark["element_id"], mark["attribute"], mark["ours"], mark["theirs"]) == (
        "r",
        "fill",
        "blue",
        "green",
    )


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_gits_text_markers_are_a_git_conflict(eol: str) -> None:
    lines = [
        "<svg>",
        "<<<<<<< HEAD",
        '<rect id="r" fill="blue"/>',
        "=======",
        '<rect id="r" fill="green"/>',
        ">>>>>>> origin/main",
        "</svg>",
        "",
    ]
    found = git_conflict(eol.join(lines).encode(), unmerged=False)
    assert found is not None and "markers" in found.reason and found.conflicts == ()


def test_an_unmerged_file_is_a_git_conflict_even_without_marks_or_content() -> None:
    assert git_conflict(BASE, unmerged=True) is not None
    assert git_conflict(None, unmerged=True) is not None  # modify/delete: no file at all


@pytest.mark.parametrize(
    "data",
    [
        BASE,
        None,
        BASE.replace(b"</svg>", b"<text>svgx-conflicts =======</text></svg>"),
        BASE.replace(b"</svg>", b"<desc>\n=======\n</desc></svg>"),
        b"<svg><<<<<<< HEAD",  # a half-written file, not a conflict
    ],
)
def test_a_file_without_conflict_marks_is_no_git_conflict(data: bytes | None) -> None:
    assert git_conflict(data, unmerged=False) is None


def test_a_file_with_its_conflicts_settled_is_no_git_conflict() -> None:
    from svgx_sync.core.merge import read_conflicts, resolve_marked

    marked = _marked()
    (mark,) = read_conflicts(marked)
    assert mark.mark_id is not None
    assert git_conflict(resolve_marked(marked, mark.mark_id, "theirs"), unmerged=False) is None


# -- which session owns the working tree after a checkout ----------------------------------


@pytest.mark.parametrize(
    ("old", "new", "parked", "expected"),
    [
        # git switch B: B's session takes over, A's clients follow.
        ("main", "idea", None, ("main", "idea", None, "branch_switched")),
        # git checkout <sha>: main's session is parked, nobody takes the working tree.
        ("main", None, None, ("main", None, "main", "head_detached")),
        # git checkout <other sha> while detached: still parked on main.
        (None, None, "main", (None, None, "main", "head_detached")),
        # git switch main: main's session gets the working tree back.
        (None, "main", "main", (None, "main", None, "head_attached")),
        # git switch -c idea on a detached HEAD: main's clients follow to idea.
        (None, "idea", "main", ("main", "idea", None, "branch_switched")),
        # detached when the daemon started: nothing was parked; main takes it.
        (None, "main", None, (None, "main", None, "head_attached")),
    ],
)
def test_checkout_sessions(
    old: str | None, new: str | None, parked: str | None, expected: tuple[object, ...]
) -> None:
    move = checkout_sessions(old, new, parked)
    assert (move.leaves, move.takes, move.parked, move.notice) == expected


# -- a save judged again, the live state having moved meanwhile ------------------------------

FILLED = edited(BASE, b'fill="red"', b'fill="blue"')
LIVE_MOVED = edited(BASE, b'r="5"', b'r="7"')
REFORMATTED = BASE.replace(b'"', b"'").replace(
    b"<?xml version='1.0' encoding='UTF-8'?>", b'<?xml version="1.0" encoding="UTF-8"?>'
)


@pytest.mark.parametrize(
    ("disk", "live_now"),
    [
        (FILLED, LIVE_MOVED),  # operations, live edits made meanwhile
        (FILLED, BASE),  # operations, the live edits undone meanwhile
        (FILLED, FILLED),  # the live state became the save
        (REFORMATTED, LIVE_MOVED),  # formatting only
        (BASE[:-20], LIVE_MOVED),  # half written
        (b"<html><body>page</body></html>", LIVE_MOVED),  # not SVG
        (BASE, LIVE_MOVED),  # our own write
    ],
    ids=["operations", "undone", "became-live", "formatting", "half", "not-svg", "own-write"],
)
def test_a_save_judged_again_for_a_moved_live_state_is_judged_as_from_scratch(
    disk: bytes, live_now: bytes
) -> None:
    """The comparison of the save with its base is not done again when only the live
    state moved while it ran: what is redone gives the very judgment a fresh one does."""
    before = external_change(BASE, BASE, disk, F)
    again = judged_again(before, BASE, live_now, disk)
    assert again == external_change(BASE, live_now, disk, F)


def test_a_judgment_that_read_the_live_state_is_made_again() -> None:
    """A save that was the live state, or a file judged without a base or a live copy,
    is compared again (None: judge from scratch)."""
    became_live = external_change(BASE, FILLED, FILLED, F)
    assert became_live.reason == "already the live state"
    assert judged_again(became_live, BASE, LIVE_MOVED, FILLED) is None
    assert judged_again(external_change(None, BASE, FILLED, F), None, LIVE_MOVED, FILLED) is None
    added = external_change(BASE, None, FILLED, F)
    assert judged_again(added, BASE, None, FILLED) is None
