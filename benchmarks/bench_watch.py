"""The file watcher: external save to every client, and its idle cost.

1. Time from an external save (a plain write of the whole file, one attribute changed)
   to every connected client having received the change as an operation, on documents
   of 1k and 10k elements: median and p99 in milliseconds. A daemon on 127.0.0.1 port 0
   in this process, three websockets clients. Beside it, the floor: watchfiles alone
   (same grouping settings as the watcher) noticing the same save.
2. The watcher's CPU while idle on a root of 1,000 documents (git repositories): CPU
   seconds per wall second over a quiet period, and the time to set the watch up.

    .venv/bin/python benchmarks/bench_watch.py [--rounds 40] [--documents 1000] [--idle 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import websockets
from watchfiles import awatch

from svgx_sync.config import Settings
from svgx_sync.daemon.server import Daemon
from svgx_sync.daemon.watcher import Watcher, WatchSettings
from svgx_sync.git.store import Store


def document(n: int, fill: str = "red") -> bytes:
    rows = "\n".join(
        f'  <rect id="r{i}" x="{i % 100}" y="{i // 100}" width="10" height="10"'
        f' fill="{fill if i == 0 else "gray"}"/>'
        for i in range(n)
    )
    return f'<svg xmlns="http://www.w3.org/2000/svg">\n{rows}\n</svg>\n'.encode()


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latency(n: int, rounds: int, root: Path) -> list[float]:
    doc = Store(root).create(f"d{n}")
    doc.commit(
        {"document.svg": document(n)},
        user_id="u",
        username="U",
        description="Start",
        update_workdir=True,
    )
    daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=0))
    await daemon.start()
    clients = []
    try:
        for i in range(3):
            ws = await websockets.connect(
                f"ws://127.0.0.1:{daemon.port}", compression=None, max_size=None
            )
            await ws.send(json.dumps({"type": "join", "user_id": f"u{i}", "session_id": f"d{n}"}))
            while json.loads(await ws.recv())["type"] != "welcome":
                pass
            clients.append(ws)

        async def until_external(ws: Any, value: str) -> None:
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "operations" and any(
                    o["user_id"] == "external"
                    and o["data"].get("attributes", {}).get("fill") == value
                    for o in message["operations"]
                ):
                    return

        samples = []
        path = doc.path / "document.svg"
        for r in range(rounds):
            value = f"c{r}"
            data = document(n, value)
            waiters = [asyncio.create_task(until_external(ws, value)) for ws in clients]
            start = time.perf_counter()
            path.write_bytes(data)
            await asyncio.wait_for(asyncio.gather(*waiters), 30)
            samples.append((time.perf_counter() - start) * 1000)
        return samples
    finally:
        for ws in clients:
            await ws.close()
        await daemon.stop()


class _Idle:
    """A daemon with nothing live: the watcher only watches."""

    def working_tree_session(self, name: str) -> None:
        return None

    async def publish_external(
        self, name: str, outcomes: Any, messages: Any, bases: Any = ()
    ) -> None:
        return None

    def writing_files(self, name: str) -> bool:
        return False

    def follow_checkout(self, name: str, old: str | None, new: str) -> None:
        return None

    def keep_live_state(self, name: str, reason: str) -> None:
        return None


async def bare_watch(n: int, rounds: int, root: Path) -> list[float]:
    """Baseline: watchfiles alone noticing the same save, with the watcher's grouping."""
    folder = root / f"bare{n}"
    folder.mkdir(parents=True)
    path = folder / "document.svg"
    path.write_bytes(document(n))
    defaults = WatchSettings()
    stop = asyncio.Event()
    seen: asyncio.Queue[float] = asyncio.Queue()

    async def watch() -> None:
        async for _ in awatch(
            folder, debounce=defaults.debounce_ms, step=defaults.step_ms, stop_event=stop
        ):
            seen.put_nowait(time.perf_counter())

    task = asyncio.create_task(watch())
    await asyncio.sleep(0.3)  # let the inotify watch be set up before the first save
    samples = []
    for r in range(rounds):
        start = time.perf_counter()
        path.write_bytes(document(n, f"c{r}"))
        samples.append((await asyncio.wait_for(seen.get(), 30) - start) * 1000)
    stop.set()
    await task
    return samples


async def idle(documents: int, seconds: float, root: Path) -> tuple[float, float]:
    store = Store(root)
    for i in range(documents):
        store.create(f"doc{i:04d}")
    watcher = Watcher(_Idle(), root)
    start = time.perf_counter()
    await watcher.start()
    setup = time.perf_counter() - start
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)  # the quiet period being measured
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    await watcher.stop()
    return setup, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1_000, 10_000):
            rounds = args.rounds if n <= 1_000 else max(10, args.rounds // 2)
            samples = asyncio.run(latency(n, rounds, Path(tmp) / f"lat{n}"))
            floor = asyncio.run(bare_watch(n, rounds, Path(tmp)))
            print(
                f"external save -> 3 clients, {n:>6} elements: median {statistics.median(samples):7.1f} ms"
                f"  p99 {pct(samples, 0.99):7.1f} ms  ({len(samples)} saves)"
            )
            print(
                f"  baseline: bare watchfiles sees it,  {n:>6} elements: median "
                f"{statistics.median(floor):7.1f} ms  p99 {pct(floor, 0.99):7.1f} ms"
            )
        setup, cpu = asyncio.run(idle(args.documents, args.idle, Path(tmp) / "idle"))
        print(
            f"idle watch of {args.documents} documents: set-up {setup * 1000:.0f} ms,"
            f" CPU {cpu * 100:.2f}% of one core over {args.idle:.0f} s"
        )


if __name__ == "__main__":
    main()
