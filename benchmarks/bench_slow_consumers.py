"""The daemon's memory while clients that never read are in the room and another floods
edits: its RSS at start, after the flood, and its peak (VmHWM), with 0 and with N such
clients, with the unsent-bytes bound (``max_unsent_bytes``, default) and without it (a
bound of 1 TiB, as before there was one). Also the close codes the never-readers got.

    .venv/bin/python benchmarks/bench_slow_consumers.py --readers 3 --ops 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
from pathlib import Path

import websockets


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


async def start(root: Path, bound: int | None) -> tuple[asyncio.subprocess.Process, int]:
    env = {**os.environ}
    if bound is not None:
        env["SVGX_SYNC_MAX_UNSENT_BYTES"] = str(bound)
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "svgx_sync", "serve", str(root), "--port", "0"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    return proc, int(line.split("ws://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])


async def never_reader(url: str, port: int, user: str) -> websockets.ClientConnection:
    """Joins, then never reads: a small receive buffer and a queue of one frame."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ws = await websockets.connect(url, sock=sock, max_queue=1, compression=None)
    await ws.send(json.dumps({"type": "join", "user_id": user, "session_id": "doc"}))
    return ws


async def flood(url: str, ops: int, window: int) -> None:
    """Creates one element, then updates it ``ops`` times with a 20 kB attribute."""
    async with websockets.connect(url, compression=None, max_size=None) as ws:
        await ws.send(json.dumps({"type": "join", "user_id": "flood", "session_id": "doc"}))

        def op(i: int, kind: str, data: dict) -> str:
            message = {"type": "operation", "operation_type": kind, "user_id": "flood"}
            return json.dumps({**message, "element_id": "r1", "data": data, "op_id": f"f{i}"})

        await ws.send(op(-1, "create", {"type": "rectangle"}))
        note = "n" * 20_000
        sent = acked = 0
        while acked < ops + 1:
            while sent < ops and sent - acked < window:
                await ws.send(op(sent, "update", {"attributes": {"data-note": f"{note}{sent}"}}))
                sent += 1
            message = json.loads(await ws.recv())
            if message["type"] in ("ack", "error"):
                acked += 1


async def run(readers: int, ops: int, bound: int | None) -> str:
    with tempfile.TemporaryDirectory() as root:
        proc, port = await start(Path(root), bound)
        url = f"ws://127.0.0.1:{port}"
        try:
            slow = [await never_reader(url, port, f"slow{i}") for i in range(readers)]
            await asyncio.sleep(0.5)
            before, _ = rss_mb(proc.pid)
            await flood(url, ops, 20)
            after, peak = rss_mb(proc.pid)
            codes = sorted(str(ws.close_code) for ws in slow if ws.close_code is not None)
            for ws in slow:
                ws.transport.abort()
        finally:
            proc.terminate()
            await proc.wait()
    label = "unbounded" if bound else "max_unsent_bytes default"
    return f"| {readers} | {label} | {before:.0f} | {after:.0f} | {peak:.0f} | {codes or '-'} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=3)
    parser.add_argument("--ops", type=int, default=2000)
    args = parser.parse_args()
    print(f"# {args.ops} updates of 20 kB each from one client, window 20")
    print("| never-readers | bound | RSS start MB | RSS after MB | peak MB | closed with |")
    print("|---|---|---|---|---|---|")
    for readers in (0, args.readers):
        for bound in (None, 1 << 40):
            print(asyncio.run(run(readers, args.ops, bound)), flush=True)


if __name__ == "__main__":
    main()
