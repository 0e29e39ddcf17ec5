"""Joining a big drawing with a client's default 1 MiB message limit.

Per size, a real daemon (``svgx-sync serve``, a subprocess) serves one generated drawing.
A websockets client with its defaults joins: the first join loads the session (cold),
then ``--runs`` more clients join while it is live (warm). Each welcome names the file
instead of carrying it (``file_urls``); the client fetches it over HTTP, gzipped. Printed:
the largest frame any client received (the goal: ≤ 1 MiB), the welcome's size, join →
welcome and the gzipped fetch (median and p99, ms), bytes on the wire against the file's,
and the floor measured in the same run: lxml's parse of the file (what a cold join must
do at least) and reading it from disk.

Beside it, a bystander: a client of another, small document of the same daemon sends an
update and waits for its ack, again and again, while the cold join runs; its slowest and
p99 round trip there say how long the cold join held the daemon up for everyone else.
Its floor: the same round trips with nothing else going on, measured first.

    .venv/bin/python benchmarks/bench_join.py                     # 60k elements
    .venv/bin/python benchmarks/bench_join.py --sizes 60k,561k    # and the 50 MB drawing
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websockets
from bench_memory import SIZES, drawing
from lxml import etree

from svgx_sync.git.store import Store

LIMIT = 1024 * 1024  # websockets' default max_size, and the browser's usual comfort


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def floor_ms(path: Path, runs: int) -> tuple[float, float]:
    """lxml's parse of the file, and reading it, median ms."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    parse, read = [], []
    for _ in range(runs):
        t = time.perf_counter()
        data = path.read_bytes()
        read.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        etree.fromstring(data, parser)
        parse.append((time.perf_counter() - t) * 1000)
    return statistics.median(parse), statistics.median(read)


class Run:
    def __init__(self, port: int) -> None:
        self.port = port
        self.largest = 0
        self.welcome_bytes = 0

    async def join(self, user: str) -> tuple[float, websockets.ClientConnection, dict]:
        t = time.perf_counter()
        ws = await websockets.connect(f"ws://127.0.0.1:{self.port}")  # every default
        await ws.send(json.dumps({"type": "join", "user_id": user, "session_id": "plan"}))
        while True:
            frame = await asyncio.wait_for(ws.recv(), 600)
            self.largest = max(self.largest, len(frame))
            message = json.loads(frame)
            if message["type"] == "error":
                raise RuntimeError(message)
            if message["type"] == "welcome":
                self.welcome_bytes = len(frame)
                return (time.perf_counter() - t) * 1000, ws, message

    def fetch(self, path: str, gzip: bool) -> tuple[float, int]:
        headers = {"Accept-Encoding": "gzip"} if gzip else {}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        t = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:
            body = response.read()
        return (time.perf_counter() - t) * 1000, len(body)


class Bystander:
    """A client of the small document ``desk``: update, wait for the ack, again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sent = 0

    async def start(self) -> None:
        self.ws = await websockets.connect(f"ws://127.0.0.1:{self.port}", compression=None)
        await self.ws.send(json.dumps({"type": "join", "user_id": "by", "session_id": "desk"}))
        await self.until("welcome")

    async def until(self, kind: str) -> None:
        while json.loads(await asyncio.wait_for(self.ws.recv(), 600))["type"] != kind:
            pass

    async def round_trips(self, stop: asyncio.Event | None = None, count: int = 0) -> list[float]:
        """Round trips in ms until ``stop`` is set (or ``count`` of them)."""
        out: list[float] = []
        while not (stop.is_set() if stop is not None else len(out) >= count):
            self.sent += 1
            op = {"type": "operation", "operation_type": "update", "user_id": "by",
                  "element_id": "desk", "op_id": f"by-{self.sent}",
                  "data": {"attributes": {"x": str(self.sent % 100)}}}  # fmt: skip
            t = time.perf_counter()
            await self.ws.send(json.dumps(op))
            await self.until("ack")
            out.append((time.perf_counter() - t) * 1000)
        return out


DESK = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="desk" x="0" width="5"/></svg>\n'


async def measure(size: str, runs: int, folder: Path) -> None:
    n = SIZES[size]
    data = drawing(n)
    root = folder / size
    Store(root).create("plan").commit(
        {"document.svg": data}, user_id="b", username="B", description="plan", update_workdir=True
    )
    Store(root).create("desk").commit(
        {"document.svg": DESK}, user_id="b", username="B", description="desk", update_workdir=True
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "svgx_sync", "serve", str(root), "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        run = Run(int(line.split("ws://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1]))
        bystander = Bystander(run.port)
        await bystander.start()
        alone = await bystander.round_trips(count=200)
        stop = asyncio.Event()
        beside = asyncio.create_task(bystander.round_trips(stop))
        cold, first, welcome = await run.join("u0")
        stop.set()
        during = await beside
        await bystander.ws.close()
        (url,) = welcome["file_urls"].values()
        plain_ms, plain_bytes = await asyncio.to_thread(run.fetch, url, False)
        warm, fetches, sockets = [], [], [first]
        for k in range(1, runs + 1):
            ms, ws, _ = await run.join(f"u{k}")
            warm.append(ms)
            sockets.append(ws)
            ms, gz_bytes = await asyncio.to_thread(run.fetch, url, True)
            fetches.append(ms)
        for ws in sockets:
            await ws.close()
    finally:
        proc.terminate()
        await proc.wait()
    parse, read = floor_ms(root / "plan" / "document.svg", 5)
    verdict = "met" if run.largest <= LIMIT else "NOT met"
    print(
        f"| {size} ({len(data) / 1e6:.1f} MB) | {run.largest / 1024:.1f} KiB ({verdict}) "
        f"| {run.welcome_bytes / 1024:.1f} KiB | {cold:.0f} "
        f"| {statistics.median(warm):.1f} / {p99(warm):.1f} "
        f"| {statistics.median(fetches):.1f} / {p99(fetches):.1f} "
        f"| {gz_bytes / 1e6:.2f} MB of {plain_bytes / 1e6:.2f} MB ({plain_ms:.0f} ms plain) "
        f"| {parse:.0f} / {read:.1f} "
        f"| {max(during):.1f} / {p99(during):.1f} ({len(during)}) "
        f"| {max(alone):.1f} / {p99(alone):.1f} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="60k", help=f"comma-separated: {', '.join(SIZES)}")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print(
        "| drawing | largest frame (≤ 1 MiB) | welcome | cold join ms | warm join ms "
        "median / p99 | gzip fetch ms median / p99 | gzip on the wire | floor: lxml parse "
        "/ read ms | bystander during the cold join: slowest / p99 ms (round trips) "
        "| bystander alone: slowest / p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes.split(","):
            asyncio.run(measure(size.strip(), args.runs, Path(folder)))


if __name__ == "__main__":
    main()
