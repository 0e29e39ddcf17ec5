"""The visual diff page in real Chromium: two versions of a drawing, the changed elements
listed and tinted, a row highlighting its element in both renderings, and the modes."""

from __future__ import annotations

import json
from typing import Any

from browser import Served, Watched

FIRST = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
    b'<rect id="door" x="10" y="10" width="4" height="8" fill="gray"/>'
    b'<circle id="stool" cx="60" cy="60" r="5"/>'
    b"</svg>\n"
)
SECOND = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
    b'<rect id="door" x="10" y="10" width="6" height="8" fill="gray"/>'
    b'<rect id="window" x="40" y="10" width="20" height="5"/>'
    b"</svg>\n"
)


def two_versions(served: Any) -> tuple[Served, str, str]:
    """A daemon serving ``plan`` with FIRST as its first version and SECOND as its next."""
    from svgx_sync.git.store import Store

    daemon: Served = served(documents={"plan": FIRST})
    document = Store(daemon.root).open("plan")
    first = document.head_version()
    assert first is not None
    second = document.commit(
        {"document.svg": SECOND},
        user_id="ada",
        username="Ada",
        description="Wider door, a window",
        update_workdir=True,
    )
    return daemon, first, second


def test_the_diff_page_shows_an_element_changed_between_two_versions(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon, first, second = two_versions(served)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page: Watched = watched(context, f"{daemon.url}/d/plan/diff?from={first[:10]}&to={second}")
        p = page.page
        expect(p.locator("#svgx-diff-status")).to_have_attribute("data-state", "ready")
        expect(p.locator("#svgx-diff-to-label")).to_contain_text("Wider door")

        # The table: the door changed (width 4 -> 6), the window added, the stool removed.
        door = p.locator('#svgx-diff-changes tr[data-element-id="door"]')
        expect(door).to_have_attribute("data-kind", "changed")
        expect(door.locator('[data-attribute="width"]')).to_have_text("width: 4 → 6")
        expect(p.locator('#svgx-diff-changes tr[data-element-id="window"]')).to_have_attribute(
            "data-kind", "added"
        )
        expect(p.locator('#svgx-diff-changes tr[data-element-id="stool"]')).to_have_attribute(
            "data-kind", "removed"
        )

        # Both renderings keep the drawing's ids; the overlay tints what changed where.
        for side in ("from", "to"):
            expect(p.locator(f'[data-svgx-canvas][data-side="{side}"] svg #door')).to_have_count(1)
            mark = p.locator(f'[data-svgx-overlay][data-side="{side}"] [data-element-id="door"]')
            expect(mark).to_have_attribute("data-kind", "changed")
            assert mark.get_attribute("width") not in (None, "0")
        to_marks = p.locator('[data-svgx-overlay][data-side="to"] [data-element-id="window"]')
        expect(to_marks).to_have_attribute("data-kind", "added")
        from_marks = p.locator('[data-svgx-overlay][data-side="from"] [data-element-id="stool"]')
        expect(from_marks).to_have_attribute("data-kind", "removed")
        expect(
            p.locator('[data-svgx-overlay][data-side="to"] [data-element-id="stool"]')
        ).to_have_count(0)
        # the changed mark is amber, drawn around the door's box
        stroke = p.eval_on_selector(
            '[data-svgx-overlay][data-side="to"] [data-element-id="door"]',
            "m => getComputedStyle(m).stroke",
        )
        assert stroke == "rgb(217, 119, 6)", stroke

        # Clicking the row highlights the door in both renderings.
        door.click()
        for side in ("from", "to"):
            expect(
                p.locator(
                    f'[data-svgx-canvas][data-side="{side}"] [id="door"][data-svgx-highlight]'
                )
            ).to_have_count(1)
        expect(p.locator("[data-svgx-canvas] [data-svgx-highlight]")).to_have_count(2)
        expect(door).to_have_attribute("data-selected", "")

        # Swipe: one drawing over the other, the slider reveals the upper one.
        upper = p.locator('.svgx-diff-pane[data-side="to"]')
        p.click('button[data-mode="swipe"]')
        expect(p.locator("#svgx-diff-view")).to_have_attribute("data-mode", "swipe")
        expect(p.locator("#svgx-diff-slider")).to_be_visible()
        p.fill("#svgx-diff-slider", "30")
        expect(upper).to_have_css("clip-path", "inset(0px 0px 0px 30%)")
        boxes = [p.locator(f".svgx-diff-stage >> nth={i}").bounding_box() for i in (0, 1)]
        assert boxes[0] == boxes[1], boxes  # stacked exactly
        # What is under the removed stool: the old drawing where the slider reveals it.
        stool = p.locator('[data-svgx-canvas][data-side="from"] #stool').bounding_box()
        assert stool is not None
        at = [stool["x"] + stool["width"] / 2, stool["y"] + stool["height"] / 2]
        hit = "([x, y]) => document.elementFromPoint(x, y)?.id || ''"
        p.fill("#svgx-diff-slider", "100")
        assert p.evaluate(hit, at) == "stool"
        p.fill("#svgx-diff-slider", "0")
        assert p.evaluate(hit, at) != "stool"
        p.fill("#svgx-diff-slider", "30")

        # Onion skin: the slider is the upper drawing's opacity.
        p.click('button[data-mode="onion"]')
        expect(p.locator("#svgx-diff-view")).to_have_attribute("data-mode", "onion")
        p.fill("#svgx-diff-slider", "25")
        expect(upper).to_have_css("opacity", "0.25")
        expect(upper).to_have_css("clip-path", "none")

        # Back to 2-up, then the other way round: what was added is now removed.
        p.click('button[data-mode="2up"]')
        expect(upper).to_have_css("opacity", "1")
        p.click("#svgx-diff-swap")
        expect(p.locator('#svgx-diff-changes tr[data-element-id="window"]')).to_have_attribute(
            "data-kind", "removed"
        )
        expect(p.locator("#svgx-diff-from")).to_have_value(second)
        page.assert_clean()
    finally:
        context.close()


def test_the_diff_page_compares_a_version_with_the_live_state_under_a_token(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon: Served = served(tokens=True, documents={"plan": FIRST})
    path = daemon.file("plan")
    path.write_bytes(SECOND)  # another program's save: the working tree is the live state
    token = daemon.token("viewer", "vic", documents=("plan",))
    context = chromium.new_context()
    try:
        page: Watched = watched(context, f"{daemon.url}/d/plan/diff?token={token}")
        p = page.page
        expect(p.locator("#svgx-diff-status")).to_have_attribute("data-state", "ready")
        expect(p.locator("#svgx-diff-from")).to_have_value("main")
        expect(p.locator("#svgx-diff-to")).to_have_value("live")
        expect(p.locator('#svgx-diff-changes tr[data-element-id="window"]')).to_have_attribute(
            "data-kind", "added"
        )
        # Another comparison from the pickers, with the same token.
        p.fill("#svgx-diff-to", "main")
        p.click('#svgx-diff-revs button[type="submit"]')
        expect(p.locator("#svgx-diff-none")).to_be_visible()
        expect(p.locator("#svgx-diff-changes tbody tr")).to_have_count(0)
        # A stranger's token is refused with the server's reason.
        stranger = daemon.token("admin", "sam", documents=("other",))
        other = watched(chromium.new_context(), f"{daemon.url}/d/plan/diff?token={stranger}")
        expect(other.page.locator("#svgx-diff-status")).to_have_attribute("data-state", "error")
        expect(other.page.locator("#svgx-diff-status")).to_contain_text("may not open")
        other.page.context.close()
        page.assert_clean()
    finally:
        context.close()


def test_the_diff_page_asks_again_while_the_daemon_is_still_comparing(
    chromium: Any, served: Any, watched: Any
) -> None:
    """The daemon answers 503 with ``retry`` while a long comparison runs (the first
    answer here is that one, given by the browser's router); the page says so, asks
    again and shows the real daemon's answer."""
    from playwright.sync_api import expect

    daemon, first, second = two_versions(served)
    asked: list[str] = []

    def still_comparing_once(route: Any) -> None:
        asked.append(route.request.url)
        if len(asked) > 1:
            route.continue_()
            return
        message = "comparing these versions of 'plan' takes more than 8 s; it goes on"
        body = {"error": "comparing", "message": message, "retry": True}
        route.fulfill(status=503, content_type="application/json", body=json.dumps(body))

    context = chromium.new_context()
    try:
        context.route("**/api/d/plan/diff*", still_comparing_once)
        page: Watched = watched(context, f"{daemon.url}/d/plan/diff?from={first}&to={second}")
        p = page.page
        badge = p.locator("#svgx-diff-status")
        expect(badge).to_contain_text("still comparing")
        expect(badge).to_have_attribute("data-state", "ready")
        assert len(asked) == 2, asked
        door = p.locator('#svgx-diff-changes tr[data-element-id="door"]')
        expect(door).to_have_attribute("data-kind", "changed")
        # Chromium reports the 503 itself on the console; nothing else may show.
        page.assert_clean(allow=(r"status of 503",))
    finally:
        context.close()
