"""The daemon's rules over both transports: real sockets on 127.0.0.1 and the in-memory
pair (``Daemon.connect_local``). Each test runs once over each."""

from __future__ import annotations

import asyncio
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


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_a_frame_built_once_is_the_frame_websockets_would_send(size):
    from websockets.frames import Frame, Opcode

    from svgx_sync.daemon.transport import Frames, text_frame

    payload = b"x" * size
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    frames = Frames(["a", "bc"])
    assert frames.data == text_frame(b"a") + text_frame(b"bc")


def test_a_batch_reaches_a_compressed_and_a_plain_connection_alike(tmp_path):
    """With permessage-deflate, a connection that negotiated it gets the batch framed by
    websockets (compressed), one that did not gets the bytes framed once; both read the
    same messages, and the sender its ack after its operations."""
    import json

    import websockets

    async def body(daemon: Daemon) -> None:
        url = f"ws://127.0.0.1:{daemon.port}"
        deflate = await websockets.connect(url, compression="deflate")
        plain = await websockets.connect(url, compression=None)
        assert deflate.protocol.extensions and not plain.protocol.extensions
        for ws, user in ((deflate, "alice"), (plain, "bob")):
            await ws.send(json.dumps({"type": "join", "user_id": user, "session_id": "doc"}))
            assert json.loads(await ws.recv())["type"] == "welcome"
        for k in range(3):
            await plain.send(
                json.dumps(
                    {
                        "type": "operation",
                        "operation_type": "create",
                        "user_id": "bob",
                        "element_id": f"r{k}",
                        "data": {"type": "rectangle"},
                        "op_id": f"b{k}",
                    }
                )
            )

        async def read(ws: websockets.ClientConnection, kinds: set[str], want: int) -> list:
            got: list = []
            while sum(len(m.get("operations", [])) + (m["type"] == "ack") for m in got) < want:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["type"] in kinds:
                    got.append(message)
            return got

        seen = await read(deflate, {"operations"}, 3)
        assert [o["op_id"] for m in seen for o in m["operations"]] == ["b0", "b1", "b2"]
        mine = await read(plain, {"operations", "ack"}, 6)
        order = [(m["type"], m.get("op_id")) for m in mine if m["type"] == "ack"]
        assert order == [("ack", "b0"), ("ack", "b1"), ("ack", "b2")]
        acked = {m["op_id"] for m in mine if m["type"] == "ack"}
        broadcast_before = []
        for m in mine:
            if m["type"] == "operations":
                broadcast_before += [o["op_id"] for o in m["operations"]]
            else:
                assert m["op_id"] in broadcast_before  # an ack never comes before its operation
        assert acked == {"b0", "b1", "b2"}
        await deflate.close()
        await plain.close()

    run_with_daemon(tmp_path, body, compression=True)


def test_a_presence_change_waiting_goes_out_with_the_next_batch(tmp_path, connect):
    """A presence change is held back at most ``batch_timeout`` to be coalesced; when a
    batch goes out meanwhile, the change goes with it (the same write) and does not wait
    for the rest of that time. Here batch_timeout is 20 s: only the batch can bring it."""

    async def body(daemon: Daemon) -> None:
        a, b = await _two(connect, daemon)
        await a.send(type="activity", user_id="alice", status="away")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "c1")
        got = await b.expect("operations")
        assert [o["op_id"] for o in got["operations"]] == ["c1"]
        update = await b.expect("presence_update")
        assert b.seen.index(update) == b.seen.index(got) + 1  # right after the batch
        assert "alice" in {u["user_id"] for u in update["users"]}
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body, batch_timeout_ms=20_000)
