"""The cost of one frame to N real sockets: ``transport.fan_out`` next to a bare
``websockets.broadcast`` over the same connections, alternated in one process so both
see the same machine load. Prints median and p99 in µs per frame (a Markdown table).

    .venv/bin/python benchmarks/bench_fanout.py --clients 10,100,200
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import websockets
from websockets.asyncio.server import ServerConnection, serve

from svgx_sync.daemon.transport import WebSocketTransport, fan_out

FRAME = '{"type":"operations","operations":[' + ",".join(['{"seq":1,"op":"x"}'] * 10) + "]}"


async def drain(ws: websockets.ClientConnection) -> None:
    async for _ in ws:
        pass


async def measure(n: int, frames: int) -> tuple[list[float], list[float]]:
    accepted: list[ServerConnection] = []
    ready = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        accepted.append(ws)
        if len(accepted) == n:
            ready.set()
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=None, write_limit=8 << 20) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        clients = [
            await websockets.connect(f"ws://127.0.0.1:{port}", compression=None) for _ in range(n)
        ]
        readers = [asyncio.create_task(drain(c)) for c in clients]
        await asyncio.wait_for(ready.wait(), 30)
        transports = [WebSocketTransport(ws, 8 << 20) for ws in accepted]
        bare, ours = [], []
        for i in range(frames):
            start = time.perf_counter()
            if i % 2:
                fan_out(transports, FRAME)
                ours.append(time.perf_counter() - start)
            else:
                websockets.broadcast([t.ws for t in transports], FRAME)
                bare.append(time.perf_counter() - start)
            await asyncio.sleep(0.002)  # let the clients read
        for client in clients:
            await client.close()
        for reader in readers:
            reader.cancel()
    return bare, ours


def cell(samples: list[float]) -> str:
    us = sorted(s * 1e6 for s in samples)
    return f"{statistics.median(us):.0f} / {us[int(len(us) * 0.99) - 1]:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="10,100,200")
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    print(f"# one {len(FRAME)}-byte frame to N sockets, {args.frames} frames alternated")
    print("| N | websockets.broadcast p50 / p99 µs | fan_out p50 / p99 µs |")
    print("|---|---|---|")
    for n in (int(x) for x in args.clients.split(",")):
        bare, ours = asyncio.run(measure(n, args.frames))
        print(f"| {n} | {cell(bare)} | {cell(ours)} |")


if __name__ == "__main__":
    main()
