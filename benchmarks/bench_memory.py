"""What a live document costs the daemon in memory, beside lxml's own tree of it.

A generated floor-plan-like drawing (rects in groups, one element per line) is the live
document of a real daemon (``svgx-sync serve`` on 127.0.0.1, a subprocess). Its RSS
(``/proc/PID/status`` VmRSS, and VmHWM for the peak) is printed at start, after a client
joins (and fetches the file the welcome names), after one client operation, after an
outside edit (the file written on disk, until the client has it), after a version
(``create_version``), after a diff (``GET /api/d/<doc>/diff``, taking gzip as the diff
page's browser does: from the version just made, the same bytes as live), after a diff
from the first version (whose file differs from the live one), and after each of them
again in ``--more`` rounds (to show whether it stays flat, and which step makes a peak). Beside it, the floor, measured in the same run: the RSS
growth of a fresh Python process that parses the file with lxml and builds an id dict.
The ratio is the daemon's growth since start over the floor. Each stage is read once
the daemon has been idle for :data:`QUIET_S` (no CPU time spent: the step and what
follows it, the watcher's pass and the debounced writes, are over, and the daemon has
given back what they freed, ``svgx_sync.daemon.memory``); VmHWM shows the peak in
between. A diff the daemon does
not answer (a large drawing's can outlast the HTTP handshake's timeout) is printed as
such, and the stages go on.

    .venv/bin/python benchmarks/bench_memory.py                  # 60k elements
    .venv/bin/python benchmarks/bench_memory.py --size 561k      # the 50 MB drawing
    .venv/bin/python benchmarks/bench_memory.py --size 60k --more 3
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import websockets

from svgx_sync.git.store import Store

SIZES = {"60k": 60_000, "561k": 561_000}
QUIET_S = 1.0
"""How long the daemon is idle before a stage is read: past its delay before it gives
freed memory back (``svgx_sync.daemon.memory.DELAY_S``)."""

FLOOR = r"""
import sys
from pathlib import Path
from lxml import etree

def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
before = rss()
data = Path(sys.argv[1]).read_bytes()
root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
ids = {el.get("id"): el for el in root.iter(etree.Element)}
del data
print(rss() - before, len(ids))
"""


def drawing(n: int, tweak: int = 0) -> bytes:
    """``n`` elements: rooms (groups) of 100 rects, one element per line, ~89 bytes each.
    ``tweak`` changes the fill of rect 0 (an outside edit)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<svg xmlns="http://www.w3.org/2000/svg">']
    made = 0
    room = 0
    while made < n:
        lines.append(f'  <g id="room{room}" class="room">')
        made += 1
        for _ in range(min(99, n - made)):
            i = made
            fill = f"#c{tweak:05d}" if i == 1 else "#d0d0d0"
            lines.append(
                f'    <rect id="r{i}" x="{i % 1000 * 10}.5" y="{i // 1000 * 10}.25"'
                f' width="9.5" height="9.5" fill="{fill}" stroke="#333"/>'
            )
            made += 1
        lines.append("  </g>")
        room += 1
    lines.append("</svg>")
    return ("\n".join(lines) + "\n").encode()


def status(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def cpu_ticks(pid: int) -> int:
    """The CPU time a process has used, in clock ticks (utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def quiet(pid: int, *, limit_s: float = 120) -> None:
    """Until ``pid`` has used no CPU time for QUIET_S (at most ``limit_s``)."""
    deadline = time.monotonic() + limit_s
    ticks, since = cpu_ticks(pid), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < QUIET_S:
        await asyncio.sleep(0.1)
        now = cpu_ticks(pid)
        if now != ticks:
            ticks, since = now, time.monotonic()


def floor(path: Path) -> float:
    """The RSS growth (MB) of a fresh process that parses ``path`` and indexes its ids."""
    out = subprocess.run(
        [sys.executable, "-c", FLOOR, str(path)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.split()[0])


class Bench:
    def __init__(self, root: Path, n: int, more: int) -> None:
        self.root = root
        self.n = n
        self.more = more
        self.path = root / "plan" / "document.svg"
        self.tweak = 0
        self.rows: list[tuple[str, float, float, float]] = []
        self.start_rss = 0.0

    async def run(self) -> None:
        doc = Store(self.root).create("plan")
        doc.commit(
            {"document.svg": drawing(self.n)},
            user_id="u",
            username="U",
            description="Start",
            update_workdir=True,
        )
        self.first = doc.head_version()
        proc = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "svgx_sync", "serve", str(self.root), "--port", "0"],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        self.port = int(line.split("ws://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
        self.pid = proc.pid
        try:
            await asyncio.sleep(0.5)
            self.start_rss = status(self.pid)[0]
            await self.mark("start")
            await self.session()
        finally:
            proc.terminate()
            await proc.wait()

    async def mark(self, stage: str) -> None:
        await quiet(self.pid)
        rss, peak = status(self.pid)
        base = await asyncio.to_thread(floor, self.path)
        self.rows.append((stage, rss, peak, base))
        growth = rss - self.start_rss
        print(
            f"| {stage} | {rss:.0f} | {growth:+.0f} | {peak:.0f} | {base:.0f} |"
            f" {growth / base:.2f} |",
            flush=True,
        )

    async def session(self) -> None:
        url = f"ws://127.0.0.1:{self.port}"
        async with websockets.connect(url, compression=None, max_size=None) as ws:
            self.ws = ws
            await ws.send(json.dumps({"type": "join", "user_id": "ada", "session_id": "plan"}))
            welcome = await self.until(lambda m: m["type"] == "welcome")
            for file_url in welcome.get("file_urls", {}).values():
                await asyncio.to_thread(self.get, file_url)
            await self.mark("after join")
            await self.operation(0)
            await self.mark("after one client operation")
            await self.outside()
            await self.mark("after an outside edit")
            await self.version(0)
            await self.mark("after a version")
            await self.diff()
            await self.mark("after a diff")
            await self.diff(self.first)
            await self.mark("after a diff from the first version")
            for k in range(1, self.more + 1):  # each stage read again: where a peak comes
                await self.operation(k)
                await self.mark(f"round {k + 1}: after an operation")
                await self.outside()
                await self.mark(f"round {k + 1}: after an outside edit")
                await self.version(k)
                await self.mark(f"round {k + 1}: after a version")
                await self.diff()
                await self.mark(f"round {k + 1}: after a diff")
                await self.diff(self.first)
                await self.mark(f"round {k + 1}: after a diff from the first version")

    async def diff(self, start: str | None = None) -> None:
        """The diff page's data: from the checked-out branch (the version just made: the
        same bytes as live), or from ``start``, whose file differs from the live one."""
        query = "" if start is None else f"?from={start}"
        started = time.monotonic()
        try:
            # as the diff page's browser asks: gzip taken
            await asyncio.to_thread(
                self.get, f"/api/d/plan/diff{query}", {"Accept-Encoding": "gzip"}
            )
        except (OSError, http.client.HTTPException) as exc:
            took = time.monotonic() - started
            print(f"# the diff got no whole answer after {took:.1f} s: {exc!r:.120}", flush=True)
            return
        print(f"# the diff{query} answered in {time.monotonic() - started:.1f} s", flush=True)

    def get(self, path: str, headers: dict[str, str] | None = None) -> None:
        if path.startswith("http"):
            path = "/" + path.split("/", 3)[3]
        asked = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers or {})
        with urllib.request.urlopen(asked, timeout=600) as r:
            r.read()

    async def until(self, want: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 600))
            if message["type"] == "error":
                raise RuntimeError(message)
            if want(message):
                return message
        raise TimeoutError

    async def operation(self, k: int) -> None:
        await self.ws.send(
            json.dumps(
                {
                    "type": "operation",
                    "operation_type": "update",
                    "user_id": "ada",
                    "element_id": f"r{2 + k}",
                    "data": {"attributes": {"fill": f"#a{k:05d}"}},
                    "op_id": f"ada-{k}",
                }
            )
        )
        await self.until(lambda m: m["type"] == "ack")

    async def outside(self) -> None:
        self.tweak += 1
        fill = f"#c{self.tweak:05d}"
        # Another program saves the file as it is on disk with the fill of r1 changed.
        data = self.path.read_bytes()
        data = re.sub(rb'(id="r1" [^>]*fill=")[^"]*', rb"\g<1>" + fill.encode(), data, count=1)
        self.path.write_bytes(data)

        def arrived(m: dict[str, Any]) -> bool:
            return m["type"] == "operations" and any(
                o["user_id"] == "external" and o["data"].get("attributes", {}).get("fill") == fill
                for o in m["operations"]
            )

        await self.until(arrived)

    async def version(self, k: int) -> None:
        await self.ws.send(
            json.dumps(
                {
                    "type": "version",
                    "action": "create_version",
                    "created_by": "ada",
                    "description": f"Version {k}",
                }
            )
        )
        await self.until(lambda m: m["type"] == "version_created")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="60k")
    parser.add_argument("--more", type=int, default=3, help="more rounds of each step")
    args = parser.parse_args()
    n = SIZES[args.size]
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), n, args.more)
        size = len(drawing(n)) / 1e6
        print(f"# {n} elements, {size:.1f} MB; floor: a fresh process's lxml tree + id dict")
        print("| stage | daemon RSS MB | growth MB | peak (VmHWM) MB | floor MB | ratio |")
        print("|---|---|---|---|---|---|")
        asyncio.run(bench.run())
        _stage, rss, peak, base = bench.rows[-1]
        print(
            f"# at the end: growth {rss - bench.start_rss:.0f} MB over the floor"
            f" {base:.0f} MB = {(rss - bench.start_rss) / base:.2f}x; peak {peak:.0f} MB"
        )


if __name__ == "__main__":
    os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    main()
