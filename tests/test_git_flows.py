"""git's conflict and checkout flows beside a running daemon, as a terminal user runs them:
the real ``git`` and ``svgx-sync`` commands, a daemon on 127.0.0.1 port 0, real clients."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from samples import BASE
from test_watcher import Client, clients, git, run, save, setup_root, until

from svgx_sync.config import Settings
from svgx_sync.daemon.server import Daemon


async def svgx(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``svgx-sync`` command, off the event loop."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "svgx_sync", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


async def status(folder: Path) -> str:
    return await git(folder, "status", "--porcelain", "--untracked-files=no")


# -- a true conflict arriving by git pull ------------------------------------------------------


@pytest.mark.parametrize("marks", ["merge-driver", "git-text-markers"])
def test_a_pulled_conflict_resolved_in_the_terminal_stays_resolved(
    tmp_path: Path, marks: str
) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        if marks == "merge-driver":
            done = await svgx(folder, "git-setup")
            assert done.returncode == 0, done.stderr
        else:
            # As in a repository the driver was never set up in: git's line merge.
            (folder / ".git" / "info").mkdir(exist_ok=True)
            (folder / ".git" / "info" / "attributes").write_text("*.svg merge=text\n")
        upstream = folder.parent / "upstream"
        await git(folder.parent, "clone", "-q", str(folder), str(upstream))
        (a, b) = await clients(daemon, "alice", "bob")
        # Upstream makes the circle green; here the same circle is made blue.
        (upstream / "document.svg").write_bytes(BASE.replace(b'r="5"', b'r="5" fill="green"'))
        await git(upstream, "commit", "-q", "-am", "Green circle")
        await a.op("alice", "c", {"fill": "blue"}, "a1")
        await until(lambda: b"blue" in (folder / "document.svg").read_bytes(), "the write")
        await git(folder, "commit", "-q", "-am", "Blue circle")
        await a.expect("version_created", lambda m: m.get("source") == "git")

        pulled = await asyncio.to_thread(
            subprocess.run,
            ["git", "pull", "--no-rebase", "-q", str(upstream), "main"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        assert pulled.returncode != 0, "the pull should stop on a conflict"
        for c in (a, b):
            pending = await c.expect("git_conflict_pending")
            assert pending["file"] == "document.svg"
        # Live work goes on meanwhile, and the file with git's conflict is left alone.
        await a.op("alice", "r", {"x": "7"}, "a2")
        conflicted = (folder / "document.svg").read_bytes()
        live = daemon.rooms["doc@main"].live
        assert live.files["document.svg"].get("c").get("fill") == "blue"
        assert "svgx-conflicts" not in live.texts()["document.svg"]
        assert "<<<<<<<" not in live.texts()["document.svg"]
        # Someone joining meanwhile is told too.
        (carol,) = await clients(daemon, "carol")
        assert (await carol.expect("git_conflict_pending"))["file"] == "document.svg"

        # The terminal user settles it.
        if marks == "merge-driver":
            done = await svgx(folder, "conflicts")
            assert done.returncode == 1 and "document.svg" in done.stdout
            done = await svgx(folder, "resolve", "document.svg", "--all", "--theirs")
            assert done.returncode == 0, done.stderr
        else:
            assert b"<<<<<<<" in conflicted
            await git(folder, "checkout", "--theirs", "document.svg")
            await git(folder, "add", "document.svg")
        await git(folder, "commit", "-q", "--no-edit")
        for c in (a, b):
            settled = await c.expect("git_conflict_resolved")
            assert settled["file"] == "document.svg"
        await until(
            lambda: live.files["document.svg"].get("c").get("fill") == "green",
            "the resolved file in the live state",
        )
        # The live edit made during the merge is kept and written; nothing of the conflict.
        await until(lambda: b'x="7"' in (folder / "document.svg").read_bytes(), "the write-back")
        text = (folder / "document.svg").read_bytes()
        assert b"svgx-conflict" not in text and b"<<<<<<<" not in text
        assert b'fill="green"' in text
        assert "svgx-conflict" not in live.texts()["document.svg"]
        assert (await svgx(folder, "conflicts")).stdout == ""
        # Once the live edit is versioned the tree is clean, and it stays so.
        seen = daemon.watcher.handled
        await a.send(type="version", action="create_version", description="x", created_by="alice")
        await a.expect("version_created", lambda m: m.get("source") != "git")
        await until(lambda: daemon.watcher.handled > seen, "the watcher to see the version")
        assert await status(folder) == ""
        assert (await svgx(folder, "conflicts")).returncode == 0
        assert not live.held and not live.dirty

    run(tmp_path, body)


def test_an_aborted_merge_releases_the_file_with_the_live_work_on_it(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        file = folder / "document.svg"
        await git(folder, "checkout", "-q", "-b", "other")
        save(file, BASE.replace(b'fill="red"', b'fill="green"'))
        await git(folder, "commit", "-q", "-am", "Green on other")
        await git(folder, "checkout", "-q", "main")
        (a,) = await clients(daemon, "alice")
        save(file, BASE.replace(b'fill="red"', b'fill="blue"'))
        await a.external_ops()
        await git(folder, "commit", "-q", "-am", "Blue")
        merged = await asyncio.to_thread(
            subprocess.run,
            ["git", "merge", "-q", "other"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        assert merged.returncode != 0
        await a.expect("git_conflict_pending")
        await a.op("alice", "c", {"r": "8"}, "a1")
        await git(folder, "merge", "--abort")
        await a.expect("git_conflict_resolved")
        await until(lambda: b'r="8"' in file.read_bytes(), "the live edit written")
        text = file.read_bytes()
        assert b'fill="blue"' in text and b"svgx-conflict" not in text

    run(tmp_path, body)


def test_a_conflict_pulled_while_the_daemon_was_stopped_is_held_when_it_starts(
    tmp_path: Path,
) -> None:
    root, folder = setup_root(tmp_path)

    async def main() -> None:
        upstream = folder.parent / "upstream"
        await git(folder.parent, "clone", "-q", str(folder), str(upstream))
        (upstream / "document.svg").write_bytes(BASE.replace(b'fill="red"', b'fill="green"'))
        await git(upstream, "commit", "-q", "-am", "Green")
        (folder / "document.svg").write_bytes(BASE.replace(b'fill="red"', b'fill="blue"'))
        await git(folder, "commit", "-q", "-am", "Blue")
        pulled = await asyncio.to_thread(
            subprocess.run,
            ["git", "pull", "--no-rebase", "-q", str(upstream), "main"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        assert (
            pulled.returncode != 0 and b"svgx-conflicts" in (folder / "document.svg").read_bytes()
        )
        daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=0))
        await daemon.start()
        try:
            c = await Client.connect(daemon)
            welcome = await c.join("alice")
            assert "svgx-conflict" not in welcome["files"]["document.svg"]
            assert 'fill="blue"' in welcome["files"]["document.svg"]
            pending = await c.expect("git_conflict_pending")
            (mark,) = pending["conflicts"]
            assert (mark["element_id"], mark["ours"], mark["theirs"]) == ("r", "blue", "green")
            await c.op("alice", "c", {"r": "8"}, "a1")
            assert b"svgx-conflicts" in (folder / "document.svg").read_bytes()
            done = await svgx(folder, "resolve", "document.svg", "--all", "--theirs")
            assert done.returncode == 0, done.stderr
            await git(folder, "commit", "-q", "--no-edit")
            await c.expect("git_conflict_resolved")
            await until(lambda: b'r="8"' in (folder / "document.svg").read_bytes(), "the write")
            text = (folder / "document.svg").read_bytes()
            assert b'fill="green"' in text and b"svgx-conflict" not in text
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(main(), 90))


# -- a detached HEAD -------------------------------------------------------------------------


async def round_trip(c: Client) -> None:
    """Everything the daemon was handed before this has been handled."""
    await c.send(type="status")
    await c.expect("status")


def test_a_detached_head_parks_the_session_on_its_branch_and_returning_restores_it(
    tmp_path: Path,
) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        file = folder / "document.svg"
        a, b = await clients(daemon, "alice", "bob")
        await a.op("alice", "r", {"fill": "blue"}, "a1")
        await a.send(
            type="version", action="create_version", description="Blue", created_by="alice"
        )
        await a.expect("version_created")
        older = (await git(folder, "rev-parse", "HEAD~1")).strip()
        await git(folder, "checkout", "-q", older)
        for c in (a, b):
            detached = await c.expect("head_detached")
            assert (detached["branch"], detached["version_id"]) == ("main", older)
        # Edits go on, on main's session: acknowledged, durable, and not written into
        # the old version the working tree now shows.
        ack = await a.op("alice", "c", {"r": "8"}, "a2")
        assert ack["status"] == "applied"
        await b.expect("operations", lambda m: any(o["op_id"] == "a2" for o in m["operations"]))
        await round_trip(a)
        shown = (await git(folder, "show", f"{older}:document.svg")).encode()
        assert file.read_bytes() == shown and await status(folder) == ""
        # Someone who joins now lands on the parked branch and is told.
        (carol,) = await clients(daemon, "carol")
        assert (await carol.expect("head_detached"))["branch"] == "main"
        assert daemon.rooms["doc@main"].live.files["document.svg"].get("c").get("r") == "8"
        # A version made meanwhile goes on the branch; the detached tree is left alone.
        await a.send(type="version", action="create_version", description="r8", created_by="alice")
        version = (await a.expect("version_created"))["version_id"]
        assert (await git(folder, "rev-parse", "main")).strip() == version
        assert 'r="8"' in await git(folder, "show", "main:document.svg")
        assert file.read_bytes() == shown and await status(folder) == ""
        # Back on the branch: the working tree gets the live state, everyone is told.
        await git(folder, "switch", "-q", "main")
        for c in (a, b, carol):
            attached = await c.expect("head_attached")
            assert attached["branch"] == "main"
        await until(lambda: b'r="8"' in file.read_bytes(), "the live state written back")
        assert b'fill="blue"' in file.read_bytes()
        await b.op("bob", "c", {"cx": "40"}, "b1")
        await until(lambda: b'cx="40"' in file.read_bytes(), "the next write")

    run(tmp_path, body)


def test_a_branch_made_on_a_detached_head_takes_the_clients_and_the_parked_work_waits(
    tmp_path: Path,
) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        file = folder / "document.svg"
        (a,) = await clients(daemon, "alice")
        await git(folder, "checkout", "-q", "--detach")
        await a.expect("head_detached")
        await a.op("alice", "r", {"fill": "blue"}, "a1")  # parked on main
        await git(folder, "switch", "-q", "-c", "idea")
        welcome = await a.expect("welcome", lambda m: m["branch"] == "idea")
        assert 'fill="red"' in welcome["files"]["document.svg"]
        switched = await a.expect("branch_switched")
        assert (switched["branch"], switched["previous_branch"]) == ("idea", "main")
        await a.op("alice", "c", {"r": "9"}, "a2")
        await until(lambda: b'r="9"' in file.read_bytes(), "idea's write")
        assert b'fill="blue"' not in file.read_bytes()
        # Versioned, so that git lets the user leave the branch.
        await a.send(type="version", action="create_version", description="r9", created_by="alice")
        await a.expect("version_created")
        await git(folder, "switch", "-q", "main")
        await a.expect("welcome", lambda m: m["branch"] == "main")
        await until(lambda: b'fill="blue"' in file.read_bytes(), "main's parked work written")

    run(tmp_path, body)
