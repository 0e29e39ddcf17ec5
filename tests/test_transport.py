"""The daemon's rules over both transports: real sockets on 127.0.0.1 and the in-memory
pair (``Daemon.connect_local``). Each test runs once over each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from test_server import Client, run_with_daemon

from svgx_sync.daemon.server import Daemon
from svgx_sync.daemon.transport import LocalClosed

Connect = Callable[[Daemon], Awaitable[Client]]


@pytest.fixture(params=["socket", "memory"])
def connect(request: pytest.FixtureRequest) -> Connect:
    """Opens a client over the transport under test."""

    async def over_socket(daemon: Daemon) -> Client:
        client: Client = await Client.connect(daemon)
        return client

    async def in_memory(daemon: Daemon) -> Client:
        return Client(daemon.connect_local())

    return over_socket if request.param == "socket" else in_memory


async def _two(connect: Connect, daemon: Daemon) -> tuple[Client, Client]:
    a, b = await connect(daemon), await connect(daemon)
    await a.join("alice")
    await b.join("bob")
    return a, b


def test_join_is_welcomed_with_the_document_and_the_users(tmp_path, connect):
    async def body(daemon: Daemon) -> None:
        a, b = await _two(connect, daemon)
        welcome = await (await connect(daemon)).join("carol")
        assert welcome["document"] == "doc" and welcome["seq"] == 0
        assert "<svg" in welcome["files"]["document.svg"]
        assert sorted(u["user_id"] for u in welcome["users"]) == ["alice", "bob", "carol"]
        assert daemon.health()["connections"] == 3
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body)


def test_an_operation_is_acked_to_its_sender_and_broadcast_to_the_others(tmp_path, connect):
    async def body(daemon: Daemon) -> None:
        a, b = await _two(connect, daemon)
        ack = await a.op("alice", "create", "r1", {"type": "rectangle"}, "c1")
        assert ack == {"type": "ack", "op_id": "c1", "seq": 1, "status": "applied"}
        got = await b.expect("operations")
        assert [(o["op_id"], o["seq"], o["user_id"]) for o in got["operations"]] == [
            ("c1", 1, "alice")
        ]
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body)


def test_an_error_goes_to_its_sender_alone_and_the_session_goes_on(tmp_path, connect):
    async def body(daemon: Daemon) -> None:
        a, b = await _two(connect, daemon)
        await a.send(
            type="operation",
            operation_type="update",
            user_id="alice",
            element_id="nowhere",
            data={"attributes": {"x": "1"}},
            op_id="bad",
        )
        error = await a.expect("error")
        assert error["code"] == "unknown_element" and error["op_id"] == "bad"
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "c1")
        # b receives in order: had the error reached it, it would come before this.
        await b.expect("operations", lambda m: m["operations"][0]["op_id"] == "c1")
        assert [m["type"] for m in b.seen if m["type"] == "error"] == []
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body)


def test_a_conflict_is_detected_told_and_resolved(tmp_path, connect):
    async def body(daemon: Daemon) -> None:
        a, b = await _two(connect, daemon)
        created = await a.op("alice", "create", "r1", {"type": "rectangle"}, "c1")
        await a.send(type="configure", strategy="manual", user_id="alice")
        await b.expect("session_configured")
        base = created["seq"]
        await a.op("alice", "update", "r1", {"attributes": {"x": "1"}}, "a-x", base_seq=base)
        ack = await b.op("bob", "update", "r1", {"attributes": {"x": "2"}}, "b-x", base_seq=base)
        assert ack["status"] == "pending"
        detected = await a.expect("conflict_detected")
        conflict = detected["conflicts"][0]["conflict_id"]
        await b.expect("conflict_detected")
        await a.send(
            type="resolve_conflict", conflict_id=conflict, resolution="theirs", resolved_by="alice"
        )
        for client in (a, b):
            resolved = await client.expect("conflict_resolved")
            assert (resolved["conflict_id"], resolved["resolution"]) == (conflict, "theirs")
            # bob's pending change is what the resolution applies, after the resolution
            await client.expect(
                "operations",
                lambda m: {"attributes": {"x": "2"}} in [o["data"] for o in m["operations"]],
            )
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body)


def test_a_local_client_sees_the_daemon_close_it(tmp_path):
    async def body(daemon: Daemon) -> None:
        local = daemon.connect_local()
        client = Client(local)
        await client.join("alice")
        for conn in list(daemon.conns):
            daemon.rt.close(conn, 1008, "enough")
        with pytest.raises(LocalClosed) as closed:
            for _ in range(100):  # what was sent before the close, then the close
                await local.recv()
        assert (closed.value.code, local.close_code) == (1008, 1008)

    run_with_daemon(tmp_path, body)
