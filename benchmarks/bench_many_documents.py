"""Many live documents on one daemon: memory per idle live document, and whether one busy
document slows down when a thousand others are open.

    .venv/bin/python benchmarks/bench_many_documents.py [--documents 1000] [--seconds 8]

The daemon runs in its own process (``svgx-sync serve``) over documents made before it
starts; every client runs in this process. Steps:

1. **alone**: one document ``busy`` with two clients; one sends ``update`` operations at
   ``--rate`` per second, the other receives them: propagation (send → the other's
   receipt, one clock) median and p99 in ms. This is the floor.
2. ``--documents`` documents, two clients joined to each (idle: presence at 1 Hz from
   one of them, as an open editor tab sends). The daemon's RSS before and after, per
   live document.
3. **with the others**: step 1 again while they stay open; the p99 ratio to step 1.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from svgx_sync.git.store import Store  # noqa: E402

DRAWING = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
    b'width="400" height="300">\n'
    + b"".join(
        b'  <rect id="r%d" x="%d" y="10" width="20" height="20" fill="#ccc"/>\n' % (i, i * 25)
        for i in range(20)
    )
    + b"</svg>\n"
)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def start_daemon(root: Path, config: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "svgx_sync", "serve", str(root), "--port", "0",
        "--config", str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if not line:
            raise SystemExit("the daemon did not start")
        if line.startswith("open "):
            return proc, "ws" + line.split(" ", 1)[1].strip().removeprefix("http")


async def join(url: str, user: str, session: str) -> websockets.ClientConnection:
    ws = await websockets.connect(url, max_size=None, compression=None)
    await ws.send(orjson.dumps({"type": "join", "user_id": user, "session_id": session}).decode())
    while orjson.loads(await ws.recv())["type"] != "welcome":
        pass
    return ws


async def drain(ws: websockets.ClientConnection) -> None:
    try:
        async for _ in ws:
            pass
    except websockets.ConnectionClosed:
        pass


async def presence(ws: websockets.ClientConnection, stop: asyncio.Event) -> None:
    await asyncio.sleep(random.random())
    while not stop.is_set():
        await ws.send('{"type": "activity", "status": "active"}')
        await asyncio.sleep(1)


async def busy(url: str, seconds: float, rate: float, tag: str) -> list[float]:
    """Propagation of ``update`` operations from one client of ``busy`` to the other."""
    sender, receiver = await join(url, f"s-{tag}", "busy"), await join(url, f"r-{tag}", "busy")
    sent: dict[str, float] = {}
    delays: list[float] = []

    async def receive() -> None:
        async for frame in receiver:
            now = time.perf_counter()
            msg = orjson.loads(frame)
            for op in msg.get("operations", ()) if msg.get("type") == "operations" else ():
                if op.get("op_id") in sent:
                    delays.append((now - sent.pop(op["op_id"])) * 1000)

    reader = asyncio.create_task(receive())
    drainer = asyncio.create_task(drain(sender))
    end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < end:
        op_id = f"{tag}-{i}"
        message = {
            "type": "operation", "operation_type": "update", "op_id": op_id,
            "user_id": f"s-{tag}", "session_id": "busy", "element_id": f"r{i % 20}",
            "data": {"style": {"fill": f"#{i % 4096:03x}"}},
        }  # fmt: skip
        sent[op_id] = time.perf_counter()
        await sender.send(orjson.dumps(message).decode())
        i += 1
        await asyncio.sleep(1 / rate)
    await asyncio.sleep(0.5)
    for ws in (sender, receiver):
        await ws.close()
    reader.cancel()
    drainer.cancel()
    return delays


def line(name: str, delays: list[float]) -> str:
    return f"| {name} | {len(delays)} | {statistics.median(delays):.2f} | {pct(delays, 0.99):.2f} |"


async def run(args: argparse.Namespace, folder: Path) -> None:
    root = folder / "docs"
    store = Store(root)
    made = time.perf_counter()
    for name in ["busy", *(f"d{i:04d}" for i in range(args.documents))]:
        document = store.create(name)
        document.commit(
            {"document.svg": DRAWING},
            user_id="bench",
            username="Bench",
            description="drawing",
            update_workdir=True,
        )
    config = folder / "settings.toml"
    config.write_text(
        "max_unjoined_per_address = 1000\nops_per_second = 10000\n"
        f"max_connections = {2 * args.documents + 100}\n"
    )
    print(f"# {args.documents} documents made in {time.perf_counter() - made:.1f} s")
    proc, url = await start_daemon(root, config)
    try:
        alone = await busy(url, args.seconds, args.rate, "alone")
        before = rss_mb(proc.pid)
        stop = asyncio.Event()
        clients: list[websockets.ClientConnection] = []
        tasks: list[asyncio.Task[None]] = []
        opened = time.perf_counter()
        for start in range(0, args.documents, 50):
            names = [f"d{i:04d}" for i in range(start, min(args.documents, start + 50))]
            pairs = await asyncio.gather(
                *(join(url, f"{who}-{n}", n) for n in names for who in ("a", "b"))
            )
            clients.extend(pairs)
        open_s = time.perf_counter() - opened
        for i, ws in enumerate(clients):
            tasks.append(asyncio.create_task(drain(ws)))
            if i % 2 == 0:
                tasks.append(asyncio.create_task(presence(ws, stop)))
        await asyncio.sleep(3)
        after = rss_mb(proc.pid)
        crowded = await busy(url, args.seconds, args.rate, "crowded")
        peak = rss_mb(proc.pid)
        stop.set()
        print(f"# {len(clients)} clients joined {args.documents} documents in {open_s:.1f} s")
        print()
        print("| daemon RSS | MB |")
        print("|---|---|")
        print(f"| with `busy` only | {before:.1f} |")
        print(f"| with {args.documents} more live documents | {after:.1f} |")
        print(f"| per live idle document | {(after - before) * 1024 / args.documents:.1f} KB |")
        print(f"| after the second busy run | {peak:.1f} |")
        print()
        print("| busy document | operations | propagation median ms | p99 ms |")
        print("|---|---|---|---|")
        print(line("alone (floor)", alone))
        print(line(f"beside {args.documents} live documents", crowded))
        print(f"\np99 ratio: {pct(crowded, 0.99) / pct(alone, 0.99):.2f}")
        for ws in clients:
            await ws.close()
        for task in tasks:
            task.cancel()
    finally:
        proc.terminate()
        await proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rate", type=float, default=50, help="busy operations per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args, Path(folder)))


if __name__ == "__main__":
    main()
