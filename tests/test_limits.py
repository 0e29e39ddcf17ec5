"""The daemon's limits over real sockets on loopback: a join deadline, a cap on connections
waiting to join per address, slow consumers, a configured cap on operations and document
creation (the window of unanswered operations: test_flow_control.py)."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import sys
from typing import Any

import pytest
import websockets
from test_server import TIMEOUT, Client, joined, run_with_daemon
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.uri import parse_uri

from svgx_sync.daemon.server import Daemon
from svgx_sync.daemon.transport import LocalClosed


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


async def _refused(daemon: Daemon) -> int:
    """The HTTP status that refuses a WebSocket handshake from 127.0.0.1."""
    try:
        ws = await websockets.connect(_url(daemon), compression=None)
    except websockets.InvalidStatus as exc:
        return exc.response.status_code
    await ws.close()
    raise AssertionError("the handshake was accepted")


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
        idle = [await websockets.connect(_url(daemon), compression=None) for _ in range(4)]
        for _ in range(8):  # as many as max_connections in all, from one address
            assert await _refused(daemon) == 429  # past the cap of 4 waiting to join
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


class NeverReads:
    """A raw socket speaking WebSocket (websockets' sans-I/O client) that joins, then
    reads nothing until told to, with a small receive buffer."""

    def __init__(self, protocol: ClientProtocol, reader: Any, writer: Any) -> None:
        self.protocol, self.reader, self.writer = protocol, reader, writer

    @classmethod
    async def join(cls, daemon: Daemon, user: str) -> NeverReads:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", daemon.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
        protocol = ClientProtocol(parse_uri(_url(daemon)))
        protocol.send_request(protocol.connect())
        self = cls(protocol, reader, writer)
        self.flush()
        for _ in range(100):
            if protocol.handshake_exc is not None or protocol.state is State.OPEN:
                break
            protocol.receive_data(await asyncio.wait_for(reader.read(1024), TIMEOUT))
        assert protocol.state is State.OPEN, protocol.handshake_exc
        join = {"type": "join", "user_id": user, "session_id": "doc"}
        protocol.send_text(json.dumps(join).encode())
        self.flush()
        return self

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            self.writer.write(data)

    async def close_code(self) -> int | None:
        """Read everything that was sent, then the close frame's code (None if cut off)."""

        async def read() -> int | None:
            for _ in range(100_000):
                data = await self.reader.read(65536)
                if not data:
                    self.protocol.receive_eof()
                else:
                    self.protocol.receive_data(data)
                self.protocol.events_received()
                if self.protocol.close_rcvd is not None:
                    return self.protocol.close_rcvd.code
                if not data:
                    return None
            raise AssertionError("the daemon kept sending and never closed")

        try:
            return await asyncio.wait_for(read(), TIMEOUT)
        finally:
            self.writer.close()


class Patient(Client):
    """Waits long enough for a whole flood to arrive."""

    timeout = 6 * TIMEOUT


def test_connections_past_the_cap_that_reach_the_daemon_at_once_are_closed(tmp_path):
    """Handshakes that all pass before any is counted are caught when served (1013);
    in memory, where there is no handshake, that is the only check."""

    async def body(daemon: Daemon) -> None:
        local = [daemon.connect_local("192.0.2.7") for _ in range(3)]
        with pytest.raises(LocalClosed) as closed:
            await asyncio.wait_for(local[2].recv(), TIMEOUT)
        assert closed.value.code == 1013
        other = Client(daemon.connect_local("192.0.2.8"))
        assert (await other.join("bob"))["document"] == "doc"
        first = Client(local[0])
        assert (await first.join("alice"))["document"] == "doc"

    run_with_daemon(tmp_path, body, max_unjoined_per_address=2, join_timeout_s=60)


def test_a_token_in_the_handshake_is_not_held_back_by_idle_sockets_from_its_address(tmp_path):
    async def body(daemon: Daemon) -> None:
        idle = [await websockets.connect(_url(daemon), compression=None) for _ in range(2)]
        assert await _refused(daemon) == 429
        holder = Client(
            await websockets.connect(
                _url(daemon),
                compression=None,
                additional_headers={"Authorization": "Bearer team-secret"},
            )
        )
        await holder.join("bob")
        ack = await holder.op("bob", "create", "r1", {"type": "rectangle"}, "c1")
        assert ack["status"] == "applied"
        await holder.close()
        for ws in idle:
            await ws.close()

    run_with_daemon(
        tmp_path, body, tokens=("team-secret",), max_unjoined_per_address=2, join_timeout_s=60
    )


def test_a_client_that_never_reads_is_closed_and_the_others_keep_going(tmp_path):
    async def body(daemon: Daemon) -> None:
        a, b = await Client.connect(daemon), await Patient.connect(daemon)
        await a.join("alice")
        slow = await NeverReads.join(daemon, "sloth")
        await b.join("bob")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "c0")
        note = "n" * 20_000
        last = asyncio.ensure_future(  # bob reads all along
            b.expect("operations", lambda m: m["operations"][-1]["op_id"] == "u399")
        )
        for i in range(400):  # 8 MB to each reader: past the kernel's buffers and the limit
            data = {"attributes": {"data-note": f"{note}{i}"}}
            ack = await a.op("alice", "update", "r1", data, f"u{i}")
            assert ack["status"] == "applied"
        got = await last
        assert got["operations"][-1]["data"]["attributes"]["data-note"].endswith("399")
        assert await slow.close_code() == 1013
        await a.op("alice", "update", "r1", {"attributes": {"x": "1"}}, "after")
        for client in (a, b):
            await client.close()

    run_with_daemon(tmp_path, body, max_unsent_bytes=256 * 1024)


def test_operations_past_a_configured_cap_are_refused_to_their_sender_and_apply_nothing(
    tmp_path,
):
    async def body(daemon: Daemon) -> None:
        a, b = await joined(daemon, "alice", "bob")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "c1")
        for i in (1, 2, 3):  # the cap's burst is 3, and its next token is 10 s away
            await a.send(
                type="operation",
                operation_type="update",
                user_id="alice",
                element_id="r1",
                data={"attributes": {"x": str(i)}},
                op_id=f"x{i}",
            )
        assert (await a.expect("ack", lambda m: m["op_id"] == "x2"))["status"] == "applied"
        error = await a.expect("error")
        assert (error["code"], error["op_id"]) == ("rate_limited", "x3")
        # Others have their own rate; bob's edit goes through and nothing of x3 is applied.
        ack = await b.op("bob", "update", "r1", {"attributes": {"y": "5"}}, "y5")
        assert ack["status"] == "applied"
        c = await Client.connect(daemon)
        svg = (await c.join("carol"))["files"]["document.svg"]
        assert 'x="2"' in svg and 'x="3"' not in svg and 'y="5"' in svg
        for client in (a, b, c):
            await client.close()

    run_with_daemon(tmp_path, body, ops_per_second=0.1, ops_burst=3)


def test_a_connection_creating_documents_too_fast_is_refused_and_creates_nothing(tmp_path):
    async def body(daemon: Daemon) -> None:
        a = await Client.connect(daemon)
        for name in ("d1", "d2"):
            assert (await a.join("alice", name))["document"] == name
        await a.send(type="join", user_id="alice", session_id="d3")
        error = await a.expect("error")
        assert error["code"] == "rate_limited"
        assert not (tmp_path / "docs" / "d3").exists()
        # Joining a document that exists is no creation; another connection has its own rate.
        assert (await a.join("alice", "d1"))["document"] == "d1"
        b = await Client.connect(daemon)
        assert (await b.join("bob", "d3"))["document"] == "d3"
        for client in (a, b):
            await client.close()

    run_with_daemon(tmp_path, body, new_documents_per_minute=2)


FD_LIMIT = 256


def _low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def test_max_connections_is_cut_to_the_open_file_limit_with_a_warning(tmp_path):
    """A daemon allowed 256 files serves 192 connections (a reserve of 64 stays for its
    journals and repositories), refuses more with 503, and keeps working."""

    async def main() -> None:
        env = {
            **os.environ,
            "SVGX_SYNC_MAX_CONNECTIONS": "1000",
            "SVGX_SYNC_MAX_UNJOINED_PER_ADDRESS": "1000",
            "SVGX_SYNC_JOIN_TIMEOUT_S": "300",
        }
        proc = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "svgx_sync", "serve", str(tmp_path / "docs"), "--port", "0"],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            preexec_fn=_low_file_limit,
        )
        assert proc.stdout is not None and proc.stderr is not None
        idle: list[websockets.ClientConnection] = []
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode()
            url = "ws://" + line.split("ws://", 1)[1].split(" ", 1)[0]
            logged = [
                (await asyncio.wait_for(proc.stderr.readline(), TIMEOUT)).decode()
                for _ in range(2)  # the warning, then "listening on"
            ]
            assert any(
                "max_connections 1000 does not fit the open-file limit of 256" in line
                for line in logged
            ), logged
            refused, attempts = 0, FD_LIMIT - 30
            for _ in range(attempts):
                try:
                    idle.append(await websockets.connect(url, compression=None))
                except websockets.InvalidStatus as exc:
                    assert exc.response.status_code == 503
                    refused += 1
            assert (len(idle), refused) == (FD_LIMIT - 64, attempts - (FD_LIMIT - 64))
            await idle.pop().close()
            for _ in range(100):  # until the daemon has let the closed one go
                try:
                    client = Client(await websockets.connect(url, compression=None))
                    break
                except websockets.InvalidStatus:
                    await asyncio.sleep(0.05)
            await client.join("alice")
            ack = await client.op("alice", "create", "r1", {"type": "rectangle"}, "c1")
            assert ack["status"] == "applied"
            await client.close()
        finally:
            for ws in idle:
                ws.transport.abort()
            proc.terminate()
            await proc.wait()

    asyncio.run(asyncio.wait_for(main(), 120))
