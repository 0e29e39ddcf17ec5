"""A big drawing's background work (file writes, checkpoints) beside everybody else.

Per size, a real daemon (``svgx-sync serve``, a subprocess) serves a generated drawing
and a small document. A bystander, a client of the small document, sends an update and
waits for its ack, again and again: first with nothing else going on (the floor), then
while an editor changes one fill of the big drawing every ``--every`` seconds. Each edit
is written to the working tree (debounced) and the live state is checkpointed
(``checkpoint_interval_s`` is set to 1 s here, 30 s by default, so that a run of a few
seconds holds several). The bystander's slowest, p99 and median round trip in each phase
say how long that work held the daemon up for every other document.

Printed per size: the bystander alone and beside the edits (slowest / p99 / median ms,
and how many round trips), how many took over 50 ms, the edits sent and the checkpoints
made (the checkpoint ref seen to move). ``--profile DIR`` records the daemon during the
edits with py-spy (``py-spy record -r 200 -f raw``).

    .venv/bin/python benchmarks/bench_checkpoint.py                     # 60k elements
    .venv/bin/python benchmarks/bench_checkpoint.py --sizes 60k,561k    # and the 50 MB one
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pygit2
import websockets
from bench_join import DESK, Bystander, p99
from bench_many_documents import profiler
from bench_memory import SIZES, drawing

from svgx_sync.git.store import Store

SLOW_MS = 50.0
CHECKPOINT_REF = "refs/svgx/live/main"


class Editor:
    """A client of the big drawing that changes one fill every ``every`` seconds."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sent = 0

    async def start(self) -> None:
        self.ws = await websockets.connect(f"ws://127.0.0.1:{self.port}", max_size=None)
        await self.ws.send(json.dumps({"type": "join", "user_id": "ed", "session_id": "plan"}))
        while json.loads(await asyncio.wait_for(self.ws.recv(), 600))["type"] != "welcome":
            pass
        self.reader = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        async for _ in self.ws:
            pass

    async def edit(self, stop: asyncio.Event, every: float) -> None:
        while not stop.is_set():
            self.sent += 1
            op = {"type": "operation", "operation_type": "update", "user_id": "ed",
                  "element_id": f"r{1 + self.sent % 90}", "op_id": f"ed-{self.sent}",
                  "data": {"attributes": {"fill": f"#{self.sent % 4096:03x}"}}}  # fmt: skip
            await self.ws.send(json.dumps(op))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)


class Checkpoints:
    """Counts the moves of the drawing's checkpoint ref, polled from git."""

    def __init__(self, repo: Path) -> None:
        self.repo = pygit2.Repository(str(repo))
        self.seen: set[str] = set()
        self.first = self._now()

    def _now(self) -> str | None:
        ref = self.repo.references.get(CHECKPOINT_REF)
        return None if ref is None else str(ref.target)

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = self._now()
            if now is not None and now != self.first:
                self.seen.add(now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)


def row(values: list[float]) -> str:
    slow = sum(v > SLOW_MS for v in values)
    return (
        f"{max(values):.1f} / {p99(values):.1f} / {statistics.median(values):.2f} "
        f"({len(values)}, {slow} over {SLOW_MS:.0f} ms)"
    )


async def measure(
    size: str, seconds: float, every: float, folder: Path, profile: Path | None
) -> None:
    root = folder / size
    Store(root).create("plan").commit(
        {"document.svg": drawing(SIZES[size])}, user_id="b", username="B",
        description="plan", update_workdir=True,
    )  # fmt: skip
    Store(root).create("desk").commit(
        {"document.svg": DESK}, user_id="b", username="B", description="desk", update_workdir=True
    )
    env = {**os.environ, "SVGX_SYNC_CHECKPOINT_INTERVAL_S": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "svgx_sync", "serve", str(root), "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        port = int(line.split("ws://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
        editor = Editor(port)
        await editor.start()
        bystander = Bystander(port)
        await bystander.start()
        await bystander.round_trips(count=50)  # warm
        stop = asyncio.Event()
        timer = asyncio.get_running_loop().call_later(seconds, stop.set)
        alone = await bystander.round_trips(stop)
        timer.cancel()
        checkpoints = Checkpoints(root / "plan" / ".git")
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        spy = None if profile is None else profiler(proc.pid, profile / f"edits-{size}.txt")
        watching = asyncio.create_task(checkpoints.watch(stop))
        editing = asyncio.create_task(editor.edit(stop, every))
        beside = await bystander.round_trips(stop)
        await asyncio.gather(watching, editing)
        if spy is not None:
            spy.send_signal(2)  # py-spy writes its profile on SIGINT
            spy.wait(30)
        await bystander.ws.close()
        await editor.ws.close()
    finally:
        proc.terminate()
        await proc.wait()
    print(
        f"| {size} | {row(alone)} | {row(beside)} | {editor.sent} | {len(checkpoints.seen)} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="60k", help=f"comma-separated: {', '.join(SIZES)}")
    parser.add_argument("--seconds", type=float, default=12.0, help="each phase's length")
    parser.add_argument("--every", type=float, default=0.25, help="seconds between edits")
    parser.add_argument("--profile", type=Path, help="folder for a py-spy raw profile of the edits")
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(
        "| drawing | bystander alone: slowest / p99 / median ms (round trips) "
        "| bystander beside the edits: slowest / p99 / median ms (round trips) "
        "| edits | checkpoints |"
    )
    print("|---|---|---|---|---|")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes.split(","):
            asyncio.run(measure(size.strip(), args.seconds, args.every, Path(folder), args.profile))
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
