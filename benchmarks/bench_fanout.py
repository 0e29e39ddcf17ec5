"""The cost of one frame to N real sockets: ``transport.fan_out`` (framed once, the
same bytes written to every socket) next to a bare ``websockets.broadcast`` over the same
connections; and of one batch of ``--ops`` operations (frames of 10) with the sender's
acks: one ``websockets.broadcast`` per frame and one send per ack (the floor: what the
daemon did before) next to ``transport.deliver`` (one write per socket, the acks in the
sender's). Alternated in one process so both see the same machine load. Prints median
and p99 in µs (a Markdown table).

    .venv/bin/python benchmarks/bench_fanout.py --clients 10,100,200
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import websockets
from websockets.asyncio.server import ServerConnection, serve

from svgx_sync.daemon.transport import Frames, WebSocketTransport, deliver, fan_out

FRAME = '{"type":"operations","operations":[' + ",".join(['{"seq":1,"op":"x"}'] * 10) + "]}"
ACK = '{"type":"ack","op_id":"o1","seq":1,"status":"applied"}'


async def drain(ws: websockets.ClientConnection) -> None:
    async for _ in ws:
        pass


async def measure(n: int, frames: int, ops: int) -> list[list[float]]:
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
        sockets = [t.ws for t in transports]
        batch = [FRAME] * max(1, ops // 10)
        acks = [ACK] * ops
        bare, ours, bare_batch, our_batch = [], [], [], []
        for i in range(frames):
            start = time.perf_counter()
            if i % 4 == 0:
                websockets.broadcast(sockets, FRAME)
                bare.append(time.perf_counter() - start)
            elif i % 4 == 1:
                fan_out(transports, FRAME)
                ours.append(time.perf_counter() - start)
            elif i % 4 == 2:
                for text in batch:
                    websockets.broadcast(sockets, text)
                for text in acks:
                    transports[0].send(text)
                bare_batch.append(time.perf_counter() - start)
            else:
                deliver(transports, Frames(list(batch)), {transports[0]: Frames(list(acks))})
                our_batch.append(time.perf_counter() - start)
            await asyncio.sleep(0.002)  # let the clients read
        for client in clients:
            await client.close()
        for reader in readers:
            reader.cancel()
    return [bare, ours, bare_batch, our_batch]


def cell(samples: list[float]) -> str:
    us = sorted(s * 1e6 for s in samples)
    return f"{statistics.median(us):.0f} / {us[int(len(us) * 0.99) - 1]:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="10,100,200")
    parser.add_argument("--frames", type=int, default=4000, help="sends in all, alternated")
    parser.add_argument("--ops", type=int, default=30, help="operations in the batch")
    args = parser.parse_args()
    print(
        f"# one {len(FRAME)}-byte frame to N sockets; a batch of {args.ops} operations in"
        f" frames of 10 and {args.ops} acks to the sender; {args.frames} sends alternated"
    )
    print(
        "| N | frame: websockets.broadcast p50 / p99 µs | frame: fan_out p50 / p99 µs"
        " | batch: broadcast per frame + send per ack p50 / p99 µs"
        " | batch: deliver p50 / p99 µs |"
    )
    print("|---|---|---|---|---|")
    for n in (int(x) for x in args.clients.split(",")):
        cells = asyncio.run(measure(n, args.frames, args.ops))
        print(f"| {n} | " + " | ".join(cell(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
