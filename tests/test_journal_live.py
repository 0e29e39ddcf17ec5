"""A damaged journal on a real daemon: killed with -9, a byte flipped, started again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import websockets
from test_durability import create, wait_ack
from test_watcher import kill_9, start_process

TIMEOUT = 20.0
SESSION = "damaged"
# No checkpoint and no file write in the test's time: everything lives in the journal.
QUIET = {"SVGX_SYNC_CHECKPOINT_OPS": "100000", "SVGX_SYNC_CHECKPOINT_INTERVAL_S": "3600"}


async def join(port: int, user: str) -> tuple[websockets.ClientConnection, dict, list[dict]]:
    """Join; the welcome and the messages that follow it until the first presence."""
    ws = await websockets.connect(f"ws://127.0.0.1:{port}", compression=None)
    await ws.send(json.dumps({"type": "join", "user_id": user, "session_id": SESSION}))
    welcome = None
    after: list[dict] = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message["type"] == "welcome":
            welcome = message
        elif welcome is not None and message["type"] == "presence_update":
            return ws, welcome, after
        elif welcome is not None:
            after.append(message)


async def status(ws: websockets.ClientConnection) -> dict:
    await ws.send(json.dumps({"type": "status"}))
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message["type"] == "status":
            return message


def test_a_flipped_byte_costs_one_operation_and_is_reported_after_a_kill_9(tmp_path: Path) -> None:
    root, log = tmp_path / "docs", tmp_path / "daemon.log"
    journal = root / SESSION / ".git" / "svgx" / "journal-main.log"

    async def main() -> None:
        proc, port = await start_process(root, log, 600_000, QUIET, timeout=TIMEOUT)
        try:
            ws, _, _ = await join(port, "a")
            for i in range(1, 7):
                await ws.send(create("a", f"e-{i}"))
                ack = await wait_ack(ws, f"e-{i}")
                assert (ack["status"], ack["seq"]) == ("applied", i)
            await kill_9(proc)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

        data = bytearray(journal.read_bytes())
        data[data.index(b'"e-3"') + 2] ^= 0xFF  # one byte inside the third operation
        journal.write_bytes(bytes(data))

        for start in range(2):  # reported on the start that found it and on later ones
            proc, port = await start_process(root, log, 600_000, QUIET, timeout=TIMEOUT)
            try:
                ws, welcome, after = await join(port, f"b{start}")
                text = welcome["files"]["document.svg"]
                kept = [f"e-{i}" for i in (1, 2, 4, 5, 6)]
                assert all(f'id="{e}"' in text for e in kept) and 'id="e-3"' not in text
                (notice,) = [m for m in after if m["type"] == "journal_damaged"]
                assert notice["lost_seqs"] == [3] and notice["lost_after_seq"] is None
                assert Path(notice["kept_as"]).read_bytes() == bytes(data)
                assert "e-3" not in notice["message"] and "3" in notice["message"]
                (session,) = (await status(ws))["sessions"]
                assert session["journal_damage"] == [notice]
                # It serves: a new operation is acknowledged after the ones it kept.
                await ws.send(create(f"b{start}", f"n-{start}"))
                ack = await wait_ack(ws, f"n-{start}")
                assert (ack["status"], ack["seq"]) == ("applied", 7 + start)
                await ws.close()
                await kill_9(proc)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    asyncio.run(asyncio.wait_for(main(), 120))
    assert "was damaged" in log.read_text() and "seqs lost: 3" in log.read_text()


def test_a_hundred_documents_with_an_operation_each_take_little_disk(tmp_path: Path) -> None:
    """Each journal grows on demand: 100 documents with one operation each take a few
    KiB of journal each, not the mebibyte a full step of zeros would."""
    from test_server import Client, run_with_daemon

    root = tmp_path / "docs"
    count = 100

    async def body(daemon) -> None:
        client = await Client.connect(daemon)
        for i in range(count):
            await client.join("a", session=f"doc-{i}")
            ack = await client.op("a", "create", "r", {"type": "rectangle"}, f"o-{i}")
            assert ack["status"] == "applied"
        await client.close()
        journals = list(root.glob("doc-*/.git/svgx/journal-main.log"))
        assert len(journals) == count
        used = sum(p.stat().st_blocks * 512 for p in journals)
        assert used < count * 16 * 1024, f"{used / count:.0f} bytes a journal"

    run_with_daemon(
        tmp_path,
        body,
        checkpoint_ops=100000,
        checkpoint_interval_s=3600,
        new_documents_per_minute=count,  # one client makes them all
    )


def test_a_daemon_serves_whatever_byte_of_its_journal_was_flipped(tmp_path: Path) -> None:
    """A journal of 5 acknowledged creates, left by a kill -9, copied into one document
    per flipped byte (each byte of the middle and the last record's header, the first
    and last byte of every payload, every 13th byte else); one daemon serves them all:
    each welcome holds every element whose record was not hit, the damage is reported,
    and a new operation is acknowledged."""
    import shutil

    root, log = tmp_path / "docs", tmp_path / "daemon.log"
    template = root / SESSION

    async def record() -> None:
        proc, port = await start_process(root, log, 600_000, QUIET, timeout=TIMEOUT)
        try:
            ws, _, _ = await join(port, "a")
            for i in range(1, 6):
                await ws.send(create("a", f"e-{i}"))
                assert (await wait_ack(ws, f"e-{i}"))["seq"] == i
            await kill_9(proc)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    asyncio.run(asyncio.wait_for(record(), 60))
    journal = Path(".git/svgx/journal-main.log")
    data = (template / journal).read_bytes().rstrip(b"\0")
    starts = [i for i in range(len(data)) if data.startswith(b"\xf5SJ1", i)]
    assert len(starts) == 5
    ends = [*starts[1:], len(data)]
    header = 24
    positions = {
        *range(starts[2], starts[2] + header),
        *range(starts[4], starts[4] + header),
        *(s + header for s in starts),
        *(e - 1 for e in ends),
        *range(0, len(data), 13),
    }
    hits = {}
    for position in sorted(positions):
        name = f"flip-{position}"
        shutil.copytree(template, root / name)
        flipped = bytearray(data)
        flipped[position] ^= 0xFF
        (root / name / journal).write_bytes(bytes(flipped))
        hits[name] = next(i for i in range(5) if starts[i] <= position < ends[i]) + 1

    async def serve() -> None:
        proc, port = await start_process(root, log, 600_000, QUIET, timeout=TIMEOUT)
        try:
            for name, hit in hits.items():
                ws = await websockets.connect(f"ws://127.0.0.1:{port}", compression=None)
                await ws.send(json.dumps({"type": "join", "user_id": "b", "session_id": name}))
                welcome, notice = None, None
                while welcome is None or notice is None:
                    message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                    if message["type"] == "welcome":
                        welcome = message
                    elif message["type"] == "journal_damaged":
                        notice = message
                text = welcome["files"]["document.svg"]
                for i in range(1, 6):
                    assert (f'id="e-{i}"' in text) == (i != hit), (name, i)
                assert notice["lost_seqs"] == [hit] or (
                    hit == 5 and notice["lost_seqs"] == [] and notice["lost_after_seq"] == 4
                ), (name, notice)
                await ws.send(create("b", "after"))
                assert (await wait_ack(ws, "after"))["status"] == "applied", name
                await ws.close()
        finally:
            proc.kill()
            await proc.wait()

    asyncio.run(asyncio.wait_for(serve(), 120))
