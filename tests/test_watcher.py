"""Other programs and git beside a running daemon: real files, the real git command,
a daemon on 127.0.0.1 port 0 and real websockets clients."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from samples import BASE
from wsclient import WsClient

from svgx_sync.config import Settings
from svgx_sync.daemon.server import Daemon
from svgx_sync.git.store import Store

TIMEOUT = 15.0


class Client(WsClient):
    """A test client that remembers everything it received."""

    timeout = TIMEOUT

    async def external_ops(self, count: int = 1) -> list[dict[str, Any]]:
        """The next ``count`` operations made by the ``external`` user."""
        got: list[dict[str, Any]] = []
        while len(got) < count:
            frame = await self.expect(
                "operations", lambda m: any(o["user_id"] == "external" for o in m["operations"])
            )
            got += [o for o in frame["operations"] if o["user_id"] == "external"]
        return got

    async def join(self, user: str, session: str = "doc") -> dict[str, Any]:
        await self.send(type="join", user_id=user, username=user.title(), session_id=session)
        return await self.expect("welcome")

    async def op(
        self, user: str, element: str, attributes: dict[str, str], op_id: str
    ) -> dict[str, Any]:
        await self.send(
            type="operation",
            operation_type="update",
            user_id=user,
            element_id=element,
            data={"attributes": attributes},
            op_id=op_id,
            timestamp=time.time(),
        )
        return await self.expect("ack", lambda m: m["op_id"] == op_id)


async def git_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real git command, off the event loop so the daemon keeps running."""
    return await asyncio.to_thread(
        subprocess.run, ["git", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


async def git(cwd: Path, *args: str) -> str:
    """:func:`git_run` that must succeed; its output."""
    done = await git_run(cwd, *args)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}{done.stdout}"
    return done.stdout


async def until(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Wait for a condition the test cannot be told about, under a timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def save(path: Path, data: bytes) -> None:
    """An editor's plain save (truncate and write, no rename)."""
    with open(path, "wb") as handle:
        handle.write(data)


def setup_root(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "docs"
    doc = Store(root).create("doc")
    doc.commit(
        {"document.svg": BASE},
        user_id="u-0",
        username="Setup",
        description="Start",
        update_workdir=True,
    )
    return root, doc.path


def run(tmp_path: Path, body: Callable[[Daemon, Path], Awaitable[None]], **settings: Any) -> None:
    root, folder = setup_root(tmp_path)
    serve(root, folder, body, **settings)


def serve(
    root: Path, folder: Path, body: Callable[[Daemon, Path], Awaitable[None]], **settings: Any
) -> None:
    """Run ``body`` against a daemon serving ``root`` (``folder`` is the document's)."""
    settings.setdefault("write_debounce_ms", 0)

    async def main() -> None:
        daemon = Daemon(Settings(root=root, port=0, **settings))
        await daemon.start()
        try:
            await body(daemon, folder)
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(main(), 90))


async def clients(daemon: Daemon, *users: str) -> list[Client]:
    out = []
    for user in users:
        c = await Client.connect(daemon)
        await c.join(user)
        out.append(c)
    return out


# -- other programs --------------------------------------------------------------------------


def test_an_external_save_reaches_every_client_as_operations(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        a, b = await clients(daemon, "alice", "bob")
        save(folder / "document.svg", BASE.replace(b'fill="red"', b'fill="blue"'))
        for c in (a, b):
            (op,) = await c.external_ops()
            assert op["element_id"] == "r" and op["data"]["attributes"] == {"fill": "blue"}
            assert op["seq"] == 1 and op["file"] == "document.svg"
        # Same elements: the daemon keeps the file's bytes and does not write it back.
        assert (folder / "document.svg").read_bytes() == BASE.replace(b"red", b"blue")

    run(tmp_path, body)


@pytest.mark.parametrize(
    ("strategy", "status", "fill"),
    [
        ("automatic", "auto_resolved", "blue"),
        ("manual", "open", "green"),
        ("last_write_wins", "resolved", "blue"),
        ("merge", "merged", "blue"),
        ("reject", "rejected", "green"),
    ],
)
def test_a_conflicting_external_save_follows_the_strategy(
    tmp_path: Path, strategy: str, status: str, fill: str
) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        # A live edit the file does not have yet (writes are far away)...
        ack = await a.op("alice", "r", {"fill": "green"}, "a1")
        assert ack["status"] == "applied"
        # ...and a save by another program of the same attribute.
        save(folder / "document.svg", BASE.replace(b'fill="red"', b'fill="blue"'))
        found = await a.expect("conflict_detected")
        (conflict,) = found["conflicts"]
        assert conflict["users"] == ["alice", "external"] and conflict["attribute"] == "fill"
        assert conflict["status"] == status
        live = daemon.rooms["doc@main"].live
        assert live.files["document.svg"].get("r").get("fill") == fill

    run(tmp_path, body, default_strategy=strategy, write_debounce_ms=60_000)


def test_our_own_writes_cause_no_echo(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        a, b = await clients(daemon, "alice", "bob")
        for n in range(5):
            await a.op("alice", "r", {"x": str(10 + n)}, f"a{n}")
        await until(lambda: b'x="14"' in (folder / "document.svg").read_bytes(), "the write")
        watcher = daemon.watcher
        seen = watcher.handled
        await until(lambda: watcher.handled > seen, "the watcher to see our write")
        save(
            folder / "document.svg", (folder / "document.svg").read_bytes().replace(b"red", b"blue")
        )
        (op,) = await b.external_ops()
        # The first and only external operation is the real save: seq 6 follows alice's 5.
        assert op["seq"] == 6 and op["data"]["attributes"] == {"fill": "blue"}
        assert not [
            o
            for m in b.seen
            if m["type"] == "operations"
            for o in m["operations"]
            if o["user_id"] == "external" and o["seq"] != 6
        ]

    run(tmp_path, body)


def test_a_half_written_file_is_ignored_until_complete(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        whole = BASE.replace(b'fill="red"', b'fill="blue"').replace(b'r="5"', b'r="9"')
        seen = daemon.watcher.handled
        save(folder / "document.svg", whole[: len(whole) // 2])
        await until(lambda: daemon.watcher.handled > seen, "the watcher to see the half file")
        live = daemon.rooms["doc@main"].live
        assert live.seq == 0 and live.files["document.svg"].get("r").get("fill") == "red"
        save(folder / "document.svg", whole)
        ops = await a.external_ops(2)
        assert {o["element_id"] for o in ops} == {"r", "c"}
        assert [o["seq"] for o in ops] == [1, 2]

    run(tmp_path, body)


def test_a_burst_of_saves_is_coalesced(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (_a,) = await clients(daemon, "alice")
        for n in range(20):
            save(folder / "document.svg", BASE.replace(b'x="1"', f'x="{n}"'.encode()))
        await until(
            lambda: daemon.rooms["doc@main"].live.files["document.svg"].get("r").get("x") == "19",
            "the last save",
        )
        assert daemon.rooms["doc@main"].live.seq < 20

    run(tmp_path, body)


def test_new_and_deleted_files(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        (folder / "icons").mkdir()
        save(folder / "icons" / "dot.svg", BASE)
        (added,) = await a.external_ops()
        assert (added["operation_type"], added["file"], added["seq"]) == (
            "file_add",
            "icons/dot.svg",
            1,
        )
        assert 'id="r"' in added["data"]["markup"]
        await a.send(type="version", action="create_version", created_by="alice", description="Dot")
        await a.expect("version_created")
        assert "icons/dot.svg" in await git(folder, "ls-tree", "-r", "--name-only", "HEAD")
        (folder / "icons" / "dot.svg").unlink()
        (deleted,) = await a.external_ops()
        assert (deleted["operation_type"], deleted["file"], deleted["seq"]) == (
            "file_delete",
            "icons/dot.svg",
            2,
        )
        assert "icons/dot.svg" not in daemon.rooms["doc@main"].live.files
        await a.send(
            type="version", action="create_version", created_by="alice", description="No dot"
        )
        await a.expect("version_created")
        assert "icons/dot.svg" not in await git(folder, "ls-tree", "-r", "--name-only", "HEAD")

    run(tmp_path, body)


def test_a_held_git_lock_is_waited_for_and_left_alone(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        lock = folder / ".git" / "index.lock"
        lock.write_bytes(b"")
        save(folder / "document.svg", BASE.replace(b"red", b"blue"))
        state = daemon.watcher.documents.states["doc"]
        await until(lambda: state.retry is not None, "the watcher to back off")
        # Meanwhile live work goes on and is acknowledged.
        assert (await a.op("alice", "c", {"r": "7"}, "a1"))["seq"] == 1
        assert (
            lock.exists()
            and daemon.rooms["doc@main"].live.files["document.svg"].get("r").get("fill") == "red"
        )
        lock.unlink()
        (op,) = await a.external_ops()
        assert op["data"]["attributes"] == {"fill": "blue"}

    run(tmp_path, body, write_debounce_ms=60_000)


# -- git in a terminal ---------------------------------------------------------------------


def test_a_terminal_commit_reaches_the_clients(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        a, b = await clients(daemon, "alice", "bob")
        save(folder / "document.svg", BASE.replace(b"red", b"blue"))
        await a.external_ops()
        await git(folder, "commit", "-q", "-am", "Blue from the terminal")
        head = (await git(folder, "rev-parse", "HEAD")).strip()
        for c in (a, b):
            notice = await c.expect("version_created", lambda m: m.get("source") == "git")
            assert notice["version_id"] == head and notice["created_by"] == "Cli Author"
            assert notice["description"] == "Blue from the terminal"

    run(tmp_path, body)


def test_terminal_checkouts_reach_the_clients(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        a, b = await clients(daemon, "alice", "bob")
        await git(folder, "checkout", "-q", "-b", "feature")
        for c in (a, b):
            welcome = await c.expect("welcome", lambda m: m["branch"] == "feature")
            assert 'fill="red"' in welcome["files"]["document.svg"]
            switched = await c.expect("branch_switched")
            assert (switched["branch"], switched["previous_branch"]) == ("feature", "main")
        # Work on the branch from the terminal, then go back to main.
        save(folder / "document.svg", BASE.replace(b"red", b"blue"))
        (op,) = await a.external_ops()
        assert op["data"]["attributes"] == {"fill": "blue"}
        await git(folder, "commit", "-q", "-am", "Blue on feature")
        await a.expect("version_created", lambda m: m.get("source") == "git")
        await git(folder, "checkout", "-q", "main")
        for c in (a, b):
            welcome = await c.expect("welcome", lambda m: m["branch"] == "main")
            assert 'fill="red"' in welcome["files"]["document.svg"]
            await c.expect("branch_switched", lambda m: m["branch"] == "main")
        assert b'fill="red"' in (folder / "document.svg").read_bytes()

    run(tmp_path, body)


def test_the_first_join_of_a_new_document_switches_no_branch(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        c = await Client.connect(daemon)
        looked = daemon.watcher.handled
        await c.join("alice", "plan")  # creates the document
        await until(lambda: daemon.watcher.handled > looked, "the watcher to see the new document")
        plan = folder.parent / "plan"
        await git(plan, "commit", "-q", "--allow-empty", "-m", "From the terminal")
        await c.expect("version_created", lambda m: m.get("source") == "git")
        moves = [m for m in c.seen if m["type"] in ("branch_switched", "head_moved")]
        assert moves == []

    run(tmp_path, body)


def test_a_terminal_revert_brings_the_previous_drawing_back(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        a, b = await clients(daemon, "alice", "bob")
        await a.op("alice", "r", {"fill": "blue"}, "a1")
        await a.send(
            type="version", action="create_version", description="Blue", created_by="alice"
        )
        await a.expect("version_created")
        await git(folder, "revert", "--no-edit", "HEAD")
        for c in (a, b):
            (op,) = await c.external_ops()
            assert op["element_id"] == "r" and op["data"]["attributes"] == {"fill": "red"}
            notice = await c.expect("version_created", lambda m: m.get("source") == "git")
            assert notice["description"].startswith('Revert "Blue"')
        live = daemon.rooms["doc@main"].live
        assert live.files["document.svg"].get("r").get("fill") == "red"
        assert await git(folder, "status", "--porcelain", "--untracked-files=no") == ""

    run(tmp_path, body)


def test_a_hook_can_ask_for_a_look_at_once(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        import urllib.request

        url = f"http://127.0.0.1:{daemon.port}/notify?doc=doc"
        seen = daemon.watcher.handled
        answer = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).status)
        assert answer == 202
        await until(lambda: daemon.watcher.handled > seen, "the watcher to look at the document")
        assert daemon.watcher.notified == 1

    run(tmp_path, body)


def test_serving_a_root_adopts_a_plain_folder_and_watches_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "art").mkdir(parents=True)
    (root / "art" / "logo.svg").write_bytes(BASE)

    async def main() -> None:
        daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=0))
        await daemon.start()
        try:
            assert (root / "art" / ".git").is_dir()
            c = await Client.connect(daemon)
            welcome = await c.join("alice", "art")
            assert welcome["files"]["logo.svg"] == BASE.decode()
            save(root / "art" / "logo.svg", BASE.replace(b"red", b"blue"))
            (op,) = await c.external_ops()
            assert op["file"] == "logo.svg"
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(main(), 60))
    assert (root / "art" / "logo.svg").read_bytes() == BASE.replace(b"red", b"blue")
    assert os.path.exists(root / "art" / ".git" / "HEAD")


def test_auto_versions_after_a_quiet_period(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        save(folder / "document.svg", BASE.replace(b"red", b"blue"))
        notice = await a.expect("version_created", lambda m: m.get("auto") is True)
        assert notice["description"] == "Auto-version: document.svg"
        log = await git(folder, "log", "-1", "--format=%s")
        assert log.strip() == "Auto-version: document.svg"

    run(tmp_path, body, auto_version_quiet_s=0.3)


def test_an_auto_version_holds_the_live_state_not_a_lagging_file(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        save(folder / "document.svg", BASE.replace(b"red", b"blue"))
        await a.external_ops()
        # A live edit whose file write is still far off when the quiet period ends.
        await a.op("alice", "c", {"r": "42"}, "a1")
        await a.expect("version_created", lambda m: m.get("auto") is True)
        assert b'r="42"' not in (folder / "document.svg").read_bytes()
        shown = await git(folder, "show", "HEAD:document.svg")
        assert 'fill="blue"' in shown and 'r="42"' in shown

    run(tmp_path, body, auto_version_quiet_s=1.0, write_debounce_ms=60_000)


def test_a_forced_reset_keeps_live_work_on_top(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        save(folder / "document.svg", BASE.replace(b'r="5"', b'r="9"'))
        await a.external_ops()
        await git(folder, "commit", "-q", "-am", "Bigger circle")
        await a.expect("version_created", lambda m: m.get("source") == "git")
        # Live work, written to the file but in no version yet...
        await a.op("alice", "r", {"fill": "green"}, "a1")
        await until(lambda: b"green" in (folder / "document.svg").read_bytes(), "the write")
        # ...and a forced reset to the version before the circle grew.
        await git(folder, "reset", "-q", "--hard", "HEAD~1")
        (op,) = await a.external_ops()
        assert op["element_id"] == "c" and op["data"]["attributes"] == {"r": "5"}
        await a.expect("head_moved")
        live = daemon.rooms["doc@main"].live.files["document.svg"]
        assert live.get("r").get("fill") == "green" and live.get("c").get("r") == "5"
        await until(lambda: b"green" in (folder / "document.svg").read_bytes(), "the write-back")

    run(tmp_path, body)


# -- restarts: what happened while the daemon was away -----------------------------------------


def attribute(svg: str, element: str, name: str) -> str | None:
    from lxml import etree

    for el in etree.fromstring(svg.encode()).iter():
        if el.get("id") == element:
            return el.get(name)
    return None


def test_an_edit_made_while_the_daemon_was_stopped_is_merged_not_overwritten(
    tmp_path: Path,
) -> None:
    root, folder = setup_root(tmp_path)
    file = folder / "document.svg"

    async def main() -> None:
        daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=0))
        await daemon.start()
        try:
            (a,) = await clients(daemon, "alice")
            await a.op("alice", "r", {"fill": "green"}, "a1")
        finally:
            await daemon.stop()
        # Another program edits the file while no daemon runs.
        assert b'fill="green"' in file.read_bytes()
        save(file, file.read_bytes().replace(b'r="5"', b'r="9"'))
        daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=0))
        await daemon.start()
        try:
            for user in ("bob", "carol"):
                c = await Client.connect(daemon)
                svg = (await c.join(user))["files"]["document.svg"]
                assert attribute(svg, "r", "fill") == "green" and attribute(svg, "c", "r") == "9"
            await until(
                lambda: b'fill="green"' in file.read_bytes() and b'r="9"' in file.read_bytes(),
                "the file to hold both",
            )
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


async def start_process(
    root: Path,
    log: Path,
    debounce_ms: int,
    env: dict[str, str] | None = None,
    *,
    timeout: float = TIMEOUT,
) -> tuple[asyncio.subprocess.Process, int]:
    """``svgx-sync serve`` as a process of its own (to be killed), and the port it took."""
    import sys

    with open(log, "ab") as stderr:  # the child has its own copy of the descriptor
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "svgx_sync",
            "serve",
            str(root),
            "--port",
            "0",
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "SVGX_SYNC_WRITE_DEBOUNCE_MS": str(debounce_ms), **(env or {})},
        )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), timeout)).decode()
    assert "listening on ws://" in line, line + log.read_text()
    return proc, int(line.split("ws://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])


async def kill_9(proc: asyncio.subprocess.Process) -> None:
    import signal

    proc.send_signal(signal.SIGKILL)
    await asyncio.wait_for(proc.wait(), TIMEOUT)


class Port:
    def __init__(self, port: int) -> None:
        self.port = port


def test_edits_made_after_a_kill_9_are_merged_with_written_and_unwritten_live_work(
    tmp_path: Path,
) -> None:
    root, folder = setup_root(tmp_path)
    file, log = folder / "document.svg", tmp_path / "daemon.log"

    async def join(port: int, user: str) -> tuple[Client, str]:
        c = await Client.connect(Port(port))  # type: ignore[arg-type]
        return c, (await c.join(user))["files"]["document.svg"]

    async def main() -> None:
        # 1. A live edit the daemon writes, then kill -9 and an edit on disk.
        proc, port = await start_process(root, log, 0)
        try:
            a, _ = await join(port, "alice")
            await a.op("alice", "r", {"fill": "green"}, "a1")
            await until(lambda: b'fill="green"' in file.read_bytes(), "the write")
        finally:
            await kill_9(proc)
        save(file, file.read_bytes().replace(b'r="5"', b'r="9"'))
        # 2. Both are there; a live edit that is journaled but never written, kill -9,
        #    and another edit on disk.
        proc, port = await start_process(root, log, 600_000)
        try:
            b, svg = await join(port, "bob")
            assert attribute(svg, "r", "fill") == "green" and attribute(svg, "c", "r") == "9"
            assert (await b.op("bob", "r", {"x": "30"}, "b1"))["status"] == "applied"
        finally:
            await kill_9(proc)
        assert b'x="30"' not in file.read_bytes()
        save(file, file.read_bytes().replace(b'cy="50"', b'cy="70"'))
        # 3. Everything is there, for every client that joins, and on disk.
        proc, port = await start_process(root, log, 0)
        try:
            for user in ("carol", "dave"):
                _, svg = await join(port, user)
                assert attribute(svg, "r", "fill") == "green" and attribute(svg, "r", "x") == "30"
                assert attribute(svg, "c", "r") == "9" and attribute(svg, "c", "cy") == "70"
            await until(lambda: b'x="30"' in file.read_bytes(), "the write of the merged state")
            on_disk = file.read_text()
            assert (
                attribute(on_disk, "c", "cy") == "70" and attribute(on_disk, "r", "fill") == "green"
            )
        finally:
            await kill_9(proc)

    asyncio.run(asyncio.wait_for(main(), 90))


def test_added_and_deleted_files_are_numbered_journaled_and_caught_up(tmp_path: Path) -> None:
    root, folder = setup_root(tmp_path)

    async def main() -> None:
        daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=0))
        await daemon.start()
        try:
            (a,) = await clients(daemon, "alice")
            save(folder / "extra.svg", BASE)
            (added,) = await a.external_ops()
            assert (added["operation_type"], added["seq"]) == ("file_add", 1)
            save(folder / "gone.svg", BASE)
            await a.external_ops()
            (folder / "gone.svg").unlink()
            (deleted,) = await a.external_ops()
            assert (deleted["operation_type"], deleted["file"], deleted["seq"]) == (
                "file_delete",
                "gone.svg",
                3,
            )
            # A client coming back after seq 0 is sent exactly what it missed.
            b = await Client.connect(daemon)
            await b.send(type="join", user_id="bob", session_id="doc", last_seq=0)
            welcome = await b.expect("welcome")
            assert welcome["catch_up"] is True
            assert [(o["operation_type"], o["file"]) for o in welcome["operations"]] == [
                ("file_add", "extra.svg"),
                ("file_add", "gone.svg"),
                ("file_delete", "gone.svg"),
            ]
        finally:
            await daemon.stop()
        daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=0))
        await daemon.start()
        try:
            c = await Client.connect(daemon)
            await c.send(type="join", user_id="carol", session_id="doc", last_seq=1)
            welcome = await c.expect("welcome")
            assert welcome["seq"] == 3 and [o["seq"] for o in welcome["operations"]] == [2, 3]
            live = daemon.rooms["doc@main"].live
            assert sorted(live.files) == ["document.svg", "extra.svg"]
            assert not (folder / "gone.svg").exists()
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


# -- forced git commands, in either order --------------------------------------------------------


@pytest.mark.parametrize("order", ["files-then-head", "head-then-files"])
def test_a_forced_rewind_keeps_unversioned_live_work_whatever_arrives_first(
    tmp_path: Path, order: str
) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        save(folder / "document.svg", BASE.replace(b'r="5"', b'r="9"'))
        await a.external_ops()
        await git(folder, "commit", "-q", "-am", "Bigger circle")
        await a.expect("version_created", lambda m: m.get("source") == "git")
        older = (await git(folder, "rev-parse", "HEAD~1")).strip()
        await a.op("alice", "r", {"fill": "green"}, "a1")
        await until(lambda: b"green" in (folder / "document.svg").read_bytes(), "the write")
        # What `git reset --hard` does, in two steps the watcher sees one at a time.
        if order == "files-then-head":
            await git(folder, "read-tree", "-u", "--reset", older)
            (op,) = await a.external_ops()
            await git(folder, "update-ref", "HEAD", older)
            await a.expect("head_moved")
        else:
            await git(folder, "update-ref", "HEAD", older)
            await a.expect("head_moved")
            await git(folder, "read-tree", "-u", "--reset", "HEAD")
            (op,) = await a.external_ops()
        assert op["element_id"] == "c" and op["data"]["attributes"] == {"r": "5"}
        live = daemon.rooms["doc@main"].live.files["document.svg"]
        assert live.get("r").get("fill") == "green" and live.get("c").get("r") == "5"
        await until(lambda: b"green" in (folder / "document.svg").read_bytes(), "the write-back")
        # The live state from before the forced change is kept on our own ref.
        kept = await git(folder, "show", "refs/svgx/kept/main:document.svg")
        assert 'fill="green"' in kept and 'r="9"' in kept

    run(tmp_path, body)


# -- the shipped hooks, run by git ---------------------------------------------------------------


def test_the_shipped_hooks_tell_the_daemon_about_a_terminal_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import stat
    import sys

    hooks = Path(__file__).resolve().parent.parent / "hooks"

    async def body(daemon: Daemon, folder: Path) -> None:
        for name in ("svgx-notify", "post-commit", "post-checkout", "post-merge"):
            target = folder / ".git" / "hooks" / name
            shutil.copy(hooks / name, target)
            target.chmod(target.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setenv("SVGX_SYNC_URL", f"http://127.0.0.1:{daemon.port}")
        monkeypatch.setenv("SVGX_SYNC_PYTHON", sys.executable)
        (a,) = await clients(daemon, "alice")
        save(folder / "document.svg", BASE.replace(b"red", b"blue"))
        await a.external_ops()
        assert daemon.watcher.notified == 0
        await git(folder, "commit", "-q", "-am", "Blue, with hooks")
        # post-commit has run when git returns: the daemon was asked at once.
        await until(lambda: daemon.watcher.notified >= 1, "the hook's /notify")
        notice = await a.expect("version_created", lambda m: m.get("source") == "git")
        assert notice["description"] == "Blue, with hooks"
        await git(folder, "checkout", "-q", "-b", "idea")
        await until(lambda: daemon.watcher.notified >= 2, "post-checkout's /notify")
        await a.expect("branch_switched", lambda m: m["branch"] == "idea")

    run(tmp_path, body)


def test_deleting_a_live_edited_file_on_disk_is_a_reported_conflict(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        save(folder / "extra.svg", BASE)
        await a.external_ops()
        await a.send(
            type="operation",
            operation_type="update",
            user_id="alice",
            element_id="r",
            data={"attributes": {"fill": "green"}},
            op_id="a1",
            file="extra.svg",
        )
        await a.expect("ack", lambda m: m["op_id"] == "a1")
        (folder / "extra.svg").unlink()
        found = await a.expect("conflict_detected")
        (conflict,) = found["conflicts"]
        assert (conflict["kind"], conflict["file"], conflict["status"]) == (
            "edit_delete",
            "extra.svg",
            "open",
        )
        # manual keeps the file until someone decides (the daemon writes it back).
        live = daemon.rooms["doc@main"].live
        assert live.files["extra.svg"].get("r").get("fill") == "green" and "extra.svg" in live.dirty
        assert not [
            o
            for m in a.seen
            if m["type"] == "operations"
            for o in m["operations"]
            if o["operation_type"] == "file_delete"
        ]

    # The live edit is not written yet when the file is deleted.
    run(tmp_path, body, default_strategy="manual", write_debounce_ms=60_000)
