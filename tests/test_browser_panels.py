"""The editor's side panels in real Chromium against a real daemon: the people of a
session with their cursors and selections, versions (create, revert) and branches
(create, switch), live conflicts resolved from the page, and a viewer's page without
controls that change anything (docs/editor-panels.md)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from browser import Served, Watched, wait_until
from websockets.sync.client import connect

ALICE_AND_BOB = (("alice", "Alice", None), ("bob", "Bob", None))
RECT = {
    "type": "rectangle",
    "position": {"x": 100, "y": 100},
    "size": {"width": 100, "height": 80},
    "style": {"fill": "red"},
}
ACTIVITY_INTERVAL_S = 0.033  # presence.js ACTIVITY_INTERVAL_MS


class Peer:
    """A user beside the pages, on a plain WebSocket: sets a document up, makes edits."""

    def __init__(self, ws: Any, user: str, token: str | None = None) -> None:
        self.user = user
        self.ws = ws
        join: dict[str, Any] = {"type": "join", "user_id": user, "session_id": "plan"}
        if token:
            join["token"] = token
        self.send(join)
        self.seq = self.expect("welcome")["seq"]
        self.count = 0

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def expect(self, kind: str, deadline_s: float = 10) -> dict[str, Any]:
        end = time.monotonic() + deadline_s
        while (left := end - time.monotonic()) > 0:
            message = json.loads(self.ws.recv(timeout=left))
            if message["type"] == kind:
                return message
            if message["type"] == "error":
                raise AssertionError(f"{self.user} was refused: {message}")
        raise AssertionError(f"{self.user}: no {kind} within {deadline_s} s")

    def op(self, kind: str, element: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Send one operation and return its ack."""
        self.count += 1
        self.send(
            {
                "type": "operation",
                "operation_type": kind,
                "user_id": self.user,
                "element_id": element,
                "data": data,
                "op_id": f"{self.user}-{self.count}",
                **extra,
            }
        )
        ack = self.expect("ack")
        if ack["seq"] is not None:
            self.seq = ack["seq"]
        return ack


@contextmanager
def peer(daemon: Served, user: str, token: str | None = None) -> Iterator[Peer]:
    """A :class:`Peer` joined to ``plan`` for the ``with`` block."""
    with connect(daemon.ws, open_timeout=10) as ws:
        yield Peer(ws, user, token)


def with_a_rect(served: Any) -> Served:
    """A daemon whose document ``plan`` has the rectangle ``r1`` (100, 100, 100 x 80)."""
    daemon: Served = served()
    with peer(daemon, "setup") as setup:
        setup.op("create", "r1", RECT)
    return daemon


@contextmanager
def editors(
    chromium: Any, watched: Any, daemon: Served, *users: tuple[str, str, str | None]
) -> Iterator[list[Watched]]:
    """One browser context (one person) per ``(user, name, token)``, each on the editor of
    ``plan``, live; at the end each page must have logged no error and broken no CSP rule."""
    from playwright.sync_api import expect

    contexts = [chromium.new_context(viewport={"width": 1200, "height": 800}) for _ in users]
    try:
        pages = [
            watched(context, daemon.editor("plan", user=user, name=name, token=token))
            for context, (user, name, token) in zip(contexts, users, strict=True)
        ]
        for page in pages:
            expect(page.page.locator("#svgx-status")).to_have_attribute(
                "data-state", re.compile("live|read-only")
            )
        yield pages
        for page in pages:
            page.assert_clean()
    finally:
        for context in contexts:
            context.close()


def centre(page: Any, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def around_r1(page: Any, outline: Any) -> None:
    """``outline`` is drawn just around r1 as ``page`` shows it."""
    box, shape = outline.bounding_box(), page.locator("#r1").bounding_box()
    assert box is not None and shape is not None
    for low, size in (("x", "width"), ("y", "height")):
        assert shape[low] - 12 <= box[low] <= shape[low] + 1, (box, shape)
        assert shape[low] + shape[size] - 1 <= box[low] + box[size], (box, shape)
        assert box[low] + box[size] <= shape[low] + shape[size] + 12, (box, shape)


def test_people_see_each_other_their_cursors_and_selections(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon = with_a_rect(served)
    with editors(chromium, watched, daemon, *ALICE_AND_BOB) as (alice, bob):
        for page in (alice, bob):
            people = page.page.locator("#svgx-people")
            expect(people.locator('[data-svgx-user="alice"]')).to_contain_text("Alice")
            expect(people.locator('[data-svgx-user="bob"]')).to_contain_text("Bob")
            expect(people.locator('[data-svgx-user="bob"]')).to_have_attribute(
                "data-status", re.compile("online|editing")
            )
        expect(alice.page.locator('[data-svgx-user="alice"]')).to_contain_text("you")

        # Alice's pointer over r1 is Bob's cursor of Alice there, in document coordinates.
        alice.page.mouse.move(*centre(alice.page, "#r1"))
        cursor = bob.page.locator('[data-svgx-cursor="alice"]')
        expect(cursor).to_contain_text("Alice")
        at = wait_until(
            lambda: (
                (x := float(cursor.get_attribute("data-x") or "nan")) > 100
                and x < 200
                and 100 < float(cursor.get_attribute("data-y") or "nan") < 180
                and x
            ),
            "Alice's cursor over r1 in Bob's page",
        )
        assert at
        expect(alice.page.locator('[data-svgx-cursor="alice"]')).to_have_count(0)

        # Alice selects r1: Bob sees it outlined around r1 as his page shows it.
        alice.page.mouse.click(*centre(alice.page, "#r1"))
        outline = bob.page.locator('[data-svgx-remote-selection="alice"][data-element-id="r1"]')
        expect(outline).to_have_count(1)
        around_r1(bob.page, outline)
        # Bob zooms in: the outline follows r1, and the cursor keeps its size on screen.
        arrow = cursor.locator("path")
        before = arrow.bounding_box()
        bob.page.click('#svgx-toolbar [data-action="zoom-in"]')
        wait_until(lambda: (now := arrow.bounding_box()) and now != before, "the cursor redrawn")
        around_r1(bob.page, outline)
        after = arrow.bounding_box()
        assert before is not None and after is not None
        assert abs(after["width"] - before["width"]) < 1, (before, after)
        # Deselecting takes the outline away.
        alice.page.keyboard.press("Escape")
        expect(outline).to_have_count(0)


def test_activity_is_sent_at_most_thirty_times_a_second_and_the_last_one_arrives(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon = with_a_rect(served)
    sent: list[dict[str, Any]] = []

    def frames(ws: Any) -> None:
        def record(payload: str | bytes) -> None:
            message = json.loads(payload)
            if message.get("type") == "activity":
                sent.append(message)

        ws.on("framesent", record)

    with editors(chromium, watched, daemon, *ALICE_AND_BOB) as (alice, bob):
        # The page again, its socket watched from the start.
        alice.page.on("websocket", frames)
        alice.page.reload()
        expect(alice.page.locator("#svgx-status")).to_have_attribute("data-state", "live")
        box = alice.page.locator("#r1").bounding_box()
        assert box is not None
        moves = 120
        alice.page.mouse.move(box["x"] + 2, box["y"] + 2)
        started = time.monotonic()
        # One call, many pointer moves (Playwright interpolates them), as fast as it can.
        alice.page.mouse.move(
            box["x"] + box["width"] - 2, box["y"] + box["height"] - 2, steps=moves
        )
        elapsed = time.monotonic() - started
        cursor = bob.page.locator('[data-svgx-cursor="alice"]')
        last = wait_until(
            lambda: sent and sent[-1].get("cursor_position"), "Alice's activity frames"
        )
        # The trailing send: Bob ends where Alice's last move was.
        wait_until(
            lambda: (
                cursor.get_attribute("data-x") == str(sent[-1]["cursor_position"]["x"])
                and cursor.get_attribute("data-y") == str(sent[-1]["cursor_position"]["y"])
            ),
            f"Bob's cursor of Alice at {last}",
        )
        positions = [m for m in sent if "cursor_position" in m]
        bound = (elapsed + ACTIVITY_INTERVAL_S) / ACTIVITY_INTERVAL_S + 2
        assert 1 < len(positions) <= bound, (len(positions), elapsed, moves)
        print(f"{moves} moves in {elapsed * 1000:.0f} ms sent {len(positions)} activity frames")
        assert len(positions) < moves


def test_versions_are_made_listed_reverted_and_branches_made_and_switched(
    chromium: Any, served: Any, watched: Any, git: Any
) -> None:
    from playwright.sync_api import expect

    daemon: Served = served()
    with (
        peer(daemon, "carol") as carol,
        editors(chromium, watched, daemon, *ALICE_AND_BOB) as pages,
    ):
        alice, bob = pages
        carol.op("create", "r1", RECT)
        alice.page.fill("#svgx-history input[name=version-message]", "Walls drawn")
        alice.page.click("#svgx-history [data-panel-action=create-version]")
        for page in (alice, bob):
            newest = page.page.locator("#svgx-history li[data-version-id]").first
            expect(newest.locator(".svgx-version-message")).to_have_text("Walls drawn")
            expect(newest.locator(".svgx-version-author")).to_have_text("Alice")
        repo = daemon.root / "plan"
        assert git(repo, "log", "-1", "--format=%s|%an").strip() == "Walls drawn|Alice"
        walls = git(repo, "rev-parse", "HEAD").strip()
        parent = git(repo, "rev-parse", "HEAD^").strip()
        entry = bob.page.locator(f'#svgx-history li[data-version-id="{walls}"]')
        expect(entry.locator("a[data-link=diff]")).to_have_attribute(
            "href", f"/d/plan/diff?from={parent}&to={walls}"
        )
        expect(entry.locator("a[data-link=live]")).to_have_attribute(
            "href", f"/d/plan/diff?from={walls}&to=live"
        )

        # A live edit after the version, then Bob reverts to the version.
        carol.op("update", "r1", {"style": {"fill": "blue"}})
        wait_until(lambda: "fill:blue" in daemon.file("plan").read_text(), "the blue file")
        entry.locator("[data-panel-action=revert]").click()
        wait_until(lambda: "fill:red" in daemon.file("plan").read_text(), "the reverted file")
        for page in (alice, bob):
            newest = page.page.locator("#svgx-history li[data-version-id]").first
            expect(newest.locator(".svgx-version-message")).to_contain_text("Revert to")
            expect(newest.locator(".svgx-version-author")).to_have_text("Bob")
        assert git(repo, "log", "-1", "--format=%an").strip() == "Bob"
        assert "fill:red" in git(repo, "show", "HEAD:document.svg")

        # Alice makes a branch and switches to it: the address says which.
        alice.page.fill("#svgx-branches input[name=branch-name]", "idea")
        alice.page.click("#svgx-branches [data-panel-action=create-branch]")
        row = alice.page.locator('#svgx-branches li[data-branch="idea"]')
        expect(row).to_have_count(1)
        assert "idea" in git(repo, "branch", "--list", "idea")
        expect(alice.page.locator('#svgx-branches li[data-branch="main"]')).to_have_attribute(
            "aria-current", "true"
        )
        row.locator("[data-panel-action=switch-branch]").click()
        alice.page.wait_for_url(re.compile(r"/d/plan@idea\?user=alice"))
        expect(alice.page.locator("#svgx-status")).to_have_attribute("data-state", "live")
        expect(alice.page.locator('#svgx-branches li[data-branch="idea"]')).to_have_attribute(
            "aria-current", "true"
        )
        newest = alice.page.locator("#svgx-history li[data-version-id] .svgx-version-message")
        expect(newest.first).to_contain_text("Revert to")

        # Bob follows the version's link to its changes: the diff page shows r1 added.
        entry.locator("a[data-link=diff]").click()
        bob.page.wait_for_url(re.compile(r"/d/plan/diff\?from="))
        expect(bob.page.locator('#svgx-diff-changes tr[data-element-id="r1"]')).to_have_count(1)


def test_a_conflict_is_listed_with_its_choices_and_resolving_it_removes_it(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon: Served = served()
    with (
        peer(daemon, "carol") as carol,
        peer(daemon, "dave") as dave,
        editors(chromium, watched, daemon, *ALICE_AND_BOB) as pages,
    ):
        alice, bob = pages
        base = carol.op("create", "r1", RECT)["seq"]
        conflicts = alice.page.locator("#svgx-conflicts")
        expect(conflicts).to_have_attribute("data-strategy", "automatic")
        alice.page.select_option("#svgx-conflicts select[name=strategy]", "manual")
        expect(bob.page.locator("#svgx-conflicts")).to_have_attribute("data-strategy", "manual")

        # Carol and Dave set r1's width from the same base: Dave's is held.
        carol.op("update", "r1", {"attributes": {"width": "150"}}, base_seq=base)
        assert dave.op("update", "r1", {"attributes": {"width": "250"}}, base_seq=base)[
            "status"
        ] == ("pending")
        for page in (alice, bob):
            row = page.page.locator("#svgx-conflicts li[data-conflict-id]")
            expect(row).to_have_count(1)
            expect(row).to_contain_text("r1")
            expect(row).to_contain_text("width")
            expect(row.locator("[data-resolution=ours]")).to_contain_text("150")
            expect(row.locator("[data-resolution=theirs]")).to_contain_text("250")
        wait_until(lambda: 'width="150"' in daemon.file("plan").read_text(), "Carol's width")

        # Bob picks a value of his own: the conflict leaves both lists, the file has it.
        bob.page.fill("#svgx-conflicts input[name=conflict-value]", "175")
        bob.page.click("#svgx-conflicts [data-resolution=value]")
        for page in (alice, bob):
            expect(page.page.locator("#svgx-conflicts li[data-conflict-id]")).to_have_count(0)
            expect(page.page.locator("#svgx-conflicts")).to_have_attribute("data-open", "0")
        wait_until(lambda: 'width="175"' in daemon.file("plan").read_text(), "Bob's value")


def test_a_viewer_sees_history_people_and_conflicts_but_no_controls(
    chromium: Any, served: Any, watched: Any
) -> None:
    daemon: Served = served(tokens=True)
    users = (
        ("alice", "Alice", daemon.token("editor", "alice", name="Alice")),
        ("vic", "Vic", daemon.token("viewer", "vic", name="Vic")),
    )
    with (
        peer(daemon, "carol", daemon.token("admin", "carol", name="Carol")) as carol,
        peer(daemon, "dave", daemon.token("editor", "dave", name="Dave")) as dave,
    ):
        carol.op("create", "r1", RECT)
        carol.send({"type": "version", "action": "create_version", "description": "Start"})
        carol.expect("version_created")
        carol.send({"type": "configure", "strategy": "manual"})
        carol.expect("session_configured")
        viewer_sees_no_controls(chromium, watched, daemon, users, carol, dave)


def viewer_sees_no_controls(
    chromium: Any, watched: Any, daemon: Served, users: Any, carol: Peer, dave: Peer
) -> None:
    from playwright.sync_api import expect

    with editors(chromium, watched, daemon, *users) as (alice, vic):
        page = vic.page
        expect(page.locator("#svgx-history li[data-version-id]").first).to_contain_text("Start")
        expect(page.locator("#svgx-history a[data-link=live]").first).to_be_visible()
        expect(page.locator('#svgx-people [data-svgx-user="alice"]')).to_contain_text("Alice")
        expect(page.locator('#svgx-people [data-svgx-user="vic"]')).to_contain_text("Vic")
        expect(page.locator('#svgx-branches li[data-branch="main"]')).to_have_count(1)
        expect(page.locator("#svgx-conflicts")).to_have_attribute("data-strategy", "manual")
        # The editor's page has the controls the viewer's lacks; the strategy is an
        # admin's to change, so neither has its picker.
        controls = (
            "[data-panel-action=create-version]",
            "[data-panel-action=revert]",
            "[data-panel-action=create-branch]",
        )
        for selector in controls:
            expect(alice.page.locator(selector).first).to_be_visible()
            expect(page.locator(selector)).to_have_count(0)
        for viewed in (alice.page, page):
            expect(viewed.locator("select[name=strategy]")).to_have_count(0)
            expect(viewed.locator("#svgx-conflicts .svgx-strategy-name")).to_have_text("manual")

        # A conflict: the viewer sees it, without choices.
        base = carol.seq
        carol.op("update", "r1", {"attributes": {"x": "1"}}, base_seq=base)
        dave.op("update", "r1", {"attributes": {"x": "2"}}, base_seq=base)
        expect(alice.page.locator("#svgx-conflicts [data-resolution=ours]")).to_have_count(1)
        expect(page.locator("#svgx-conflicts li[data-conflict-id]")).to_have_count(1)
        expect(page.locator("#svgx-conflicts [data-resolution]")).to_have_count(0)
        expect(page.locator("#svgx-conflicts input")).to_have_count(0)
