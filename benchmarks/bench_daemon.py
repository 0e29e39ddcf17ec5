"""Propagation latency and throughput of the daemon, next to a bare websockets relay.

    python benchmarks/bench_daemon.py                 # N = 2, 10, 50, 100, 200
    python benchmarks/bench_daemon.py --quick         # shorter phases
    python benchmarks/bench_daemon.py --clients 100 --seconds 8

The server runs in its own process; all clients run in this one. For each N:

* **latency**: N clients join one document and each sends presence (``activity``) at
  1 Hz with a random phase; ``--senders`` of them send ``update`` operations, together
  ``--rate`` per second. Propagation is measured per delivery, from the moment the
  sending client sends to the moment another client receives it (one clock: the
  same process); "all" is the time until the last of the N-1 others has it.
* **throughput**: the senders send as fast as their operations come back (a window of
  ``--window`` each); sustained operations/s are counted at one observer.

The floor is a bare relay (``websockets.broadcast`` of every operation frame to every
client, compression off, in its own process). By default it carries presence the way
the daemon must, at the least cost: the ``activity`` frames that arrive are kept as
they are and broadcast together in one ``presence_update`` frame at most once per
16 ms tick (the daemon's ``batch_timeout_ms``). Both servers then put the same frames
on the wire and the client process receives the same load, so the ratio measures what
the daemon adds per operation (validation, ordering, the journal fsync, acks), not a
difference in what is sent. ``--relay-presence drop`` swallows presence instead (the
floor of earlier runs: it spares the relay and the clients some 60 x N presence frames
per second, which the daemon cannot skip). Forwarding every ``activity`` frame
unbatched would be no floor either: 1 Hz x N frames to N clients is 40,000 frames/s
at N=200. The ratio is daemon p99 / relay p99.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import websockets

HERE = Path(__file__).resolve()


# -- the bare relay -------------------------------------------------------------------


PRESENCE_TICK = 0.016  # the daemon's default batch_timeout_ms


async def relay_main(presence: str) -> None:
    clients: set[websockets.ServerConnection] = set()
    pending: list[str] = []  # activity frames since the last presence tick, as received
    loop = asyncio.get_running_loop()

    def tick() -> None:
        frame = '{"type":"presence_update","users":[' + ",".join(pending) + "]}"
        pending.clear()
        websockets.broadcast(clients, frame)

    async def handler(ws: websockets.ServerConnection) -> None:
        clients.add(ws)
        try:
            async for message in ws:
                if '"activity"' in message[:40]:
                    if presence == "tick":
                        if not pending:
                            loop.call_later(PRESENCE_TICK, tick)
                        pending.append(message)
                    continue
                websockets.broadcast(clients, message)
        finally:
            clients.discard(ws)

    async with websockets.serve(handler, "127.0.0.1", 0, compression=None, max_queue=64) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port} relay", flush=True)
        await asyncio.Future()


# -- servers --------------------------------------------------------------------------


async def start_server(
    kind: str, root: Path, relay_presence: str = "tick"
) -> tuple[asyncio.subprocess.Process, int]:
    if kind == "relay":
        args = [sys.executable, str(HERE), "--relay", "--relay-presence", relay_presence]
    else:
        args = [sys.executable, "-m", "svgx_sync", "serve", str(root), "--port", "0"]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        # the throughput phase measures capacity: no per-connection operation rate; all
        # clients connect at once from one address, beyond the cap of those waiting to join
        env={
            **os.environ,
            "SVGX_SYNC_MAX_CONNECTIONS": "5000",
            "SVGX_SYNC_MAX_UNJOINED_PER_ADDRESS": "5000",
            "SVGX_SYNC_OPS_PER_SECOND": "1000000000",
            "SVGX_SYNC_OPS_BURST": "1000000000",
        },
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    port = int(line.split("ws://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
    return proc, port


# -- clients --------------------------------------------------------------------------


class Bench:
    def __init__(self, kind: str, n: int) -> None:
        self.kind = kind
        self.n = n
        self.sent_at: dict[str, float] = {}
        self.received: dict[str, int] = {}
        self.last_at: dict[str, float] = {}
        self.latencies: list[float] = []
        self.measuring = False
        self.echo: dict[str, asyncio.Event] = {}
        self.observed = 0

    def on_frame(self, me: str, frame: str, observer: bool) -> None:
        now = time.perf_counter()
        if frame.startswith('{"type":"operations"'):
            ops = orjson.loads(frame)["operations"]
        elif frame.startswith('{"type":"operation"'):
            ops = [orjson.loads(frame)]
        else:
            return  # acks, presence, welcome
        for op in ops:
            op_id = op.get("op_id") or ""
            if observer:
                self.observed += 1
            if op["user_id"] == me:
                event = self.echo.get(op_id)
                if event is not None:
                    event.set()
                continue
            sent = self.sent_at.get(op_id)
            if sent is not None and self.measuring:
                self.latencies.append(now - sent)
                self.received[op_id] = self.received.get(op_id, 0) + 1
                self.last_at[op_id] = now

    async def client(
        self,
        port: int,
        index: int,
        ready: asyncio.Event,
        stop: asyncio.Event,
        joined: list[int],
        conns: dict[int, websockets.ClientConnection],
    ) -> None:
        me = f"u{index}"
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}", compression=None, max_queue=None, open_timeout=60
        )
        conns[index] = ws
        await ws.send(
            orjson.dumps(
                {"type": "join", "user_id": me, "username": me, "session_id": f"bench{self.n}"}
            ).decode()
        )
        joined[0] += 1
        if joined[0] == self.n:
            ready.set()
        phase = random.random()

        async def presence() -> None:
            await asyncio.sleep(phase)
            while not stop.is_set():
                await ws.send(
                    orjson.dumps(
                        {
                            "type": "activity",
                            "user_id": me,
                            "status": "online",
                            "cursor_position": {
                                "x": random.random() * 800,
                                "y": random.random() * 600,
                            },
                        }
                    ).decode()
                )
                await asyncio.sleep(1.0)

        task = asyncio.create_task(presence())
        try:
            async for frame in ws:
                self.on_frame(me, frame, index == self.n - 1)
        except websockets.ConnectionClosed:
            pass
        finally:
            task.cancel()

    def op(self, sender: int, k: int) -> tuple[str, str]:
        op_id = f"u{sender}-{k}"
        return op_id, orjson.dumps(
            {
                "type": "operation",
                "operation_type": "update",
                "user_id": f"u{sender}",
                "element_id": f"r{sender}",
                "data": {"attributes": {"x": str(k % 800)}},
                "op_id": op_id,
                "session_id": f"bench{self.n}",
            }
        ).decode()


async def run_one(kind: str, n: int, args: argparse.Namespace, root: Path) -> dict[str, float]:
    proc, port = await start_server(kind, root, args.relay_presence)
    bench = Bench(kind, n)
    ready, stop = asyncio.Event(), asyncio.Event()
    joined = [0]
    conns: dict[int, websockets.ClientConnection] = {}
    tasks = []
    try:
        for i in range(n):
            tasks.append(asyncio.create_task(bench.client(port, i, ready, stop, joined, conns)))
            if i % 20 == 19:
                await asyncio.sleep(0.05)  # pacing the connection storm, not synchronising
        await asyncio.wait_for(ready.wait(), 60)
        senders = list(range(min(args.senders, n)))
        # Each sender creates its own element (no conflicts between senders).
        for s in senders:
            op_id = f"create-{s}"
            bench.echo[op_id] = asyncio.Event()
            await conns[s].send(
                orjson.dumps(
                    {
                        "type": "operation",
                        "operation_type": "create",
                        "user_id": f"u{s}",
                        "element_id": f"r{s}",
                        "data": {"type": "rectangle"},
                        "op_id": op_id,
                    }
                ).decode()
            )
            await asyncio.wait_for(bench.echo[op_id].wait(), 30)
        await asyncio.sleep(1.0)  # let the 1 Hz presence reach its steady state

        # latency phase: a steady rate of operations
        bench.measuring = True
        interval = 1.0 / args.rate
        deadline = time.perf_counter() + args.seconds
        k = 0
        next_at = time.perf_counter()
        while time.perf_counter() < deadline:
            s = senders[k % len(senders)]
            op_id, frame = bench.op(s, k)
            bench.sent_at[op_id] = time.perf_counter()
            await conns[s].send(frame)
            k += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.sleep(0.5)  # stragglers
        bench.measuring = False
        lat = sorted(bench.latencies)
        alls = sorted(
            bench.last_at[o] - bench.sent_at[o] for o, c in bench.received.items() if c >= n - 1
        )

        # throughput phase: closed loop, a window per sender
        bench.observed = 0
        started = time.perf_counter()
        end = started + args.seconds / 2

        async def blast(s: int) -> None:
            j = 0
            window: list[asyncio.Event] = []
            while time.perf_counter() < end:
                op_id, frame = bench.op(s, 10_000_000 + j)
                j += 1
                event = bench.echo[op_id] = asyncio.Event()
                window.append(event)
                await conns[s].send(frame)
                if len(window) >= args.window:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(window.pop(0).wait(), 10)

        await asyncio.gather(*(blast(s) for s in senders))
        elapsed = time.perf_counter() - started
        throughput = bench.observed / elapsed
        return {
            "p50": 1000 * statistics.median(lat) if lat else float("nan"),
            "p99": 1000 * lat[int(0.99 * (len(lat) - 1))] if lat else float("nan"),
            "all_p99": 1000 * alls[int(0.99 * (len(alls) - 1))] if alls else float("nan"),
            "deliveries": len(lat),
            "ops_per_s": throughput,
        }
    finally:
        stop.set()
        for ws in conns.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def main(args: argparse.Namespace) -> None:
    sizes = [int(x) for x in args.clients.split(",")]
    print(
        f"# {args.rate} ops/s from {args.senders} senders, presence 1 Hz per client, "
        f"{args.seconds:g} s per latency phase, {args.rounds} round(s)"
    )
    if args.relay_presence == "tick":
        print(
            "# relay: operations broadcast as received; presence coalesced into one frame per"
            " 16 ms tick, as the daemon sends it (same frames on the wire)"
        )
    else:
        print(
            "# relay: operations broadcast as received; presence dropped (a lower floor than"
            " the daemon can reach: it sends ~60 x N fewer frames per second)"
        )
    print(
        "| N | relay p50 / p99 ms | daemon p50 / p99 ms | daemon p99 all-received ms"
        " | ratio p99 | relay ops/s | daemon ops/s |"
    )
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            results: dict[str, list[dict[str, float]]] = {"relay": [], "daemon": []}
            for r in range(args.rounds):
                for kind in ("relay", "daemon"):
                    results[kind].append(await run_one(kind, n, args, Path(tmp) / f"r{r}"))
            med = {
                kind: {key: statistics.median(x[key] for x in rows) for key in rows[0]}
                for kind, rows in results.items()
            }
            relay, ours = med["relay"], med["daemon"]
            print(
                f"| {n} | {relay['p50']:.2f} / {relay['p99']:.2f} | {ours['p50']:.2f} / "
                f"{ours['p99']:.2f} | {ours['all_p99']:.2f} | {ours['p99'] / relay['p99']:.2f} | "
                f"{relay['ops_per_s']:.0f} | {ours['ops_per_s']:.0f} |",
                flush=True,
            )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--relay", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--clients", default="2,10,50,100,200")
    parser.add_argument("--seconds", type=float, default=5.0, help="latency phase length")
    parser.add_argument("--rate", type=float, default=30.0, help="operations per second")
    parser.add_argument("--senders", type=int, default=5)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--relay-presence",
        choices=("tick", "drop"),
        default="tick",
        help="the relay coalesces presence per 16 ms tick (default) or drops it",
    )
    parser.add_argument("--quick", action="store_true", help="2 s phases")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 2.0
    return args


if __name__ == "__main__":
    options = parse_args()
    if options.relay:
        asyncio.run(relay_main(options.relay_presence))
    else:
        asyncio.run(main(options))
