"""Many live documents on one daemon: memory per idle live document, and whether one busy
document slows down when a thousand others are open.

    .venv/bin/python benchmarks/bench_many_documents.py [--documents 1000] [--seconds 10] [--rounds 2]

The daemon runs in its own process (``svgx-sync serve``) over documents made before it
starts; the busy document's two clients run in this process, the crowd of other clients
in a process of their own (``--crowd``), so that the crowd's own work does not count as
the daemon's; the daemon gets a CPU of its own, the clients the others (``--no-pin``
leaves them anywhere). Each round:

1. **alone**: one document ``busy`` with two clients; one sends ``update`` operations at
   ``--rate`` per second, the other receives them: propagation (send → the other's
   receipt, one clock) median and p99 in ms. This is the floor.
2. ``--documents`` documents, two clients joined to each (idle: presence at 1 Hz from
   one of them, as an open editor tab sends). The daemon's RSS before and after, per
   live document.
3. **with the others**: step 1 again while they stay open; the p99 ratio to step 1.
4. The crowd leaves; the daemon unloads the idle documents (``idle_unload_s`` = 3 s)
   before the next round.

``--profile DIR`` records the daemon with py-spy (``py-spy record -r 200 -f raw``, py-spy
must be installed) during each busy step, one file per round and step in DIR; ``--worst``
prints when in its step each of the slowest propagations was sent, to tell a pause from a
steady cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
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


def cpu_s(pid: int) -> float:
    """The process's user + system CPU time so far, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


async def presence(ws: websockets.ClientConnection, user: str, stop: asyncio.Event) -> None:
    """An open editor tab: its cursor at 1 Hz."""
    await asyncio.sleep(random.random())
    i = 0
    while not stop.is_set():
        i += 1
        message = {"type": "activity", "user_id": user, "cursor_position": {"x": i, "y": 1}}
        await ws.send(orjson.dumps(message).decode())
        await asyncio.sleep(1)


def profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy), "record", "-r", "200", "-f", "raw", "-o", str(out), "-p", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def busy(url: str, seconds: float, rate: float, tag: str, worst: int = 0) -> list[float]:
    """Propagation of ``update`` operations from one client of ``busy`` to the other."""
    sender, receiver = await join(url, f"s-{tag}", "busy"), await join(url, f"r-{tag}", "busy")
    sent: dict[str, float] = {}
    delays: list[float] = []
    when: list[tuple[float, float]] = []  # (delay, seconds into the step it was sent)
    began = time.perf_counter()

    async def receive() -> None:
        async for frame in receiver:
            now = time.perf_counter()
            msg = orjson.loads(frame)
            for op in msg.get("operations", ()) if msg.get("type") == "operations" else ():
                if op.get("op_id") in sent:
                    at = sent.pop(op["op_id"])
                    delays.append((now - at) * 1000)
                    when.append((delays[-1], at - began))

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
    if worst:
        slow = sorted(when, reverse=True)[:worst]
        print(
            f"# {tag}: slowest (ms @ s into the step): "
            + ", ".join(f"{d:.1f} @ {t:.2f}" for d, t in sorted(slow, key=lambda x: x[1]))
        )
    return delays


def line(name: str, delays: list[float]) -> str:
    return f"| {name} | {len(delays)} | {statistics.median(delays):.2f} | {pct(delays, 0.99):.2f} |"


async def crowd(url: str, documents: int) -> None:
    """``--crowd``: two clients in each of ``documents`` documents, presence at 1 Hz from
    one of them; says ``ready`` once all have joined, leaves when stdin closes."""
    stop = asyncio.Event()
    clients: list[websockets.ClientConnection] = []
    for start in range(0, documents, 50):
        names = [f"d{i:04d}" for i in range(start, min(documents, start + 50))]
        clients.extend(
            await asyncio.gather(*(join(url, f"{who}-{n}", n) for n in names for who in "ab"))
        )
    tasks = [asyncio.create_task(drain(ws)) for ws in clients]
    tasks += [
        asyncio.create_task(presence(ws, f"a-d{i // 2:04d}", stop))
        for i, ws in enumerate(clients)
        if i % 2 == 0
    ]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    stop.set()
    await asyncio.gather(*(ws.close() for ws in clients))
    for task in tasks:
        task.cancel()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


async def server_buckets(url: str) -> dict[float, float]:
    """The daemon's own histogram of receipt → broadcast (``/metrics``), per bucket."""
    port = port_of(url)

    def read() -> dict[float, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
        prefix = 'svgx_server_propagation_seconds_bucket{le="'
        return {
            float(line[len(prefix) :].split('"', 1)[0]): float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(prefix)
        }

    return await asyncio.get_running_loop().run_in_executor(None, read)


def server_quantile(before: dict[float, float], after: dict[float, float], q: float) -> str:
    """The bucket bound under which ``q`` of the step's operations were broadcast."""
    counts = {le: after[le] - before.get(le, 0.0) for le in sorted(after)}
    total = counts[float("inf")]
    for le, n in counts.items():
        if total and n >= q * total:
            return f"≤ {le * 1000:g}" if le != float("inf") else "> 1000"
    return "n/a"


def server_line(before: dict[float, float], after: dict[float, float]) -> str:
    return f"{server_quantile(before, after, 0.5)} / {server_quantile(before, after, 0.99)}"


async def live_sessions(port: int) -> int:
    def read() -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            return len(orjson.loads(r.read()).get("sessions", ()))

    return await asyncio.get_running_loop().run_in_executor(None, read)


async def measured(
    args: argparse.Namespace, url: str, proc: asyncio.subprocess.Process, tag: str
) -> tuple[list[float], float, str]:
    """One busy step: its propagations, the daemon's CPU share over it, and the daemon's
    own median / p99 (with a py-spy profile of it in ``--profile``)."""
    spy = None
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        spy = profiler(proc.pid, args.profile / f"{tag}.txt")
    cpu0, t0, buckets = cpu_s(proc.pid), time.perf_counter(), await server_buckets(url)
    delays = await busy(url, args.seconds, args.rate, tag, args.worst)
    cpu = (cpu_s(proc.pid) - cpu0) / (time.perf_counter() - t0)
    server = server_line(buckets, await server_buckets(url))
    if spy is not None:
        spy.send_signal(2)  # py-spy writes its profile on SIGINT
        spy.wait(30)
    return delays, cpu, server


async def one_round(
    args: argparse.Namespace, url: str, proc: asyncio.subprocess.Process, n: int
) -> tuple[list[float], list[float]]:
    alone, cpu_alone, server_alone = await measured(args, url, proc, f"alone{n}")
    before = rss_mb(proc.pid)
    opened = time.perf_counter()
    others = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--crowd", url, "--documents", str(args.documents),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert others.stdout is not None and others.stdin is not None
    ready = await asyncio.wait_for(others.stdout.readline(), 600)
    if ready.strip() != b"ready":
        raise SystemExit("the crowd did not join")
    open_s = time.perf_counter() - opened
    await asyncio.sleep(3)
    after = rss_mb(proc.pid)
    crowded, cpu_crowded, server_crowded = await measured(args, url, proc, f"crowded{n}")
    others.stdin.close()
    await others.wait()
    port = port_of(url)
    deadline = time.monotonic() + 120
    while await live_sessions(port) > 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.5)  # the idle documents unload (idle_unload_s)
    print(f"\n## round {n}: {2 * args.documents} clients joined in {open_s:.1f} s\n")
    print("| daemon RSS | MB |")
    print("|---|---|")
    print(f"| with `busy` only | {before:.1f} |")
    print(f"| with {args.documents} more live documents | {after:.1f} |")
    print(f"| per live idle document | {(after - before) * 1024 / args.documents:.1f} KB |")
    print(f"| after they unloaded | {rss_mb(proc.pid):.1f} |")
    print()
    print(
        "| busy document | operations | propagation median ms | p99 ms | daemon CPU %"
        " | in the daemon, median / p99 ms |"
    )
    print("|---|---|---|---|---|---|")
    print(line("alone (floor)", alone) + f" {100 * cpu_alone:.0f} | {server_alone} |")
    print(
        line(f"beside {args.documents} live documents", crowded)
        + f" {100 * cpu_crowded:.0f} | {server_crowded} |"
    )
    print(f"\np99 ratio: {pct(crowded, 0.99) / pct(alone, 0.99):.2f}")
    return alone, crowded


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
        "max_unjoined_per_address = 10000\nops_per_second = 10000\nidle_unload_s = 3\n"
        f"new_documents_per_minute = 100000\nmax_connections = {2 * args.documents + 100}\n"
    )
    print(f"# {args.documents} documents made in {time.perf_counter() - made:.1f} s")
    proc, url = await start_daemon(root, config)
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin and len(cpus) >= 2:  # as ../shared/bench does: the server alone on one CPU
        os.sched_setaffinity(proc.pid, {cpus[0]})
        os.sched_setaffinity(0, set(cpus[1:]))  # the clients here and the crowd's process
        print(f"# the daemon on CPU {cpus[0]}, the clients on {cpus[1:]}")
    try:
        alone: list[float] = []
        crowded: list[float] = []
        for n in range(1, args.rounds + 1):
            a, c = await one_round(args, url, proc, n)
            alone += a
            crowded += c
        print(
            f"\n## all rounds: p99 alone {pct(alone, 0.99):.2f} ms, beside the others"
            f" {pct(crowded, 0.99):.2f} ms; ratio {pct(crowded, 0.99) / pct(alone, 0.99):.2f}"
        )
    finally:
        proc.terminate()
        await proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=50, help="busy operations per second")
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="leave the processes on every CPU"
    )
    parser.add_argument("--profile", type=Path, help="folder for py-spy's raw profiles")
    parser.add_argument(
        "--worst", type=int, default=0, help="print the N slowest propagations of each step"
    )
    parser.add_argument("--crowd", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.crowd:
        asyncio.run(crowd(args.crowd, args.documents))
        return
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args, Path(folder)))


if __name__ == "__main__":
    main()
