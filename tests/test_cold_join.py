"""Joining a document nobody has open: its files are parsed in a worker thread, the
session is made of those very trees, and the joining connection's later frames are
read only once it has joined."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from test_server import Client, run_with_daemon

from svgx_sync.daemon.recovery import Recovery
from svgx_sync.daemon.server import Daemon
from svgx_sync.git.store import Store

PLAN = (
    b'<svg xmlns="http://www.w3.org/2000/svg">\n'
    + b"".join(b'  <rect id="r%d" x="%d" width="1"/>\n' % (i, i) for i in range(200))
    + b"</svg>\n"
)


def make_plan(tmp_path: Path) -> None:
    Store(tmp_path / "docs").create("plan").commit(
        {"document.svg": PLAN},
        user_id="u",
        username="U",
        description="Plan",
        update_workdir=True,
    )


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every parse ahead: the thread it ran in, and the trees it made (None: none)."""
    made: list[tuple[str, Any]] = []
    real = Recovery.parse_ahead

    def recorded(self: Recovery, name: str, branch: str) -> Any:
        parsed = real(self, name, branch)
        trees = None if parsed is None else {p: doc for p, (_, doc) in parsed.files.items()}
        made.append((threading.current_thread().name, trees))
        return parsed

    monkeypatch.setattr(Recovery, "parse_ahead", recorded)
    return made


def test_a_cold_join_takes_the_trees_parsed_in_a_worker_thread(
    tmp_path: Path, parses: list[tuple[str, Any]]
) -> None:
    make_plan(tmp_path)

    async def body(daemon: Daemon) -> None:
        alice = await Client.connect(daemon)
        welcome = await alice.join("alice", "plan")
        assert welcome["seq"] == 0 and 'id="r199"' in welcome["files"]["document.svg"]
        ((thread, trees),) = parses
        assert thread != threading.current_thread().name  # not the event loop's
        live = daemon.rooms["plan@main"].live
        # The session's tree is the one the thread made, not a parse of its own.
        assert live.files["document.svg"] is trees["document.svg"]
        bob = await Client.connect(daemon)
        await bob.join("bob", "plan")  # loaded: no parse ahead
        assert len(parses) == 1
        ack = await alice.op("alice", "update", "r7", {"attributes": {"fill": "red"}}, "o1")
        assert ack["seq"] == 1 and live.files["document.svg"].ids["r7"].get("fill") == "red"
        await alice.close()
        await bob.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)


def test_frames_sent_right_after_a_cold_join_are_handled_after_it(
    tmp_path: Path, parses: list[tuple[str, Any]]
) -> None:
    make_plan(tmp_path)

    async def body(daemon: Daemon) -> None:
        alice = await Client.connect(daemon)
        await alice.send(type="join", user_id="alice", username="Alice", session_id="plan")
        await alice.send(
            type="operation",
            operation_type="update",
            user_id="alice",
            element_id="r3",
            data={"attributes": {"fill": "blue"}},
            op_id="o1",
        )
        ack = await alice.expect("ack", lambda m: m["op_id"] == "o1")
        assert ack["status"] == "applied" and ack["seq"] == 1
        kinds = [m["type"] for m in alice.seen]
        assert kinds.index("welcome") < kinds.index("ack")
        assert len(parses) == 1
        await alice.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)


def test_joins_waiting_for_one_document_share_its_parse(
    tmp_path: Path, parses: list[tuple[str, Any]]
) -> None:
    make_plan(tmp_path)

    async def body(daemon: Daemon) -> None:
        clients = [await Client.connect(daemon) for _ in range(3)]
        for k, client in enumerate(clients):
            await client.send(type="join", user_id=f"u{k}", username="U", session_id="plan")
        welcomes = [await client.expect("welcome") for client in clients]
        assert {w["document"] for w in welcomes} == {"plan"}
        assert len(parses) == 1
        for client in clients:
            await client.close()

    run_with_daemon(tmp_path, body)


def test_a_cold_join_of_a_missing_branch_is_told_why(
    tmp_path: Path, parses: list[tuple[str, Any]]
) -> None:
    make_plan(tmp_path)

    async def body(daemon: Daemon) -> None:
        alice = await Client.connect(daemon)
        await alice.send(type="join", user_id="alice", username="A", session_id="plan@nope")
        error = await alice.expect("error")
        assert error["code"] == "not_found" and "nope" in error["message"], error
        assert [p for _t, p in parses] == [None]  # the parse found nothing; the load said why
        welcome = await alice.join("alice", "plan")  # the connection goes on
        assert welcome["document"] == "plan"
        await alice.close()

    run_with_daemon(tmp_path, body)


def test_a_restarted_daemons_cold_join_has_every_acknowledged_edit(tmp_path: Path) -> None:
    """Edits acknowledged by a daemon that then stopped are in the session the next cold
    join loads over the trees parsed ahead."""
    make_plan(tmp_path)

    async def first(daemon: Daemon) -> None:
        alice = await Client.connect(daemon)
        await alice.join("alice", "plan")
        await alice.op("alice", "update", "r9", {"attributes": {"fill": "green"}}, "o1")
        await alice.op("alice", "delete", "r10", {}, "o2")
        await alice.close()

    async def second(daemon: Daemon) -> None:
        alice = await Client.connect(daemon)
        welcome = await alice.join("alice", "plan")
        assert welcome["seq"] == 2
        doc = daemon.rooms["plan@main"].live.files["document.svg"]
        assert doc.ids["r9"].get("fill") == "green" and "r10" not in doc.ids
        await alice.close()

    run_with_daemon(tmp_path, first, write_debounce_ms=60_000)
    run_with_daemon(tmp_path, second)


def test_a_branch_that_moved_after_its_parse_is_loaded_as_it_is_now(tmp_path: Path) -> None:
    make_plan(tmp_path)

    async def body(daemon: Daemon) -> None:
        parsing = daemon.loader.parse_ahead("plan")
        assert parsing is not None
        parsed = await parsing
        assert parsed is not None
        trees = {path: doc for path, (_data, doc) in parsed.files.items()}
        moved = PLAN.replace(b'id="r5" x="5"', b'id="r5" x="55"')
        Store(tmp_path / "docs").open("plan").commit(
            {"document.svg": moved},
            user_id="u",
            username="U",
            description="Moved on",
            update_workdir=True,
        )
        room = daemon.loader.room_for("plan", parsed)
        doc = room.live.files["document.svg"]
        assert doc is not trees["document.svg"]
        assert doc.ids["r5"].get("x") == "55"

    run_with_daemon(tmp_path, body, watch_files=False)


def test_a_big_file_parsed_ahead_has_its_source_mapped_there(
    tmp_path: Path, parses: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first structural edit needs the file's source mapped: for a big file that is
    done in the worker thread too, not on the loop in the middle of someone's edit."""
    from svgx_sync.daemon import recovery

    make_plan(tmp_path)
    Store(tmp_path / "docs").create("note")
    monkeypatch.setattr(recovery, "MAPPED_AHEAD_FROM", len(PLAN))  # plan is big, note not

    async def body(daemon: Daemon) -> None:
        alice = await Client.connect(daemon)
        await alice.join("alice", "plan")
        bob = await Client.connect(daemon)
        await bob.join("bob", "note")
        (_, plan), (_, note) = parses
        assert plan["document.svg"]._spans is not None  # mapped before the loop had it
        assert note["document.svg"]._spans is None
        ack = await alice.op("alice", "delete", "r100", {}, "o1")
        assert ack["status"] == "applied"
        await alice.close()
        await bob.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)
