"""The daemon's limits over real sockets on loopback: a join deadline, a cap on connections
waiting to join per address, slow consumers, operation rates and document creation."""

from __future__ import annotations

import asyncio

import websockets
from test_server import TIMEOUT, Client, run_with_daemon
from websockets.exceptions import ConnectionClosed

from svgx_sync.daemon.server import Daemon


async def _closed_with(ws: websockets.ClientConnection) -> int | None:
    """The close code the daemon sends, waiting for it under the deadline."""

    async def wait() -> int | None:
        try:
            for _ in range(1000):
                await ws.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
        raise AssertionError("the daemon kept sending and never closed")

    return await asyncio.wait_for(wait(), TIMEOUT)


def _url(daemon: Daemon) -> str:
    return f"ws://127.0.0.1:{daemon.port}"


def test_a_connection_that_does_not_join_in_time_is_closed_and_joined_ones_stay(tmp_path):
    async def body(daemon: Daemon) -> None:
        joined = await Client.connect(daemon)
        await joined.join("alice")
        idle = await websockets.connect(_url(daemon), compression=None)
        assert await _closed_with(idle) == 1008
        ack = await joined.op("alice", "create", "r1", {"type": "rectangle"}, "c1")
        assert ack["status"] == "applied"
        await joined.close()

    run_with_daemon(tmp_path, body, join_timeout_s=0.5)


def test_idle_sockets_from_one_address_cannot_lock_out_another_client(tmp_path):
    async def body(daemon: Daemon) -> None:
        idle = []
        for i in range(12):  # as many as max_connections, from one address
            ws = await websockets.connect(_url(daemon), compression=None)
            idle.append(ws)
            if i >= 4:  # past the cap of 4 waiting to join: closed at once
                assert await _closed_with(ws) == 1013
        other = Client(
            await websockets.connect(_url(daemon), compression=None, local_addr=("127.0.0.2", 0))
        )
        welcome = await other.join("bob")
        assert welcome["document"] == "doc"
        # Once one of the waiting joins, the address may open another.
        first = Client(idle[0])
        await first.join("alice")
        late = Client(await websockets.connect(_url(daemon), compression=None))
        await late.join("carol")
        for client in (other, first, late):
            await client.close()
        for ws in idle[1:4]:
            await ws.close()

    run_with_daemon(
        tmp_path, body, max_connections=12, max_unjoined_per_address=4, join_timeout_s=60
    )
