"""The documents page in real Chromium: what it lists, and the way to a new document."""

from __future__ import annotations

from typing import Any

from browser import Served, Watched

PLAN = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="door" width="4" height="8"/></svg>\n'


def test_the_documents_page_lists_documents_and_opens_a_new_one(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon: Served = served(documents={"plan": PLAN})
    context = chromium.new_context()
    try:
        page: Watched = watched(context, daemon.url + "/")
        row = page.page.locator('tr[data-document="plan"]')
        expect(row).to_contain_text("Adopt folder")
        expect(row.locator("a", has_text="plan").first).to_have_attribute("href", "/d/plan")
        expect(page.page.locator("#svgx-index-status")).to_have_attribute("data-state", "ready")
        page.page.fill("#svgx-new-name", "bad/name")
        page.page.click("#svgx-new-document button")
        expect(page.page.locator("#svgx-new-error")).not_to_be_empty()
        page.assert_clean()
        page.page.fill("#svgx-new-name", "floor-2")
        page.page.click("#svgx-new-document button")
        page.page.wait_for_url(daemon.url + "/d/floor-2")
    finally:
        context.close()
