"""An Inkscape save to every client, on a document of 1k elements.

Inkscape 1.2 saves with ``--export-overwrite`` by opening the file with ``O_TRUNC`` and
writing it whole in one ``write`` (seen with strace). Running Inkscape itself takes about
a second, most of it start-up, so it runs once, beforehand: it edits a copy of the
document (``r0`` filled with a marker colour) and its output is kept. Each round then
writes those bytes into the live document's file the way Inkscape does, with the marker
replaced by a new colour, and times from just before the write to all three clients
having received ``r0``'s new fill as an ``external`` operation. The first round is
Inkscape's first save of a daemon-written file (new namespaces, a named view, every
element laid out again), printed apart; the others are edits of an Inkscape file.

Beside it, in the same run and on the same folder, the floor: a plain watchfiles
``awatch`` with the watcher's grouping settings, timed from the same write to its first
report of the file.

With ``--live-edit`` a client first changes ``r1`` live and the daemon writes it, and
Inkscape's save holds that change too (Inkscape opened the file after the write): the
first save then has two recent versions to be told from.

    .venv/bin/python benchmarks/bench_inkscape.py [--rounds 30] [--elements 1000] [--live-edit]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import websockets
from bench_watch import document, pct
from watchfiles import awatch

from svgx_sync.config import Settings
from svgx_sync.daemon.server import Daemon
from svgx_sync.daemon.watcher import WatchSettings
from svgx_sync.git.store import Store

MARKER = b"#c0ffee"


def inkscape_bytes(n: int, scratch: Path) -> bytes:
    """Inkscape's save of the n-element document with r0 filled with the marker."""
    program = shutil.which("inkscape")
    if program is None:
        raise SystemExit("inkscape is not installed (apt-get install inkscape)")
    home = scratch / "inkscape-home"
    home.mkdir(parents=True, exist_ok=True)
    path = scratch / "document.svg"
    path.write_bytes(document(n))
    env = {**os.environ, "HOME": str(home)}
    env.pop("DISPLAY", None)
    subprocess.run(
        [
            program,
            f"--actions=select-by-id:r0;object-set-attribute:fill,{MARKER.decode()}",
            "--export-overwrite",
            "--export-type=svg",
            path.name,
        ],
        cwd=scratch,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    data = path.read_bytes()
    assert data.count(MARKER) == 1 and b"sodipodi:docname" in data, "unexpected Inkscape output"
    return data


def save_as_inkscape(path: Path, data: bytes) -> None:
    """What Inkscape does: open with O_TRUNC, one write of the whole file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class LoopHold:
    """The longest time the event loop went without running a 1 ms ticker: how long the
    daemon (in this process) kept every other user waiting."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            self.longest = max(self.longest, time.perf_counter() - before - 0.001)

    def start(self) -> None:
        self._task = asyncio.create_task(self._tick())

    def take(self) -> float:
        """The longest hold since the last call, in ms."""
        longest, self.longest = self.longest, 0.0
        return longest * 1000

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


LIVE_FILL = "#111111"


def with_live_edit(saved: bytes) -> bytes:
    """Inkscape's save as made from the file after the live edit of r1's fill."""
    at = saved.index(b'id="r1"')
    fill = saved.index(b'fill="', at) + len(b'fill="')
    end = saved.index(b'"', fill)
    assert saved.rfind(b"<", 0, fill) == saved.rfind(b"<", 0, at), "r1 has no fill"
    return saved[:fill] + LIVE_FILL.encode() + saved[end:]


async def measure(
    n: int, rounds: int, root: Path, saved: bytes, *, live_edit: bool = False
) -> tuple[list[float], list[float], list[float]]:
    doc = Store(root).create("plan")
    doc.commit(
        {"document.svg": document(n)},
        user_id="u",
        username="U",
        description="Start",
        update_workdir=True,
    )
    path = doc.path / "document.svg"
    daemon = Daemon(Settings(root=root, port=0))
    await daemon.start()
    clients = []
    grouping = WatchSettings()
    stop = asyncio.Event()
    floor_seen: asyncio.Queue[float] = asyncio.Queue()

    async def bare_watch() -> None:
        async for _ in awatch(
            doc.path,
            debounce=grouping.debounce_ms,
            step=grouping.step_ms,
            stop_event=stop,
            watch_filter=lambda _c, p: p == str(path),
        ):
            floor_seen.put_nowait(time.perf_counter())

    floor_task = asyncio.create_task(bare_watch())
    try:
        for i in range(3):
            ws = await websockets.connect(
                f"ws://127.0.0.1:{daemon.port}", compression=None, max_size=None
            )
            await ws.send(json.dumps({"type": "join", "user_id": f"u{i}", "session_id": "plan"}))
            while json.loads(await ws.recv())["type"] != "welcome":
                pass
            clients.append(ws)
        await asyncio.sleep(0.3)  # let the bare watch's inotify be set up before the first save

        async def until_fill(ws: Any, value: str) -> float:
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "operations" and any(
                    o["user_id"] == "external"
                    and o["element_id"] == "r0"
                    and o["data"].get("attributes", {}).get("fill") == value
                    for o in message["operations"]
                ):
                    return time.perf_counter()

        if live_edit:
            # A user edits r1 live; the daemon writes it, and Inkscape opens that file.
            await clients[0].send(
                json.dumps(
                    {
                        "type": "operation",
                        "operation_type": "update",
                        "user_id": "u0",
                        "element_id": "r1",
                        "data": {"attributes": {"fill": LIVE_FILL}},
                    }
                )
            )
            deadline = time.monotonic() + 30
            while LIVE_FILL.encode() not in path.read_bytes():
                assert time.monotonic() < deadline, "the live edit was never written"
                await asyncio.sleep(0.02)
            saved = with_live_edit(saved)

        samples, floor, holds = [], [], []
        hold = LoopHold()
        hold.start()
        for r in range(rounds):
            value = f"#{r + 1:06x}"
            data = saved.replace(MARKER, value.encode())
            while not floor_seen.empty():
                floor_seen.get_nowait()
            waiters = [asyncio.create_task(until_fill(ws, value)) for ws in clients]
            await asyncio.sleep(0.05)
            hold.take()
            start = time.perf_counter()
            save_as_inkscape(path, data)
            arrived = await asyncio.wait_for(asyncio.gather(*waiters), 60)
            samples.append((max(arrived) - start) * 1000)
            seen = await asyncio.wait_for(floor_seen.get(), 60)
            while seen < start:  # a report of an earlier write (the live edit's)
                seen = await asyncio.wait_for(floor_seen.get(), 60)
            floor.append((seen - start) * 1000)
            await asyncio.sleep(0.5)  # what follows the broadcast (bases recorded, writes)
            holds.append(hold.take())
        hold.stop()
        return samples, floor, holds
    finally:
        stop.set()
        await floor_task
        for ws in clients:
            await ws.close()
        await daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--elements", type=int, default=1000)
    parser.add_argument(
        "--live-edit",
        action="store_true",
        help="a client edits r1 first and Inkscape's save holds that edit (two recent versions)",
    )
    args = parser.parse_args()
    n = args.elements
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        saved = inkscape_bytes(n, Path(tmp) / "inkscape")
        inkscape_s = time.perf_counter() - started
        samples, floor, holds = asyncio.run(
            measure(n, args.rounds + 1, Path(tmp) / "docs", saved, live_edit=args.live_edit)
        )
    first, rest, floor_rest = samples[0], samples[1:], floor[1:]
    print(f"inkscape itself (one run, start-up included), {n} elements: {inkscape_s:.2f} s")
    print(
        f"Inkscape's first save of a daemon-written file"
        f"{' (after a live edit)' if args.live_edit else ''} -> 3 clients: {first:.1f} ms"
        f" (bare watchfiles: {floor[0]:.1f} ms)"
    )
    print(
        f"Inkscape save -> 3 clients, {n:>6} elements: median {statistics.median(rest):7.1f} ms"
        f"  p99 {pct(rest, 0.99):7.1f} ms  ({len(rest)} saves)"
    )
    print(
        f"  baseline: bare watchfiles sees it, same folder, same run: median "
        f"{statistics.median(floor_rest):7.1f} ms  p99 {pct(floor_rest, 0.99):7.1f} ms"
    )
    print(
        f"longest the event loop was held (every other user waits): first save {holds[0]:.1f} ms;"
        f" later saves median {statistics.median(holds[1:]):.1f} ms  p99 {pct(holds[1:], 0.99):.1f} ms"
    )


if __name__ == "__main__":
    main()
