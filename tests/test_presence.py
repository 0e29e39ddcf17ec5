"""Presence rules, with the clock passed in."""

from __future__ import annotations

from svgx_sync.core.presence import PresenceBook


def statuses(book: PresenceBook) -> dict[str, str]:
    return {u["user_id"]: u["status"] for u in book.snapshot()}


def test_join_is_online_and_reported_once():
    book = PresenceBook()
    book.join("a", "Alice", 0.0)
    (user,) = book.tick(0.0)
    assert (user["username"], user["status"]) == ("Alice", "online")
    assert book.tick(0.1) == []


def test_many_activities_coalesce_into_one_report_per_tick():
    book = PresenceBook()
    book.join("a", "Alice", 0.0)
    book.tick(0.0)
    for i in range(50):
        book.activity("a", 0.001 * i, cursor_position={"x": i, "y": i})
    (user,) = book.tick(0.1)
    assert user["cursor_position"] == {"x": 49, "y": 49}


def test_operations_make_a_user_editing_then_online_again():
    book = PresenceBook(editing_window=5)
    book.join("a", "A", 0.0)
    book.operation("a", 1.0, "r1")
    assert statuses(book)["a"] == "editing"
    book.tick(1.0)
    changed = book.tick(6.5)
    assert [u["status"] for u in changed] == ["online"]


def test_away_after_the_activity_timeout_and_back_on_activity():
    book = PresenceBook(activity_timeout=300)
    book.join("a", "A", 0.0)
    book.tick(0.0)
    assert [u["status"] for u in book.tick(299.0)] == []
    assert [u["status"] for u in book.tick(300.0)] == ["away"]
    book.activity("a", 301.0)
    assert [u["status"] for u in book.tick(301.0)] == ["online"]


def test_user_said_away_and_editing_are_kept():
    book = PresenceBook()
    book.join("a", "A", 0.0)
    book.activity("a", 1.0, status="away")
    assert statuses(book)["a"] == "away"
    book.activity("a", 2.0, status="editing", selected_elements=["x", "y"])
    assert statuses(book)["a"] == "editing"
    assert book.snapshot()[0]["selected_elements"] == ["x", "y"]


def test_offline_on_last_leave_then_dropped_after_grace():
    book = PresenceBook(offline_grace=30)
    book.join("a", "A", 0.0)
    book.join("a", "A", 0.0)  # two tabs
    book.leave("a", 1.0)
    assert statuses(book)["a"] == "online"
    book.leave("a", 2.0)
    assert statuses(book)["a"] == "offline"
    assert book.active() == []
    book.tick(2.0)
    assert [u["status"] for u in book.tick(32.0)] == ["offline"]
    assert book.snapshot() == []


def test_reconnect_within_grace_is_seamless():
    book = PresenceBook(offline_grace=30)
    book.join("a", "A", 0.0)
    book.leave("a", 1.0)
    book.join("a", "A", 5.0)
    assert statuses(book)["a"] == "online"
    book.tick(5.0)
    assert book.tick(40.0) == []


def test_select_and_deselect_change_the_selection():
    book = PresenceBook()
    book.join("a", "A", 0.0)
    book.select("a", 1.0, "r1", True)
    book.select("a", 1.0, "r2", True)
    book.select("a", 1.0, "r1", False)
    assert book.snapshot()[0]["selected_elements"] == ["r2"]


def test_next_change_is_now_while_changes_wait_then_the_earliest_timeout():
    book = PresenceBook(activity_timeout=300, editing_window=5, offline_grace=30)
    assert book.next_change(0.0) is None  # nobody: nothing to wake up for
    book.join("a", "A", 0.0)
    assert book.next_change(0.0) == 0.0
    book.tick(0.0)
    assert book.next_change(0.0) == 300.0  # a goes away then
    book.operation("a", 10.0)
    book.tick(10.0)
    assert book.next_change(10.0) == 15.0  # editing ends first
    assert [u["status"] for u in book.tick(15.0)] == ["online"]
    assert book.next_change(15.0) == 310.0
    book.leave("a", 20.0)
    book.tick(20.0)
    assert book.next_change(20.0) == 50.0  # dropped after the grace
    assert [u["status"] for u in book.tick(50.0)] == ["offline"]
    assert book.next_change(50.0) is None


def test_next_change_never_names_a_time_already_past():
    # A user who says "editing" stays editing after the window: that timeout has passed
    # without a change and must not wake the daemon again and again.
    book = PresenceBook(activity_timeout=300, editing_window=5)
    book.join("a", "A", 0.0)
    book.activity("a", 1.0, status="editing")
    book.operation("a", 1.0)
    book.tick(1.0)
    assert book.tick(6.0) == []
    assert book.next_change(6.0) == 301.0
    book.activity("a", 400.0)  # back from away: the next timeout is relative to now
    book.tick(400.0)
    assert book.next_change(400.0) == 700.0
