"""Outside edits of large drawings: another program's save to every client, beside its floor.

A generated floor-plan-like drawing (``bench_memory.drawing``: rooms of 100 rects, one
element per line) is the live document of a real daemon (``svgx-sync serve`` on
127.0.0.1, a subprocess) with three clients joined. Each round, another program saves the
file with one attribute changed (the fill of ``r1``), in one of two ways editors use:

- ``rename``: the whole file written to a temporary file beside it, then renamed over it;
- ``in place``: the file opened with truncation and written whole;
- ``rewritten``: renamed over it, as a generator writes a new sheet: every element's id
  changes. Small files come as operations (a room created or deleted each); from about
  10k elements on, the daemon takes the file whole (one ``file_add`` of the new text;
  ``docs/editors-and-git.md``).

Timed from just before the save to all three clients having the change as an
``external`` operation (or the new sheet): median and p99 in ms per size and way. Beside it, measured in the
same run on the same machine: lxml's parse of that file (``etree.fromstring`` with the
daemon's hardened parser), and the bare notification (watchfiles ``awatch`` alone, with
the watcher's grouping settings, seeing the same kind of save of the same bytes). The goal
is 150 ms + 3 x the parse; each line says whether the median and the p99 meet it.

    .venv/bin/python benchmarks/bench_outside.py                       # 1k, 10k, 60k
    .venv/bin/python benchmarks/bench_outside.py --sizes 1k,10k,60k,561k
    .venv/bin/python benchmarks/bench_outside.py --sizes 60k --rounds 10 --profile /tmp/prof

``--profile DIR`` records the daemon with py-spy (``py-spy record -r 200 -f raw``) during
the timed rounds of each size, one file per size in DIR (py-spy must be installed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websockets
from bench_memory import drawing
from lxml import etree
from watchfiles import awatch

from svgx_sync.daemon.watcher import WatchSettings
from svgx_sync.git.store import Store

SIZES = {"1k": 1_000, "10k": 10_000, "60k": 60_000, "561k": 561_000}
WAYS = ("rename", "in place", "rewritten")
CLIENTS = 3
TIMEOUT_S = 600


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def with_fill(data: bytes, fill: str) -> bytes:
    """``data`` with the fill of ``r1`` set to ``fill`` (one attribute changed)."""
    return re.sub(rb'(id="r1" [^>]*fill=")[^"]*', rb"\g<1>" + fill.encode(), data, count=1)


def rewritten(data: bytes, marker: str) -> bytes:
    """``data`` with every element's id changed (a sheet generated again)."""
    return data.replace(b' id="', f' id="{marker}-'.encode())


def save(path: Path, data: bytes, way: str) -> None:
    """Write ``data`` to ``path`` as an editor does: renamed over it, or in place."""
    if way in ("rename", "rewritten"):
        tmp = path.with_name(f".{path.name}.saving")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    else:
        with path.open("wb") as f:  # O_TRUNC, one write
            f.write(data)


def parse_ms(data: bytes, runs: int) -> list[float]:
    """lxml's parse of ``data`` with a hardened parser like the daemon's, in ms."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        etree.fromstring(data, parser)
        out.append((time.perf_counter() - start) * 1000)
    return out


async def bare_watch(folder: Path, data: bytes, way: str, rounds: int) -> list[float]:
    """The floor of the notification: watchfiles alone, with the watcher's grouping."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "document.svg"
    path.write_bytes(data)
    defaults = WatchSettings()
    stop = asyncio.Event()
    seen: asyncio.Queue[float] = asyncio.Queue()

    async def watch() -> None:
        async for _ in awatch(
            folder,
            watch_filter=lambda _c, p: p.endswith("/document.svg"),
            debounce=defaults.debounce_ms,
            step=defaults.step_ms,
            stop_event=stop,
        ):
            seen.put_nowait(time.perf_counter())

    task = asyncio.create_task(watch())
    await asyncio.sleep(0.3)  # let the inotify watch be set up before the first save
    samples = []
    for r in range(rounds):
        body = with_fill(data, f"#b{r:05d}")
        start = time.perf_counter()
        save(path, body, way)
        samples.append((await asyncio.wait_for(seen.get(), 30) - start) * 1000)
    stop.set()
    await task
    return samples


class Daemon:
    """``svgx-sync serve`` on a root holding one document, in a subprocess."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    async def __aenter__(self) -> Daemon:
        self.proc = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "svgx_sync", "serve", str(self.root), "--port", "0"],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 120)).decode()
        self.port = int(line.split("ws://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        await self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


class Clients:
    """Three websockets clients joined to the document."""

    def __init__(self, port: int, name: str) -> None:
        self.port = port
        self.name = name
        self.sockets: list[Any] = []

    async def join(self) -> None:
        for i in range(CLIENTS):
            # No keepalive: a daemon busy with a big file for seconds must not drop them.
            ws = await websockets.connect(
                f"ws://127.0.0.1:{self.port}", compression=None, max_size=None, ping_interval=None
            )
            await ws.send(json.dumps({"type": "join", "user_id": f"u{i}", "session_id": self.name}))
            welcome = await self.until(ws, lambda m: m["type"] == "welcome")
            for url in welcome.get("file_urls", {}).values():
                await asyncio.to_thread(self.get, url)
            self.sockets.append(ws)

    def get(self, path: str) -> bytes:
        if path.startswith("http"):
            path = "/" + path.split("/", 3)[3]
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=TIMEOUT_S) as r:
            return bytes(r.read())

    @staticmethod
    async def until(ws: Any, want: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "error":
                raise RuntimeError(message)
            if want(message):
                return message

    async def all_have(self, fill: str, *, last: str | None = None) -> None:
        """Every client has the outside edit of ``fill``, or with ``last``: the sheet whose
        ids start with ``fill``, as one entry or up to its last room ``last``."""

        def has(o: dict[str, Any]) -> bool:
            if last is not None:
                if o["operation_type"] == "file_add":  # named by its address when large
                    return "markup_url" in o["data"] or f'id="{fill}-' in o["data"]["markup"]
                return o["element_id"] == f"{fill}-{last}"
            return o["data"].get("attributes", {}).get("fill") == fill

        def arrived(m: dict[str, Any]) -> bool:
            return m["type"] == "operations" and any(
                o["user_id"] == "external" and has(o) for o in m["operations"]
            )

        async def has_it(ws: Any) -> None:
            """As a client has it: a file named by its address fetched too."""
            message = await self.until(ws, arrived)
            for o in message["operations"]:
                address = o.get("data", {}).get("markup_url")
                if address is not None:
                    text = await asyncio.to_thread(self.get, address)
                    if f'id="{fill}-'.encode() not in text:
                        raise RuntimeError(f"{address} does not hold the sheet {fill}")

        await asyncio.wait_for(asyncio.gather(*map(has_it, self.sockets)), TIMEOUT_S)

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()


def profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy), "record", "-r", "200", "-f", "raw", "-o", str(out), "-p", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def outside_saves(
    root: Path, n: int, rounds: int, profile: Path | None
) -> dict[str, list[float]]:
    """Per way of saving, the times from a save to all clients having it, in ms."""
    name = "plan"
    doc = Store(root).create(name)
    data = drawing(n)
    who = {"user_id": "u", "username": "U", "description": "Start"}
    doc.commit({"document.svg": data}, **who, update_workdir=True)
    path = doc.path / "document.svg"
    samples: dict[str, list[float]] = {way: [] for way in WAYS}
    async with Daemon(root) as daemon:
        clients = Clients(daemon.port, name)
        await clients.join()
        try:
            # One untimed save first: what a first outside edit warms up is not counted.
            await _one(clients, path, data, "rename", "#w00000")
            spy = profiler(daemon.pid, profile) if profile is not None else None
            # Way by way: a rewritten sheet has other ids, so it goes last.
            for way in WAYS:
                for r in range(rounds):
                    # Never the committed "#c00000": bytes git's index holds are git's own.
                    fill = f"#e{r:02d}{WAYS.index(way):03d}"
                    samples[way].append(await _one(clients, path, data, way, fill))
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
        finally:
            await clients.close()
    return samples


async def _one(clients: Clients, path: Path, data: bytes, way: str, fill: str) -> float:
    if way == "rewritten":
        marker, last = fill.lstrip("#"), re.findall(rb'id="(room\d+)"', data)[-1].decode()
        body, arrival = rewritten(data, marker), clients.all_have(marker, last=last)
    else:
        body, arrival = with_fill(data, fill), clients.all_have(fill)
    waiting = asyncio.create_task(arrival)
    await asyncio.sleep(0)  # the receivers are reading before the save
    start = time.perf_counter()
    save(path, body, way)
    await waiting
    took = (time.perf_counter() - start) * 1000
    await asyncio.sleep(0.2)  # let the daemon settle (its write-back, if any) between saves
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1k,10k,60k", help=f"of {', '.join(SIZES)}")
    parser.add_argument("--rounds", type=int, default=0, help="saves per way (default by size)")
    parser.add_argument("--profile", type=Path, help="folder for py-spy's raw profiles")
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(
        "| size | way | MB | save -> 3 clients median / p99 ms | lxml parse ms |"
        " bare watchfiles median / p99 ms | goal ms | met (median / p99) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label in args.sizes.split(","):
            n = SIZES[label]
            rounds = args.rounds or (20 if n <= 10_000 else 10 if n <= 60_000 else 4)
            data = drawing(n)
            profile = args.profile / f"outside-{label}.txt" if args.profile else None
            got = asyncio.run(outside_saves(Path(tmp) / label, n, rounds, profile))
            parse = statistics.median(parse_ms(data, 5 if n <= 60_000 else 3))
            goal = 150 + 3 * parse
            for way in WAYS:
                floor = asyncio.run(bare_watch(Path(tmp) / f"bare-{label}", data, way, rounds))
                med, p99 = statistics.median(got[way]), pct(got[way], 0.99)
                met = "/".join("met" if v <= goal else "NOT met" for v in (med, p99))
                print(
                    f"| {label} | {way} | {len(data) / 1e6:.1f} | {med:.0f} / {p99:.0f} |"
                    f" {parse:.1f} | {statistics.median(floor):.0f} / {pct(floor, 0.99):.0f} |"
                    f" {goal:.0f} | {met} |",
                    flush=True,
                )


if __name__ == "__main__":
    os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    main()
