"""kill -9 the daemon at random moments: no acknowledged operation is lost or doubled."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from pathlib import Path

import websockets
from lxml import etree
from test_watcher import start_process

SESSION = "crash"
CLIENTS = 4
ROUNDS = 3
TIMEOUT = 20.0


async def start_daemon(root: Path, log: Path) -> tuple[asyncio.subprocess.Process, int]:
    return await start_process(root, log, 5, {"SVGX_SYNC_CHECKPOINT_OPS": "40"}, timeout=TIMEOUT)


async def join(port: int, user: str) -> websockets.ClientConnection:
    ws = await websockets.connect(f"ws://127.0.0.1:{port}", compression=None)
    await ws.send(json.dumps({"type": "join", "user_id": user, "session_id": SESSION}))
    while json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] != "welcome":
        pass
    return ws


def create(user: str, op_id: str) -> str:
    return json.dumps(
        {
            "type": "operation",
            "operation_type": "create",
            "user_id": user,
            "element_id": op_id,
            "data": {"type": "rectangle"},
            "op_id": op_id,
        }
    )


async def wait_ack(ws: websockets.ClientConnection, op_id: str) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message["type"] in ("ack", "error") and message.get("op_id") == op_id:
            return message


async def writer(
    port: int,
    index: int,
    rnd: random.Random,
    sent: list[str],
    acked: dict[str, int],
    counter: list[int],
    kill_after: int,
    moment: asyncio.Event,
) -> None:
    user = f"u{index}"
    try:
        ws = await join(port, user)
        while True:
            op_id = f"e-{user}-{rnd.getrandbits(40):x}"
            sent.append(op_id)
            await ws.send(create(user, op_id))
            ack = await wait_ack(ws, op_id)
            assert ack["type"] == "ack" and ack["status"] == "applied", ack
            acked[op_id] = ack["seq"]
            counter[0] += 1
            if counter[0] >= kill_after:
                moment.set()
    except (websockets.ConnectionClosed, OSError):
        return  # the daemon was killed under us


async def resend(port: int, sent: list[str], acked: dict[str, int]) -> None:
    """Everything sent so far is resent by its sender (an ``op_id`` is its user's):
    acknowledged ones answer with their first seq and change nothing; the others are
    applied now, once."""
    for user in sorted({op_id.split("-")[1] for op_id in sent}):
        ws = await join(port, user)
        for op_id in [o for o in sent if o.split("-")[1] == user]:
            await ws.send(create(user, op_id))
            ack = await wait_ack(ws, op_id)
            assert ack["type"] == "ack", ack
            if op_id in acked:
                assert ack["seq"] == acked[op_id], (op_id, ack, acked[op_id])
            acked[op_id] = ack["seq"]
        await ws.close()


async def ids_after_restart(root: Path, log: Path) -> list[str]:
    """The element ids a daemon started again on ``root`` welcomes a client with."""
    proc, port = await start_daemon(root, log)
    try:
        ws = await websockets.connect(f"ws://127.0.0.1:{port}", compression=None)
        await ws.send(json.dumps({"type": "join", "user_id": "final", "session_id": SESSION}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        await ws.close()
        return element_ids(welcome["files"]["document.svg"])
    finally:
        proc.kill()
        await proc.wait()


def element_ids(text: str) -> list[str]:
    root = etree.fromstring(text.encode())
    return [el.get("id") for el in root.iter() if str(el.get("id", "")).startswith("e-")]


def test_kill_9_at_random_moments_loses_no_acknowledged_operation(tmp_path, git):
    root, log = tmp_path / "docs", tmp_path / "daemon.log"
    rnd = random.Random(int.from_bytes(os.urandom(4), "big"))
    sent: list[str] = []
    acked: dict[str, int] = {}

    async def main() -> None:
        for _ in range(ROUNDS):
            proc, port = await start_daemon(root, log)
            try:
                await resend(port, sent, acked)
                counter, moment = [0], asyncio.Event()
                kill_after = rnd.randint(5, 150)
                tasks = [
                    asyncio.create_task(
                        writer(port, i, rnd, sent, acked, counter, kill_after, moment)
                    )
                    for i in range(CLIENTS)
                ]
                await asyncio.wait_for(moment.wait(), TIMEOUT)
                proc.send_signal(signal.SIGKILL)
                await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
                await asyncio.wait_for(proc.wait(), TIMEOUT)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            # Whatever was on disk at the kill is a whole file, never half of one.
            etree.fromstring((root / SESSION / "document.svg").read_bytes())

        proc, port = await start_daemon(root, log)
        try:
            await resend(port, sent, acked)
            ws = await websockets.connect(f"ws://127.0.0.1:{port}", compression=None)
            await ws.send(json.dumps({"type": "join", "user_id": "final", "session_id": SESSION}))
            welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            ids = element_ids(welcome["files"]["document.svg"])
            assert sorted(ids) == sorted(set(sent)), "every operation exactly once"
            assert welcome["seq"] == len(set(sent))
            assert sorted(acked.values()) == list(range(1, len(set(sent)) + 1))
            await ws.close()
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    asyncio.run(asyncio.wait_for(main(), 150))
    assert len(acked) >= ROUNDS
    repo = root / SESSION
    on_disk = element_ids((repo / "document.svg").read_text())
    assert sorted(on_disk) == sorted(set(sent))  # the clean stop wrote the working tree
    git(repo, "fsck", "--strict")
    git(repo, "status", "--porcelain")


def test_a_kill_after_the_bases_are_recorded_but_before_the_file_is_written_loses_nothing(
    tmp_path, git
):
    """The versions a write is to put on disk are recorded before the file: a kill -9 in
    between leaves the file as it was (here git's own first version), which must not
    be taken for a save that deleted the acknowledged elements."""
    root, log = tmp_path / "docs", tmp_path / "daemon.log"
    op_ids = [f"e-u0-{n}" for n in range(5)]

    async def main() -> None:
        # The first write comes a second after the first operation: all are acked by then.
        proc, port = await start_process(
            root, log, 1000, {"SVGX_SYNC_CRASH_AT": "bases-recorded"}, timeout=TIMEOUT
        )
        try:
            ws = await join(port, "u0")
            for op_id in op_ids:
                await ws.send(create("u0", op_id))
                assert (await wait_ack(ws, op_id))["type"] == "ack"
            assert await asyncio.wait_for(proc.wait(), TIMEOUT) == -9, log.read_text()
            assert b"e-u0-" not in (root / SESSION / "document.svg").read_bytes()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        ids = await ids_after_restart(root, log)
        assert sorted(ids) == sorted(op_ids), log.read_text()

    asyncio.run(asyncio.wait_for(main(), 90))


def test_a_kill_after_a_checkpoint_is_pointed_but_before_the_journal_rotates_loses_nothing(
    tmp_path, git
):
    """A timed checkpoint built in a worker thread while operations go on: the daemon is
    killed once its ref points at the commit and before the journal is rotated. The
    restart starts from that checkpoint and replays what came after it."""
    root, log = tmp_path / "docs", tmp_path / "daemon.log"
    acked: list[str] = []

    async def main() -> None:
        env = {"SVGX_SYNC_CRASH_AT": "checkpoint-pointed", "SVGX_SYNC_CHECKPOINT_INTERVAL_S": "0.3"}
        proc, port = await start_process(root, log, 1000, env, timeout=TIMEOUT)
        try:
            ws = await join(port, "u0")
            try:
                for n in range(10_000):  # until the daemon is killed under us
                    op_id = f"e-u0-{n}"
                    await ws.send(create("u0", op_id))
                    assert (await wait_ack(ws, op_id))["type"] == "ack"
                    acked.append(op_id)
            except (websockets.ConnectionClosed, OSError):
                pass
            assert await asyncio.wait_for(proc.wait(), TIMEOUT) == -9, log.read_text()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        message = git(root / SESSION, "log", "-1", "--format=%B", "refs/svgx/live/main")
        pointed = int(message.split("Svgx-Seq: ", 1)[1].split()[0])
        assert 1 <= pointed <= len(acked) + 1  # the kill came once it was pointed
        ids = await ids_after_restart(root, log)
        assert set(acked) <= set(ids) and len(ids) == len(set(ids)), log.read_text()

    asyncio.run(asyncio.wait_for(main(), 90))
    assert acked
    git(root / SESSION, "fsck", "--strict")
