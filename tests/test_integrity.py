"""Integrity at the door, against a real daemon: whose op_id it is, which op_ids are
taken, and a base_seq the session has not reached."""

from __future__ import annotations

import pytest
from test_server import Client, joined, run_with_daemon

from svgx_sync.daemon.server import Daemon

BOX = {"type": "rectangle", "position": {"x": 1, "y": 2}}


def _has(welcome: dict, element_id: str) -> bool:
    return f'id="{element_id}"' in welcome["files"]["document.svg"]


def test_another_users_op_id_never_swallows_an_operation(tmp_path):
    async def body(daemon: Daemon) -> None:
        alice, bob = await joined(daemon, "alice", "bob")
        first = await alice.op("alice", "create", "r1", BOX, "v-1")
        assert (first["status"], first["seq"]) == ("applied", 1)
        deleted = await bob.op("bob", "delete", "r1", {}, "v-1")
        assert (deleted["status"], deleted["seq"]) == ("applied", 2)
        sent = await alice.expect(
            "operations", lambda m: any(o["seq"] == 2 for o in m["operations"])
        )
        assert [(o["operation_type"], o["user_id"]) for o in sent["operations"]] == [
            ("delete", "bob")
        ]
        # Each user's own resend is still answered with its first answer, changing nothing.
        assert await alice.op("alice", "create", "r1", BOX, "v-1") == first
        assert await bob.op("bob", "delete", "r1", {}, "v-1") == deleted
        carol = await Client.connect(daemon)
        welcome = await carol.join("carol")
        assert welcome["seq"] == 2 and not _has(welcome, "r1")
        for client in (alice, bob, carol):
            await client.close()

    run_with_daemon(tmp_path, body)


def test_op_ids_stay_their_users_across_a_restart(tmp_path):
    async def first(daemon: Daemon) -> None:
        (alice,) = await joined(daemon, "alice")
        await alice.op("alice", "create", "r1", BOX, "v-1")
        await alice.op("alice", "create", "r2", BOX, "v-2")
        await alice.close()

    async def second(daemon: Daemon) -> None:
        alice, bob = await joined(daemon, "alice", "bob")
        deleted = await bob.op("bob", "delete", "r1", {}, "v-1")
        assert (deleted["status"], deleted["seq"]) == ("applied", 3)
        again = await alice.op("alice", "create", "r2", BOX, "v-2")
        assert (again["status"], again["seq"]) == ("applied", 2)  # answered from the journal
        carol = await Client.connect(daemon)
        welcome = await carol.join("carol")
        assert welcome["seq"] == 3 and not _has(welcome, "r1") and _has(welcome, "r2")
        for client in (alice, bob, carol):
            await client.close()

    run_with_daemon(tmp_path, first)
    run_with_daemon(tmp_path, second)


ODD_OP_IDS = [
    "two\nlines",
    "newline-at-the-end\n",
    "carriage\rreturn",
    "nul\x00byte",
    "tab\there",
    "inner space",
    " padded",
    "padded ",
    "bell\x07",
    "bidi\u202eevil",
    "x" * 129,
]


@pytest.mark.parametrize("op_id", ODD_OP_IDS, ids=lambda s: repr(s)[:24])
def test_an_odd_op_id_is_refused_at_the_door_and_versions_still_work(tmp_path, op_id):
    async def body(daemon: Daemon) -> None:
        alice, bob = await joined(daemon, "alice", "bob")
        await alice.send(
            type="operation",
            operation_type="create",
            user_id="alice",
            element_id="r1",
            data=BOX,
            op_id=op_id,
        )
        refused = await alice.expect("error", lambda m: m.get("op_id") == op_id)
        assert refused["code"] == "invalid_operation" and "op_id" in refused["message"]
        # Nothing was taken in, and the session goes on for everyone.
        ok = await bob.op("bob", "create", "r2", BOX, "uuid:0b6f-4c1e_9.x/y+z=@~")
        assert (ok["status"], ok["seq"]) == ("applied", 1)
        await alice.send(type="version", action="create_version", created_by="alice")
        created = await alice.expect("version_created")
        await alice.send(type="version", action="history", limit=1)
        (latest,) = (await alice.expect("history"))["versions"]
        assert latest["version_id"] == created["version_id"]
        assert latest["op_ids"] == ["uuid:0b6f-4c1e_9.x/y+z=@~"]
        await alice.close()
        await bob.close()

    run_with_daemon(tmp_path, body)


def test_a_base_seq_ahead_of_the_session_is_refused_even_under_reject(tmp_path):
    async def body(daemon: Daemon) -> None:
        alice, bob = await joined(daemon, "alice", "bob")
        await alice.send(type="configure", strategy="reject", user_id="alice")
        await bob.expect("session_configured")
        await alice.op("alice", "create", "r1", BOX, "a-1")
        red = await alice.op("alice", "update", "r1", {"attributes": {"fill": "red"}}, "a-2")
        assert red["seq"] == 2
        await bob.send(
            type="operation",
            operation_type="update",
            user_id="bob",
            element_id="r1",
            data={"attributes": {"fill": "blue"}},
            op_id="b-1",
            base_seq=99,
        )
        refused = await bob.expect("error", lambda m: m.get("op_id") == "b-1")
        assert refused["code"] == "invalid_operation"
        assert "base_seq 99" in refused["message"] and "seq 2" in refused["message"]
        # A base the session has reached is judged as before: refused under reject.
        judged = await bob.op(
            "bob", "update", "r1", {"attributes": {"fill": "blue"}}, "b-2", base_seq=1
        )
        assert judged["status"] == "rejected"
        carol = await Client.connect(daemon)
        welcome = await carol.join("carol")
        assert welcome["seq"] == 2 and 'fill="red"' in welcome["files"]["document.svg"]
        for client in (alice, bob, carol):
            await client.close()

    run_with_daemon(tmp_path, body)
