"""The daemon over real sockets: a server on 127.0.0.1 port 0 and websockets clients."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from wsclient import WsClient

from svgx_sync.config import Settings
from svgx_sync.daemon.server import Daemon

TIMEOUT = 10.0


class Client(WsClient):
    """A test client that remembers everything it received."""

    timeout = TIMEOUT

    async def join(self, user: str, session: str = "doc", **extra: Any) -> dict[str, Any]:
        await self.send(
            type="join", user_id=user, username=user.title(), session_id=session, **extra
        )
        return await self.expect("welcome")

    async def op(
        self, user: str, kind: str, element: str, data: dict, op_id: str, **extra: Any
    ) -> dict[str, Any]:
        await self.send(
            type="operation",
            operation_type=kind,
            user_id=user,
            element_id=element,
            data=data,
            op_id=op_id,
            **extra,
        )
        return await self.expect("ack", lambda m: m["op_id"] == op_id)


async def joined(daemon: Daemon, *users: str) -> list[Client]:
    """One client per user, each connected and joined to ``doc``."""
    clients = []
    for user in users:
        client = await Client.connect(daemon)
        await client.join(user)
        clients.append(client)
    return clients


def run_with_daemon(
    tmp_path: Path, body: Callable[[Daemon], Awaitable[None]], **settings: Any
) -> None:
    async def main() -> None:
        daemon = Daemon(Settings(root=tmp_path / "docs", port=0, **settings))
        await daemon.start()
        try:
            await body(daemon)
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_join_creates_the_document_and_welcomes(tmp_path):
    async def body(daemon: Daemon) -> None:
        a = await Client.connect(daemon)
        welcome = await a.join("alice")
        assert welcome["document"] == "doc" and welcome["branch"] == "main"
        assert welcome["seq"] == 0 and "<svg" in welcome["files"]["document.svg"]
        assert welcome["svg"] == welcome["files"]["document.svg"]
        assert len(welcome["version_id"]) == 40
        assert [u["user_id"] for u in welcome["users"]] == ["alice"]
        assert welcome["conflicts"] == []
        await a.close()

    run_with_daemon(tmp_path, body)
    assert (tmp_path / "docs" / "doc" / ".git").is_dir()


def test_operations_propagate_in_seq_order_to_everyone(tmp_path):
    async def body(daemon: Daemon) -> None:
        clients = await joined(daemon, "u0", "u1", "u2")
        ack = await clients[0].op(
            "u0", "create", "r1", {"type": "rectangle", "position": {"x": 1, "y": 2}}, "o1"
        )
        assert ack == {"type": "ack", "op_id": "o1", "seq": 1, "status": "applied"}
        for i, c in enumerate(clients):
            await c.send(
                type="operation",
                operation_type="move",
                user_id=f"u{i}",
                element_id="r1",
                data={"dx": 1, "dy": 0},
                op_id=f"m{i}",
            )
        for c in clients:
            got: list[dict] = []
            while len(got) < 4:
                got += (await c.expect("operations"))["operations"]
            assert [o["seq"] for o in got] == [1, 2, 3, 4]
            assert {o["op_id"] for o in got[1:]} == {"m0", "m1", "m2"}
            assert got[0]["user_id"] == "u0"
        for c in clients:
            await c.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)
    text = (tmp_path / "docs" / "doc" / "document.svg").read_text()
    assert 'id="r1"' in text and 'x="4"' in text


def test_presence_is_coalesced_and_shows_cursor_and_selection(tmp_path):
    async def body(daemon: Daemon) -> None:
        a, b = await joined(daemon, "alice", "bob")
        for i in range(20):
            await a.send(
                type="activity",
                user_id="alice",
                status="editing",
                current_element="r1",
                cursor_position={"x": i, "y": 2 * i},
                selected_elements=["r1"],
            )
        update = await b.expect(
            "presence_update",
            lambda m: any(
                u["user_id"] == "alice" and u["cursor_position"] == {"x": 19, "y": 38}
                for u in m["users"]
            ),
        )
        alice = next(u for u in update["users"] if u["user_id"] == "alice")
        assert alice["status"] == "editing" and alice["selected_elements"] == ["r1"]
        assert set(alice) >= {"username", "current_element", "last_activity"}
        updates = [m for m in b.seen if m["type"] == "presence_update"]
        assert len(updates) < 20  # coalesced, not one per activity message
        await a.close()
        gone = await b.expect(
            "presence_update",
            lambda m: any(u["user_id"] == "alice" and u["status"] == "offline" for u in m["users"]),
        )
        assert gone
        await b.close()

    run_with_daemon(tmp_path, body)


def test_versions_over_the_protocol_are_git_commits(tmp_path, git):
    async def body(daemon: Daemon) -> None:
        a = await Client.connect(daemon)
        welcome = await a.join("alice")
        first = welcome["version_id"]
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")
        await a.send(
            type="version", action="create_version", created_by="alice", description="Add a box"
        )
        created = await a.expect("version_created")
        assert created["description"] == "Add a box" and created["created_by"] == "alice"
        await a.send(type="version", action="history")
        history = await a.expect("history")
        assert [v["version_id"] for v in history["versions"]][:2] == [created["version_id"], first]
        assert history["versions"][0]["op_ids"] == ["o1"]
        await a.send(type="version", action="create_branch", branch="idea")
        assert (await a.expect("branch_created"))["branch"] == "idea"
        await a.send(type="version", action="list_branches")
        names = [b["name"] for b in (await a.expect("branches"))["branches"]]
        assert names == ["idea", "main"]
        await a.send(type="version", action="revert", version_id=first, created_by="alice")
        reverted = await a.expect("version_reverted")
        assert 'id="r1"' not in reverted["files"]["document.svg"]
        b = await Client.connect(daemon)
        assert 'id="r1"' not in (await b.join("bob"))["files"]["document.svg"]
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body)
    repo = tmp_path / "docs" / "doc"
    log = git(repo, "log", "--format=%s|%an", "main")
    assert log.splitlines()[1] == "Add a box|Alice"
    assert "Revert to" in log.splitlines()[0]
    assert git(repo, "status", "--porcelain") == ""
    git(repo, "fsck", "--strict")


def test_branches_are_separate_live_sessions(tmp_path, git):
    async def body(daemon: Daemon) -> None:
        a = await Client.connect(daemon)
        await a.join("alice")
        await a.send(type="version", action="create_branch", branch="idea")
        await a.expect("branch_created")
        b = await Client.connect(daemon)
        welcome = await b.join("bob", "doc@idea")
        assert welcome["branch"] == "idea"
        await b.op("bob", "create", "only-idea", {"type": "circle"}, "b1")
        await a.op("alice", "create", "only-main", {"type": "rectangle"}, "a1")
        await a.send(type="version", action="switch_branch", branch="idea")
        moved = await a.expect("welcome", lambda m: m["branch"] == "idea")
        assert "only-idea" in moved["files"]["document.svg"]
        assert "only-main" not in moved["files"]["document.svg"]
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)
    text = (tmp_path / "docs" / "doc" / "document.svg").read_text()
    assert "only-main" in text and "only-idea" not in text  # the working tree is main's
    repo = tmp_path / "docs" / "doc"
    assert "only-idea" in git(repo, "show", "refs/svgx/live/idea:document.svg")


def test_reconnect_with_last_seq_gets_just_the_missed_operations(tmp_path):
    async def body(daemon: Daemon) -> None:
        a, b = await joined(daemon, "alice", "bob")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")
        await b.expect("operations")
        await b.close()
        for i in range(3):
            await a.op("alice", "move", "r1", {"dx": 1, "dy": 1}, f"m{i}")
        b = await Client.connect(daemon)
        welcome = await b.join("bob", last_seq=1)
        assert welcome["catch_up"] is True and "files" not in welcome
        assert [o["op_id"] for o in welcome["operations"]] == ["m0", "m1", "m2"]
        assert welcome["seq"] == 4
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body)


def test_a_resent_op_id_is_applied_once_and_acknowledged_again(tmp_path):
    async def body(daemon: Daemon) -> None:
        (a,) = await joined(daemon, "alice")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")
        first = await a.op("alice", "move", "r1", {"dx": 5, "dy": 0}, "dup")
        await a.close()
        a = await Client.connect(daemon)
        await a.join("alice", last_seq=2)
        again = await a.op("alice", "move", "r1", {"dx": 5, "dy": 0}, "dup")
        assert again == first
        await a.send(type="version", action="history")
        b = await Client.connect(daemon)
        welcome = await b.join("bob")
        assert welcome["seq"] == 2 and 'x="5"' in welcome["files"]["document.svg"]
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body)


def test_conflicts_are_detected_and_resolved_over_the_protocol(tmp_path):
    async def body(daemon: Daemon) -> None:
        a, b = await joined(daemon, "alice", "bob")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")
        await a.op("alice", "update", "r1", {"attributes": {"fill": "red"}}, "a1", base_seq=1)
        ack = await b.op("bob", "update", "r1", {"attributes": {"fill": "blue"}}, "b1", base_seq=1)
        assert ack["status"] == "applied" and ack["conflict_ids"]
        detected = await a.expect("conflict_detected")
        conflict_id = detected["conflicts"][0]["conflict_id"]
        await a.send(
            type="resolve_conflict", conflict_id=conflict_id, resolution="ours", resolved_by="alice"
        )
        resolved = await b.expect("conflict_resolved")
        assert resolved["conflict_id"] == conflict_id
        await a.send(
            type="resolve_conflict",
            conflict_id="conflict_404",
            resolution="ours",
            resolved_by="alice",
        )
        assert (await a.expect("error"))["code"] == "not_found"
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body)


def test_bad_input_is_reported_and_the_session_carries_on(tmp_path):
    async def body(daemon: Daemon) -> None:
        a, b = await Client.connect(daemon), await Client.connect(daemon)
        await a.send(
            type="operation", operation_type="create", user_id="x", element_id="e", data={}
        )
        assert (await a.expect("error"))["code"] == "protocol_error"  # not joined
        await a.join("alice")
        await b.join("bob")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")
        await a.ws.send("{not json")
        assert (await a.expect("error"))["code"] == "protocol_error"
        await a.send(type="teleport")
        assert "unknown message type" in (await a.expect("error"))["message"]
        await a.send(
            type="operation",
            operation_type="update",
            user_id="alice",
            element_id="ghost",
            data={"attributes": {"x": "1"}},
            op_id="g1",
        )
        err = await a.expect("error")
        assert (err["code"], err["op_id"]) == ("unknown_element", "g1")
        await a.send(
            type="operation", operation_type="explode", user_id="alice", element_id="r1", op_id="g2"
        )
        assert (await a.expect("error"))["code"] == "invalid_operation"
        await a.ws.send(b"\x00binary")
        assert (await a.expect("error"))["code"] == "protocol_error"
        c = await Client.connect(daemon)
        await c.send(type="join", user_id="c", session_id="../etc")
        assert (await c.expect("error"))["code"] == "invalid_name"
        await c.send(type="join", user_id="c", session_id="doc@no-such-branch")
        assert (await c.expect("error"))["code"] == "not_found"
        big = await Client.connect(daemon)
        await big.ws.send("x" * 5000)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(big.ws.recv(), TIMEOUT)
        assert closed.value.rcvd.code == 1009
        # Everyone else is still fine and nothing acknowledged was lost.
        assert (await b.op("bob", "move", "r1", {"dx": 1, "dy": 0}, "b1"))["seq"] == 2
        welcome = await (await Client.connect(daemon)).join("dora")
        assert welcome["seq"] == 2 and 'id="r1"' in welcome["files"]["document.svg"]
        for x in (a, b, c):
            await x.close()

    run_with_daemon(tmp_path, body, max_message_bytes=4096)


def test_missing_documents_are_refused_when_creation_is_off(tmp_path):
    async def body(daemon: Daemon) -> None:
        a = await Client.connect(daemon)
        await a.send(type="join", user_id="a", session_id="nothing")
        assert (await a.expect("error"))["code"] == "not_found"
        await a.close()

    run_with_daemon(tmp_path, body, create_missing_documents=False)


def test_tokens_are_checked_at_join(tmp_path):
    async def body(daemon: Daemon) -> None:
        a = await Client.connect(daemon)
        await a.send(type="join", user_id="a", session_id="doc", token="wrong")
        assert (await a.expect("error"))["code"] == "unauthorized"
        b = await Client.connect(daemon)
        assert (await b.join("b", token="s3cret"))["seq"] == 0
        await b.close()

    run_with_daemon(tmp_path, body, tokens=("s3cret",))


def test_healthz_and_metrics_over_http(tmp_path):
    async def body(daemon: Daemon) -> None:
        (a,) = await joined(daemon, "alice")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")

        def fetch(path: str) -> tuple[str, str]:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{daemon.port}{path}", timeout=TIMEOUT
            ) as r:
                return r.headers["Content-Type"], r.read().decode()

        kind, text = await asyncio.to_thread(fetch, "/healthz")
        health = json.loads(text)
        assert kind == "application/json" and health["status"] == "ok"
        assert health["total_operations"] == 1 and health["documents"] == ["doc"]
        assert health["sessions"] == [
            {
                "session_id": "doc@main",
                "document": "doc",
                "branch": "main",
                "seq": 1,
                "clients": 1,
                "open_conflicts": 0,
                "users": [{"user_id": "alice", "username": "Alice", "status": "editing"}],
            }
        ]
        kind, text = await asyncio.to_thread(fetch, "/metrics")
        assert kind.startswith("text/plain") and "svgx_operations_total 1.0" in text
        # Each stage of an operation's way out has its own histogram: every journal
        # fsync is timed once, every delivery's writes to the clients once.
        samples = dict(
            line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#")
        )
        fsyncs = float(samples["svgx_journal_fsyncs_total"])
        assert fsyncs >= 1
        assert float(samples["svgx_journal_sync_seconds_count"]) == fsyncs
        assert float(samples["svgx_fan_out_seconds_count"]) >= 1
        assert 'svgx_fan_out_seconds_bucket{le="0.0001"}' in samples
        await a.close()

    run_with_daemon(tmp_path, body)


def test_status_lists_documents_sessions_and_their_users(tmp_path, capsys):
    from svgx_sync.cli import main

    async def body(daemon: Daemon) -> None:
        a, b = await joined(daemon, "alice", "bob")
        c = await Client.connect(daemon)
        await c.join("carol", "other@main")
        await c.send(type="leave")
        await c.expect("left")
        await c.send(type="status")
        status = await c.expect("status")
        assert status["documents"] == ["doc", "other"]
        sessions = {s["session_id"]: s for s in status["sessions"]}
        assert [
            (u["user_id"], u["username"], u["status"]) for u in sessions["doc@main"]["users"]
        ] == [
            ("alice", "Alice", "online"),
            ("bob", "Bob", "online"),
        ]
        assert sessions["other@main"]["users"] == [
            {"user_id": "carol", "username": "Carol", "status": "offline"}
        ]
        code = await asyncio.to_thread(main, ["status", "--port", str(daemon.port)])
        assert code == 0
        for client in (a, b, c):
            await client.close()

    run_with_daemon(tmp_path, body)
    out = capsys.readouterr().out
    assert "documents: doc, other" in out
    assert "doc@main: seq 0, 2 client(s), 0 open conflict(s)" in out
    assert "    alice (Alice): online" in out and "    bob (Bob): online" in out
    assert "    carol (Carol): offline" in out


def test_clean_stop_writes_files_and_checkpoints(tmp_path, git):
    async def body(daemon: Daemon) -> None:
        (a,) = await joined(daemon, "alice")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")
        await a.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=60_000)
    repo = tmp_path / "docs" / "doc"
    assert 'id="r1"' in (repo / "document.svg").read_text()
    message = git(repo, "log", "-1", "--format=%B", "refs/svgx/live/main")
    assert "Svgx-Seq: 1" in message
    assert git(repo, "log", "--format=%s", "main").splitlines() == ["Create document"]
    git(repo, "fsck", "--strict")


def _two_branches_editing_r1(main_attrs: dict, idea_attrs: dict):
    """alice on main and bob on idea, each versioning an edit of r1."""

    async def setup(daemon: Daemon) -> tuple[Client, Client]:
        a = await Client.connect(daemon)
        await a.join("alice")
        await a.op(
            "alice", "create", "r1", {"type": "rectangle", "attributes": {"x": "0", "y": "0"}}, "a0"
        )
        await a.send(type="version", action="create_version", created_by="alice", description="Box")
        await a.expect("version_created")
        await a.send(type="version", action="create_branch", branch="idea")
        await a.expect("branch_created")
        b = await Client.connect(daemon)
        await b.join("bob", "doc@idea")
        await b.op("bob", "update", "r1", {"attributes": idea_attrs}, "b1")
        await b.send(type="version", action="create_version", created_by="bob", description="Idea")
        await b.expect("version_created")
        await a.op("alice", "update", "r1", {"attributes": main_attrs}, "a1")
        return a, b

    return setup


def test_a_clean_branch_merge_is_broadcast_and_committed_with_two_parents(tmp_path, git):
    setup = _two_branches_editing_r1({"y": "7"}, {"x": "5"})

    async def body(daemon: Daemon) -> None:
        a, b = await setup(daemon)
        watcher = await Client.connect(daemon)
        await watcher.join("carol")
        await a.send(type="version", action="merge_branch", branch="idea", created_by="alice")
        merged = await a.expect("branch_merged")
        assert merged["version_id"]
        ops = await watcher.expect(
            "operations", lambda m: any(o["element_id"] == "r1" for o in m["operations"])
        )
        assert ops["operations"][0]["data"]["attributes"] == {"x": "5"}
        for c in (a, b, watcher):
            await c.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)
    repo = tmp_path / "docs" / "doc"
    parents = git(repo, "log", "-1", "--format=%P", "main").split()
    assert len(parents) == 2 and parents[1] == git(repo, "rev-parse", "idea").strip()
    shown = git(repo, "show", "main:document.svg")
    assert 'x="5"' in shown and 'y="7"' in shown
    git(repo, "fsck", "--strict")


def test_a_conflicting_branch_merge_waits_for_resolution_or_aborts(tmp_path, git):
    setup = _two_branches_editing_r1({"x": "7"}, {"x": "5"})

    async def body(daemon: Daemon) -> None:
        a, b = await setup(daemon)
        await a.send(type="version", action="merge_branch", branch="idea", created_by="alice")
        progress = await a.expect("merge_in_progress")
        (conflict,) = progress["conflicts"]
        assert (conflict["element_id"], conflict["attribute"]) == ("r1", "x")
        assert (conflict["ours"], conflict["theirs"]) == ("7", "5")
        await a.expect("conflict_detected")
        await a.send(type="version", action="complete_merge", created_by="alice")
        refused = await a.expect("error")
        assert conflict["conflict_id"] in refused["message"]
        # Abort puts the live state back; a second merge is then resolved with theirs.
        await a.send(type="version", action="abort_merge", created_by="alice")
        assert (
            'x="7"'
            in (await a.expect("merge_aborted", lambda m: "files" in m))["files"]["document.svg"]
        )
        await a.send(type="version", action="merge_branch", branch="idea", created_by="alice")
        (conflict,) = (await a.expect("merge_in_progress"))["conflicts"]
        await a.send(
            type="resolve_conflict",
            conflict_id=conflict["conflict_id"],
            resolution="theirs",
            resolved_by="alice",
        )
        await a.expect("conflict_resolved")
        await a.send(type="version", action="complete_merge", created_by="alice")
        assert (await a.expect("branch_merged"))["version_id"]
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)
    repo = tmp_path / "docs" / "doc"
    assert len(git(repo, "log", "-1", "--format=%P", "main").split()) == 2
    assert 'x="5"' in git(repo, "show", "main:document.svg")


def test_diff_between_versions_and_against_the_live_state(tmp_path):
    async def body(daemon: Daemon) -> None:
        a = await Client.connect(daemon)
        first = (await a.join("alice"))["version_id"]
        await a.op(
            "alice", "create", "r1", {"type": "rectangle", "position": {"x": 1, "y": 2}}, "o1"
        )
        await a.send(type="version", action="create_version", created_by="alice", description="Box")
        second = (await a.expect("version_created"))["version_id"]
        await a.op("alice", "update", "r1", {"attributes": {"fill": "red"}}, "o2")  # live only

        await a.send(
            type="version", action="diff", version_id=first, to_version=second, request_id="d1"
        )
        diff = await a.expect("diff")
        assert diff["request_id"] == "d1" and diff["from_version"] == first
        assert diff["to_version"] == second
        assert [(c["operation_type"], c["element_id"]) for c in diff["changes"]] == [
            ("create", "r1")
        ]
        assert diff["changes"][0]["file"] == "document.svg"

        # without to_version: against the working tree, which shows the live edit
        await a.send(type="version", action="diff", from_version=second)
        live = await a.expect("diff", lambda m: m["to_version"] is None)
        assert [(c["operation_type"], c["element_id"]) for c in live["changes"]] == [
            ("update", "r1")
        ]
        assert live["changes"][0]["data"]["attributes"]["fill"] == "red"

        await a.send(type="version", action="diff")
        assert (await a.expect("error"))["code"] == "protocol_error"
        await a.send(type="version", action="diff", version_id="no-such-version")
        assert (await a.expect("error"))["code"] == "not_found"
        await a.close()

    run_with_daemon(tmp_path, body)


def test_an_idle_session_is_unloaded_and_reloaded_on_the_next_join(tmp_path, git):
    async def body(daemon: Daemon) -> None:
        (a,) = await joined(daemon, "alice")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")
        assert daemon.unload_idle(float("inf")) == []  # a client is still there
        await a.close()

        async def unloaded() -> None:
            while daemon.rooms:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(unloaded(), TIMEOUT)  # the ticker's doing
        repo = tmp_path / "docs" / "doc"
        checkpoint = git(repo, "log", "-1", "--format=%B", "refs/svgx/live/main")
        assert "Svgx-Seq: 1" in checkpoint
        assert 'id="r1"' in (repo / "document.svg").read_text()

        b = await Client.connect(daemon)
        welcome = await b.join("bob", last_seq=1)  # reloaded: catch-up still works
        assert welcome["seq"] == 1 and welcome["catch_up"] and welcome["operations"] == []
        ack = await b.op("bob", "update", "r1", {"attributes": {"fill": "red"}}, "o2")
        assert ack["seq"] == 2
        await b.close()
        (c,) = await joined(daemon, "alice")
        again = await c.op("alice", "create", "r1", {"type": "rectangle"}, "o1")  # op_id kept
        assert again["seq"] == 1
        await c.close()

    run_with_daemon(tmp_path, body, idle_unload_s=0.2)


def test_fsync_in_a_worker_thread_keeps_order_and_acks(tmp_path):
    async def body(daemon: Daemon) -> None:
        a, b = await joined(daemon, "alice", "bob")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "c1")
        for i in range(30):  # sent without waiting: batches form while an fsync runs
            await a.send(
                type="operation",
                operation_type="update",
                user_id="alice",
                element_id="r1",
                data={"attributes": {"x": str(i)}},
                op_id=f"u{i}",
            )
        acks = [await a.expect("ack", lambda m, i=i: m["op_id"] == f"u{i}") for i in range(30)]
        assert [ack["seq"] for ack in acks] == list(range(2, 32))
        seen: list[int] = []
        while len(seen) < 31:
            seen += [op["seq"] for op in (await b.expect("operations"))["operations"]]
        assert seen == list(range(1, 32))
        # a join takes over the batch in flight and flushes on the loop
        c = await Client.connect(daemon)
        assert (await c.join("carol"))["seq"] == 31
        for client in (a, b, c):
            await client.close()

    run_with_daemon(tmp_path, body, fsync_in_thread=True)


def test_presence_timeouts_come_from_the_rooms_own_timer(tmp_path):
    async def body(daemon: Daemon) -> None:
        a, b = await joined(daemon, "alice", "bob")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")

        def status_of(user: str, status: str) -> Callable[[dict[str, Any]], bool]:
            return lambda m: any(u["user_id"] == user and u["status"] == status for u in m["users"])

        await b.expect("presence_update", status_of("alice", "editing"))
        await b.expect("presence_update", status_of("alice", "online"))  # editing ended
        await b.expect("presence_update", status_of("alice", "away"))  # then silence
        await a.send(type="activity", user_id="alice", cursor_position={"x": 1, "y": 1})
        await b.expect("presence_update", status_of("alice", "online"))
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body, editing_window_s=0.3, activity_timeout_s=0.8)


def test_a_changed_session_is_checkpointed_after_the_interval(tmp_path, git):
    async def body(daemon: Daemon) -> None:
        (a,) = await joined(daemon, "alice")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")
        repo = tmp_path / "docs" / "doc"

        async def checkpointed(seq: int) -> None:
            while f"Svgx-Seq: {seq}" not in git(
                repo, "log", "-1", "--format=%B", "refs/svgx/live/main", "--", check=False
            ):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(checkpointed(1), TIMEOUT)  # the client is still there
        await a.op("alice", "update", "r1", {"attributes": {"fill": "red"}}, "o2")
        await asyncio.wait_for(checkpointed(2), TIMEOUT)  # and again after the next change
        assert daemon.rooms["doc@main"].checkpoint_handle is None  # nothing changed since
        await a.close()

    run_with_daemon(tmp_path, body, checkpoint_interval_s=0.3, checkpoint_ops=10_000)
