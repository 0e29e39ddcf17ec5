"""A normal client's ack latency while another client floods operations: median and p99
in ms with nobody flooding (the floor), with a flood under the default operation rate
(``ops_per_second``/``ops_burst``), and with the rate limit lifted (as before there was
one). The daemon runs in its own process, both clients in this one.

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

UNLIMITED = {"SVGX_SYNC_OPS_PER_SECOND": "1000000000", "SVGX_SYNC_OPS_BURST": "1000000000"}


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


async def flood(ws: websockets.ClientConnection, stop: asyncio.Event) -> int:
    """Sends as fast as the socket takes them, reading everything that comes back."""

    async def drain() -> None:
        async for _ in ws:
            pass

    reader = asyncio.create_task(drain())
    sent = 0
    while not stop.is_set():
        for _ in range(50):
            await ws.send(operation("flood", f"f{sent}", sent))
            sent += 1
        await asyncio.sleep(0)
    reader.cancel()
    return sent


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


async def run(variant: str, seconds: float) -> tuple[list[float], float]:
    env = UNLIMITED if variant == "flood, no rate limit" else {}
    with tempfile.TemporaryDirectory() as root:
        proc, port = await start(Path(root), env)
        url = f"ws://127.0.0.1:{port}"
        try:
            me = await joined(url, "normal")
            stop = asyncio.Event()
            flooding = None
            if variant != "floor: no flood":
                flooder = await joined(url, "flood")
                flooding = asyncio.create_task(flood(flooder, stop))
            await asyncio.sleep(0.5)
            latencies = await normal(me, seconds, 50)
            stop.set()
            sent = await flooding if flooding is not None else 0
        finally:
            proc.terminate()
            await proc.wait()
    return latencies, sent / (seconds + 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(
        f"# a normal client at 50 ops/s, timed to its ack, {args.seconds:g} s, {args.rounds} rounds"
    )
    print("| variant | ack p50 ms | ack p99 ms | flood sent ops/s |")
    print("|---|---|---|---|")
    for variant in ("floor: no flood", "flood, default rate limit", "flood, no rate limit"):
        samples: list[float] = []
        rates = []
        for _ in range(args.rounds):
            latencies, rate = asyncio.run(run(variant, args.seconds))
            samples += latencies
            rates.append(rate)
        samples.sort()
        p99 = samples[int(len(samples) * 0.99) - 1]
        flood_rate = statistics.median(rates)
        print(f"| {variant} | {statistics.median(samples):.2f} | {p99:.2f} | {flood_rate:.0f} |")


if __name__ == "__main__":
    main()
