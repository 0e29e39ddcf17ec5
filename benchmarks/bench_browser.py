"""The editor in real Chromium on a 10k-element drawing: how soon a remote operation is
in the page's DOM, and how smooth a drag is.

One daemon (``svgx-sync serve``), two pages open on the same document at once:

* **editor**: ``/d/plan``, the editor as users get it;
* **floor**: a bare page on the same origin that joins with a raw WebSocket, puts the
  welcome's SVG (fetched when the welcome names it) in the page as it is, and on each ``operations`` frame sets the moved
  element's ``x``/``y``: the least any page can do with the same frames.

A Python client sends ``move`` operations on random elements; both pages stamp each
frame's arrival (``performance.now()`` in a ``message`` listener registered before the
page's own) and the moment the element's attribute changed in the DOM (a
``MutationObserver``), and whether that was before the next animation frame.

Then a drag of one element in each page (Playwright's mouse, 60 moves), with every
animation frame's interval recorded during it, and the operations the editor sent for
it (a drag is one operation, on release).

    .venv/bin/python benchmarks/bench_browser.py [--elements 10000] [--ops 200]

Needs Debian's Chromium (/usr/bin/chromium) and Playwright's Python package (the test
extra). Prints median and p99 in ms for each page; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_core import floor_plan  # noqa: E402
from browser import CHROMIUM_ARGS, wait_for_announced_url  # noqa: E402

# Stamps each frame's arrival and each drawing element's change, for both pages.
INSTRUMENT = """
window.__bench = { arrivals: {}, changes: [], frames: [], sent: [] };
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', (event) => {
      const t = performance.now();
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      if (msg.type !== 'operations') return;
      let nextFrame = null;
      requestAnimationFrame((ft) => { nextFrame = performance.now(); });
      for (const op of msg.operations) {
        if (op.user_id !== 'remote') continue;
        window.__bench.arrivals[op.op_id] = { t, id: op.element_id, frame: () => nextFrame };
      }
    });
  }
  send(data) {
    try {
      const msg = JSON.parse(data);
      if (msg.type === 'operation') window.__bench.sent.push(msg.operation_type);
    } catch {}
    return super.send(data);
  }
};
new MutationObserver((records) => {
  const t = performance.now();
  for (const r of records) {
    const id = r.target.getAttribute && (r.target.getAttribute('data-svgx-id') || r.target.id);
    if (id) window.__bench.changes.push({ id, t });
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ['x', 'y', 'transform'] });
"""

FLOOR_PAGE = """<!doctype html><html><body style="margin:0">
<div id="canvas" style="width:100vw;height:100vh"></div>
<script>
const ws = new WebSocket('ws://' + location.host + '/');
ws.onopen = () => ws.send(JSON.stringify({type: 'join', user_id: 'floor', session_id: 'plan'}));
ws.onmessage = (event) => {
  const msg = JSON.parse(event.data);
  if (msg.type === 'welcome') {
    // a large drawing is named in the welcome, not carried (docs/protocol.md)
    const text = msg.svg !== null ? Promise.resolve(msg.svg)
      : fetch(msg.file_urls['document.svg']).then((r) => r.text());
    text.then((markup) => {
      const svg = new DOMParser().parseFromString(markup, 'image/svg+xml').documentElement;
      svg.setAttribute('width', '100%'); svg.setAttribute('height', '100%');
      svg.setAttribute('viewBox', '0 0 10000 10000');
      document.getElementById('canvas').append(document.importNode(svg, true));
      document.body.dataset.ready = '1';
    });
  } else if (msg.type === 'operations') {
    for (const op of msg.operations) {
      const el = document.getElementById(op.element_id);
      if (!el || op.operation_type !== 'move') continue;
      el.setAttribute('x', String(Number(el.getAttribute('x')) + op.data.dx));
      el.setAttribute('y', String(Number(el.getAttribute('y')) + op.data.dy));
    }
  }
};
</script></body></html>"""

# A drag: every animation frame's interval while the mouse moves.
FRAME_LOOP = """
() => {
  window.__bench.frames = [];
  let last = performance.now();
  window.__bench.looping = true;
  const tick = (t) => {
    window.__bench.frames.push(t - last); last = t;
    if (window.__bench.looping) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}
"""


def drawing(n: int) -> bytes:
    """The floor plan of ``bench_core`` and one large rect to drag."""
    body = floor_plan(n).decode()
    target = '  <rect id="target" x="4000" y="4000" width="1500" height="1500" fill="#9cf"/>\n'
    return body.replace("</svg>", target + "</svg>").encode()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cell(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{statistics.median(values):7.2f} / {pct(values, 0.99):7.2f}"


def start_daemon(folder: Path, n: int) -> tuple[subprocess.Popen[str], str]:
    plan = folder / "docs" / "plan"
    plan.mkdir(parents=True)
    (plan / "document.svg").write_bytes(drawing(n))
    subprocess.run([sys.executable, "-m", "svgx_sync", "init", str(plan)], check=True)
    log = open(folder / "daemon.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(
        [sys.executable, "-m", "svgx_sync", "serve", str(folder / "docs"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    return proc, wait_for_announced_url(proc, folder / "daemon.log")


def remote_moves(ws_url: str, ids: list[str], count: int, seed: int = 7) -> None:
    """``count`` moves by another user, each sent after the previous one's ack."""
    rng = random.Random(seed)
    with connect(ws_url, max_size=None) as ws:
        ws.send(json.dumps({"type": "join", "user_id": "remote", "session_id": "plan"}))
        while json.loads(ws.recv(timeout=30))["type"] != "welcome":
            pass
        for i in range(count):
            op_id = f"bench-{i}"
            ws.send(
                json.dumps(
                    {
                        "type": "operation",
                        "operation_type": "move",
                        "op_id": op_id,
                        "user_id": "remote",
                        "session_id": "plan",
                        "element_id": rng.choice(ids),
                        "data": {"dx": 3, "dy": 2},
                    }
                )
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv(timeout=10))
                if msg.get("type") == "ack" and msg.get("op_id") == op_id:
                    break
            time.sleep(0.02)  # a user's pace, and room for the pages to paint


def latencies(page: Any) -> tuple[list[float], int, int]:
    """Arrival → DOM per remote operation (ms), how many were in the DOM before the
    next animation frame, and how many arrived."""
    data = page.evaluate(
        """() => {
      const out = [];
      for (const [opId, a] of Object.entries(window.__bench.arrivals)) {
        const c = window.__bench.changes.find((c) => c.id === a.id && c.t >= a.t);
        out.push({ dom: c ? c.t - a.t : null, frame: a.frame(), t: a.t, at: c ? c.t : null });
      }
      return out;
    }"""
    )
    values = [d["dom"] for d in data if d["dom"] is not None]
    in_frame = sum(
        1 for d in data if d["at"] is not None and (d["frame"] is None or d["at"] <= d["frame"])
    )
    return values, in_frame, len(data)


def drag(page: Any, selector: str) -> tuple[list[float], list[str]]:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not visible"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate("() => { window.__bench.sent = []; }")
    page.evaluate(FRAME_LOOP)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 120, y + 80, steps=60)
    page.mouse.up()
    page.wait_for_timeout(300)  # let the release's operation go out
    page.evaluate("() => { window.__bench.looping = false; }")
    frames = page.evaluate("() => window.__bench.frames.slice(1)")
    sent = page.evaluate("() => window.__bench.sent")
    return frames, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=int, default=10_000)
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        proc, url = start_daemon(Path(scratch), args.elements)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=args.chromium,
                    headless=True,
                    # The floor page is fulfilled by Playwright, not by a server on this
                    # machine, so Chromium would refuse its connection to loopback.
                    args=[*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"],
                )
                # A context each, so that each page is a visible window of its own.
                contexts = [
                    browser.new_context(viewport={"width": 1280, "height": 800}) for _ in "ab"
                ]
                for context in contexts:
                    context.add_init_script(INSTRUMENT)
                contexts[1].route(
                    f"{url}/bench-floor",
                    lambda r: r.fulfill(status=200, content_type="text/html", body=FLOOR_PAGE),
                )
                editor = contexts[0].new_page()
                loaded = time.perf_counter()
                editor.goto(f"{url}/d/plan?user=bench&name=Bench")
                expect(editor.locator("#svgx-status")).to_have_attribute(
                    "data-state", "live", timeout=60_000
                )
                expect(editor.locator("[data-svgx-canvas] #target")).to_be_attached(timeout=60_000)
                load_s = time.perf_counter() - loaded
                floor = contexts[1].new_page()
                floor.goto(f"{url}/bench-floor")
                expect(floor.locator("body[data-ready]")).to_be_attached(timeout=60_000)
                ids = [f"e{i}" for i in range(args.elements)]
                remote_moves(url.replace("http", "ws", 1) + "/", ids, args.ops)
                editor.wait_for_timeout(500)
                print(
                    f"# {args.elements} elements, {args.ops} remote moves; editor loaded "
                    f"and live in {load_s:.2f} s"
                )
                print(
                    "| page | arrival → DOM ms (median / p99) | in the DOM before the next frame |"
                )
                print("|---|---|---|")
                for name, page in (("editor", editor), ("floor", floor)):
                    values, in_frame, arrived = latencies(page)
                    print(f"| {name} | {cell(values)} | {in_frame} of {arrived} |")
                print()
                print(
                    "| page | frame interval during a drag ms (median / p99) | longest | "
                    "operations sent |"
                )
                print("|---|---|---|---|")
                frames, sent = drag(editor, "[data-svgx-canvas] #target")
                print(
                    f"| editor | {cell(frames)} | {max(frames, default=0):.1f} | "
                    f"{len(sent)} ({', '.join(sorted(set(sent)))}) |"
                )
                frames, _ = drag(floor, "#target")
                print(f"| floor | {cell(frames)} | {max(frames, default=0):.1f} | — |")
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
