"""Active content in a drawing never runs in the pages: the daemon sends an inert copy,
and the pages' Content-Security-Policy refuses what gets into the page anyway."""

from __future__ import annotations

from typing import Any

from browser import Served, Watched

HOSTILE = b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="400" height="300" onload="window.__ran = 'onload'">
  <script>window.__ran = 'script';</script>
  <rect id="box" x="20" y="20" width="200" height="120" fill="tan"
        onclick="window.__ran = 'onclick'" onmouseover="window.__ran = 'onmouseover'"/>
  <a id="link" xlink:href="javascript:window.__ran = 'href'">
    <rect id="in-link" x="240" y="20" width="100" height="100" fill="teal"/>
  </a>
  <foreignObject x="0" y="160" width="300" height="100">
    <iframe xmlns="http://www.w3.org/1999/xhtml" src="javascript:parent.__ran='iframe'"/>
  </foreignObject>
  <set attributeName="onclick" to="window.__ran = 'set'"/>
</svg>
"""


def test_a_drawing_with_scripts_and_handlers_runs_none_of_them(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon: Served = served(documents={"hostile": HOSTILE})
    context = chromium.new_context()
    try:
        page: Watched = watched(context, daemon.editor("hostile", user="ada", name="Ada"))
        box = page.page.locator("[data-svgx-canvas] #box")
        expect(box).to_be_visible()
        box.hover()
        box.click()
        page.page.locator("[data-svgx-canvas] #in-link").click()
        assert page.page.evaluate("() => window.__ran") is None
        assert page.page.locator("[data-svgx-canvas] script").count() == 0
        assert page.page.locator("[data-svgx-canvas] iframe").count() == 0
        page.assert_clean()
    finally:
        context.close()


def test_the_pages_policy_refuses_a_handler_that_gets_into_the_page(
    chromium: Any, served: Any, watched: Any
) -> None:
    """Whatever route puts an ``onclick`` or a ``<script>`` into a page's DOM, the
    browser refuses to run it and reports the violation."""
    daemon: Served = served()
    context = chromium.new_context()
    try:
        for path in ["/", "/d/plan?user=ada&name=Ada", "/d/plan/diff?from=main&to=live"]:
            page: Watched = watched(context, daemon.url + path)
            page.page.wait_for_load_state("load")
            page.page.evaluate(
                """() => {
                  const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
                  rect.setAttribute('onclick', "window.__ran = 'onclick'");
                  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
                  svg.append(rect);
                  document.body.append(svg);
                  rect.dispatchEvent(new MouseEvent('click'));
                  const script = document.createElement('script');
                  script.textContent = "window.__ran = 'script'";
                  document.body.append(script);
                }"""
            )
            assert page.page.evaluate("() => window.__ran") is None, path
            violations = [p for p in page.problems if "CSP violation" in p]
            assert any("script-src" in v for v in violations), (path, page.problems)
            page.page.close()
    finally:
        context.close()
