"""A normal client's ack latency while another client floods operations open-loop (as fast
as its socket takes them): median and p99 in ms with nobody flooding (the floor), with a
flood under the defaults (a window of ``max_unanswered_ops`` operations unanswered per
connection, no cap on the rate), and with the window lifted (as before there was one);
beside each, the flood's ops/s sent and how many of them were refused. The daemon runs
in its own process, both clients in this one.

    .venv/bin/python benchmarks/bench_flood.py --seconds 5 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import websockets

NO_WINDOW = {"SVGX_SYNC_MAX_UNANSWERED_OPS": "1000000000"}
VARIANTS = ("floor: no flood", "flood, defaults", "flood, no window")


async def start(root: Path, env: dict[str, str]) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "svgx_sync", "serve", str(root), "--port", "0"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    return proc, int(line.split("ws://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])


def operation(user: str, op_id: str, x: int) -> str:
    return json.dumps(
        {
            "type": "operation",
            "operation_type": "update",
            "user_id": user,
            "element_id": f"r-{user}",
            "data": {"attributes": {"x": str(x)}},
            "op_id": op_id,
        }
    )


async def joined(url: str, user: str) -> websockets.ClientConnection:
    ws = await websockets.connect(url, compression=None, max_size=None)
    await ws.send(json.dumps({"type": "join", "user_id": user, "session_id": "doc"}))
    create = {"type": "rectangle"}
    message = {"type": "operation", "operation_type": "create", "user_id": user}
    await ws.send(
        json.dumps({**message, "element_id": f"r-{user}", "data": create, "op_id": f"c-{user}"})
    )
    for _ in range(1000):
        reply = json.loads(await ws.recv())
        if reply["type"] == "ack" and reply["op_id"] == f"c-{user}":
            return ws
    raise RuntimeError("no ack for the create")


async def flood(ws: websockets.ClientConnection, stop: asyncio.Event) -> tuple[int, int]:
    """Sends as fast as the socket takes them, reading everything that comes back; how
    many it sent and how many of them were refused."""
    refused = 0

    async def drain() -> None:
        nonlocal refused
        async for frame in ws:
            if '"rate_limited"' in frame:
                refused += 1

    reader = asyncio.create_task(drain())
    sent = 0
    while not stop.is_set():
        for _ in range(50):
            await ws.send(operation("flood", f"f{sent}", sent))
            sent += 1
        await asyncio.sleep(0)
    reader.cancel()
    return sent, refused


async def normal(ws: websockets.ClientConnection, seconds: float, rate: float) -> list[float]:
    """One operation every 1/rate s, each timed from send to its ack."""
    latencies = []
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        await ws.send(operation("normal", f"n{i}", i))
        for _ in range(100_000):
            reply = json.loads(await ws.recv())
            if reply.get("op_id") == f"n{i}" and reply["type"] in ("ack", "error"):
                break
        latencies.append((time.perf_counter() - start) * 1000)
        i += 1
        await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - start)))
    return latencies


async def run(variant: str, seconds: float) -> tuple[list[float], float, int]:
    env = NO_WINDOW if variant == "flood, no window" else {}
    with tempfile.TemporaryDirectory() as root:
        proc, port = await start(Path(root), env)
        url = f"ws://127.0.0.1:{port}"
        try:
            me = await joined(url, "normal")
            stop = asyncio.Event()
            flooding = None
            if variant != VARIANTS[0]:
                flooder = await joined(url, "flood")
                flooding = asyncio.create_task(flood(flooder, stop))
            await asyncio.sleep(0.5)
            latencies = await normal(me, seconds, 50)
            stop.set()
            sent, refused = await flooding if flooding is not None else (0, 0)
        finally:
            proc.terminate()
            await proc.wait()
    return latencies, sent / (seconds + 0.5), refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(
        f"# a normal client at 50 ops/s, timed to its ack, {args.seconds:g} s, {args.rounds} rounds"
    )
    print("| variant | ack p50 ms | ack p99 ms | flood sent ops/s | flood refused |")
    print("|---|---|---|---|---|")
    for variant in VARIANTS:
        samples: list[float] = []
        rates = []
        refusals = 0
        for _ in range(args.rounds):
            latencies, rate, refused = asyncio.run(run(variant, args.seconds))
            samples += latencies
            rates.append(rate)
            refusals += refused
        samples.sort()
        p99 = samples[int(len(samples) * 0.99) - 1]
        flood_rate = statistics.median(rates)
        print(
            f"| {variant} | {statistics.median(samples):.2f} | {p99:.2f} | {flood_rate:.0f}"
            f" | {refusals} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
