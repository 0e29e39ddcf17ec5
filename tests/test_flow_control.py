"""Flow control from the user's side: a daemon on 127.0.0.1 port 0 and websockets clients.

A client may have at most ``max_unanswered_ops`` operations accepted and not yet
answered; with that many waiting the daemon reads nothing more from it until the answers
go out, so a client sending as fast as it can is slowed by TCP and never refused, and
another client's operations wait behind at most that many of its operations
(docs/security.md, "Operation rate").
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from typing import Any

import pytest
import websockets
from test_server import TIMEOUT, Client, joined, run_with_daemon

from svgx_sync.daemon.server import Daemon

FLOOD = 4000


def _update(user: str, op_id: str, x: int) -> str:
    return json.dumps(
        {
            "type": "operation",
            "operation_type": "update",
            "user_id": user,
            "element_id": "r1",
            "data": {"attributes": {"x": str(x)}},
            "op_id": op_id,
        }
    )


class Flooder:
    """Sends ``count`` operations without waiting for any answer (open loop) and reads
    every answer as it comes."""

    def __init__(self, ws: websockets.ClientConnection, count: int) -> None:
        self.ws = ws
        self.count = count
        self.acks: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.done = asyncio.get_running_loop().create_future()

    @classmethod
    async def start(cls, daemon: Daemon, count: int) -> Flooder:
        ws = await websockets.connect(f"ws://127.0.0.1:{daemon.port}", compression=None)
        await ws.send(json.dumps({"type": "join", "user_id": "flood", "session_id": "doc"}))
        self = cls(ws, count)
        self.reader = asyncio.ensure_future(self._read())
        self.sender = asyncio.ensure_future(self._send())
        return self

    async def _send(self) -> None:
        for i in range(self.count):
            await self.ws.send(_update("flood", f"f{i}", i))

    async def _read(self) -> None:
        async for frame in self.ws:  # to the end: the close frame is read too
            message = json.loads(frame)
            if message["type"] == "ack":
                self.acks.append(message)
            elif message["type"] == "error":
                self.errors.append(message)
            if len(self.acks) + len(self.errors) == self.count:
                self.done.set_result(None)

    async def finished(self) -> None:
        await asyncio.wait_for(asyncio.shield(self.done), 4 * TIMEOUT)
        await self.sender
        await self.ws.close()
        await self.reader


async def _joined(daemon: Daemon, user: str) -> Client:
    """A client that buffers whatever it has not read yet (the flood's broadcasts), so
    that its close handshake is never stuck behind them."""
    url = f"ws://127.0.0.1:{daemon.port}"
    client = Client(await websockets.connect(url, compression=None, max_queue=None))
    await client.join(user)
    return client


async def _metric(daemon: Daemon, name: str) -> float:
    def fetch() -> str:
        url = f"http://127.0.0.1:{daemon.port}/metrics"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as reply:
            return reply.read().decode()

    text = await asyncio.to_thread(fetch)
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} is not in /metrics"
    return float(found.group(1))


def test_an_open_loop_flood_is_all_acknowledged_while_another_client_goes_on(tmp_path):
    async def body(daemon: Daemon) -> None:
        bob = await _joined(daemon, "bob")
        await bob.op("bob", "create", "r1", {"type": "rectangle"}, "c1")
        flood = await Flooder.start(daemon, FLOOD)
        # Bob's edits are acknowledged one after the other while the flood goes on: none
        # waits behind the flood's backlog.
        for i in range(5):
            ack = await bob.op("bob", "update", "r1", {"attributes": {"y": str(i)}}, f"b{i}")
            assert ack["status"] == "applied"
        assert not flood.done.done(), f"the flood was answered before bob ({len(flood.acks)})"
        await flood.finished()
        # Nothing of the flood was refused for going fast, and all of it was applied.
        assert flood.errors == []
        assert [a["op_id"] for a in flood.acks] == [f"f{i}" for i in range(FLOOD)]
        assert {a["status"] for a in flood.acks} == {"applied"}
        carol = await Client.connect(daemon)
        svg = (await carol.join("carol"))["files"]["document.svg"]  # after the flood
        assert f'x="{FLOOD - 1}"' in svg and 'y="4"' in svg
        for client in (bob, carol):
            await client.close()

    run_with_daemon(tmp_path, body)


@pytest.mark.parametrize("fsync_in_thread", [False, True])
def test_a_flooding_connection_never_has_more_than_its_window_unanswered(tmp_path, fsync_in_thread):
    async def body(daemon: Daemon) -> None:
        bob = await _joined(daemon, "bob")
        await bob.op("bob", "create", "r1", {"type": "rectangle"}, "c1")
        flood = await Flooder.start(daemon, 2000)
        await flood.finished()
        assert flood.errors == [] and len(flood.acks) == 2000
        # The window filled (the daemon stopped reading the flooder) and was never passed.
        assert await _metric(daemon, "svgx_unanswered_operations_peak") == 8
        assert await _metric(daemon, "svgx_window_waits_total") >= 1
        await bob.close()

    run_with_daemon(tmp_path, body, max_unanswered_ops=8, fsync_in_thread=fsync_in_thread)


def test_a_closed_loop_client_inside_its_window_is_never_held_back(tmp_path):
    async def body(daemon: Daemon) -> None:
        (alice,) = await joined(daemon, "alice")
        await alice.op("alice", "create", "r1", {"type": "rectangle"}, "c1")
        for round_ in range(20):  # 4 in flight at a time, under a window of 5
            for i in range(4):
                await alice.ws.send(_update("alice", f"u{round_}-{i}", i))
            for i in range(4):
                await alice.expect("ack", lambda m, op=f"u{round_}-{i}": m["op_id"] == op)
        assert await _metric(daemon, "svgx_unanswered_operations_peak") <= 4
        assert await _metric(daemon, "svgx_window_waits_total") == 0
        await alice.close()

    run_with_daemon(tmp_path, body, max_unanswered_ops=5)
