"""Makes docs/editor-two-users.png, the README's picture: the editor with two people in
one document, each with a selection, the other's cursor on the canvas.

    .venv/bin/python docs/screenshot.py

It starts ``svgx-sync serve`` over a new folder holding fixtures/drawings/floor-plan.svg,
opens the editor in Debian's Chromium twice (Ada and Grace), lets Grace select the sofa
and point at the kitchen, lets Ada select the table, and photographs Ada's page.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import CHROMIUM_ARGS, wait_for_announced_url  # noqa: E402

OUT = ROOT / "docs" / "editor-two-users.png"


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        plan = Path(scratch) / "docs" / "flat"
        plan.mkdir(parents=True)
        shutil.copy(ROOT / "fixtures" / "drawings" / "floor-plan.svg", plan / "document.svg")
        subprocess.run([sys.executable, "-m", "svgx_sync", "init", str(plan)], check=True)
        log = Path(scratch) / "daemon.log"
        with open(log, "ab") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "svgx_sync", "serve", str(plan.parent), "--port", "0"],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        try:
            url = wait_for_announced_url(proc, log)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
                )
                pages = {}
                for user, name in (("ada", "Ada"), ("grace", "Grace")):
                    context = browser.new_context(viewport={"width": 1360, "height": 820})
                    page = context.new_page()
                    page.goto(f"{url}/d/flat?user={user}&name={name}")
                    expect(page.locator("#svgx-status")).to_have_attribute("data-state", "live")
                    page.locator('[data-action="fit"]').click()
                    pages[user] = page
                grace, ada = pages["grace"], pages["ada"]
                grace.locator("[data-svgx-canvas] #sofa").click()
                box = grace.locator("[data-svgx-canvas] #kitchen").bounding_box()
                assert box is not None
                grace.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.7)
                ada.locator("[data-svgx-canvas] #table").click()
                expect(ada.locator('[data-svgx-cursor="grace"]')).to_be_visible()
                expect(ada.locator('[data-svgx-remote-selection="grace"]').first).to_be_attached()
                ada.screenshot(path=str(OUT))
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    print(OUT)


if __name__ == "__main__":
    main()
