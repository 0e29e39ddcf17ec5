"""A ``kill -9`` of a real daemon process at named points of a branch merge (the
daemon kills itself there when ``SVGX_SYNC_CRASH_AT`` names the point): after a
restart the merge is finished or undone, never left half applied."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_watcher import TIMEOUT, Client, Port, kill_9, start_process

from svgx_sync.git.store import Store

START = (
    b'<svg xmlns="http://www.w3.org/2000/svg">\n'
    b'  <rect id="r" x="0"/>\n'
    b'  <circle id="c" r="5"/>\n'
    b"</svg>\n"
)
# idea: r's x to 5 (a conflict with main's 7), c's r to 9 and a new element n (clean).
IDEA = (
    START.replace(b'x="0"', b'x="5"')
    .replace(b'r="5"', b'r="9"')
    .replace(b"</svg>", b'  <rect id="n" x="1"/>\n</svg>')
)
MAIN = START.replace(b'x="0"', b'x="7"')


def setup(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "docs"
    doc = Store(root).create("doc")
    base = doc.commit({"document.svg": START}, user_id="u", username="U", description="Start")
    doc.create_branch("idea", base)
    doc.commit({"document.svg": IDEA}, user_id="u", username="U", description="Idea", branch="idea")
    doc.commit(
        {"document.svg": MAIN}, user_id="u", username="U", description="Main", update_workdir=True
    )
    return root, doc.path


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=True
    ).stdout


async def join(port: int) -> tuple[Client, dict[str, Any]]:
    c = await Client.connect(Port(port))  # type: ignore[arg-type]
    return c, await c.join("alice")


async def version(c: Client, action: str, **fields: Any) -> None:
    await c.send(type="version", action=action, created_by="alice", **fields)


async def crash(root: Path, log: Path, point: str, steps: Any) -> None:
    """Run ``steps`` against a daemon that kills itself at ``point``; it must die."""
    proc, port = await start_process(root, log, 0, {"SVGX_SYNC_CRASH_AT": point})
    try:
        c, _ = await join(port)
        await steps(c)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == -9, log.read_text()
    finally:
        if proc.returncode is None:
            await kill_9(proc)


def crash_and_restart(tmp_path: Path, point: str, steps: Any, check: Any) -> None:
    """Run ``steps(client)`` against a daemon that kills itself at ``point``, start it
    again, join, and run ``check(client, welcome, folder)``."""
    root, folder = setup(tmp_path)
    log = tmp_path / "daemon.log"

    async def main() -> None:
        await crash(root, log, point, steps)
        proc, port = await start_process(root, log, 0)
        try:
            await check(*await join(port), folder)
        finally:
            await kill_9(proc)

    asyncio.run(asyncio.wait_for(main(), 90))


async def resolve_all(c: Client, conflicts: list[dict[str, Any]]) -> None:
    for conflict in conflicts:
        await c.send(
            type="resolve_conflict",
            conflict_id=conflict["conflict_id"],
            resolution="theirs",
            resolved_by="alice",
        )
        await c.expect("conflict_resolved")


def assert_merged(folder: Path) -> None:
    parents = git(folder, "log", "-1", "--format=%P", "main").split()
    assert parents[1:] == [git(folder, "rev-parse", "idea").strip()]
    shown = git(folder, "show", "main:document.svg")
    assert 'x="5"' in shown and 'r="9"' in shown and shown.count('id="n"') == 1, shown


async def merge(c: Client) -> None:
    await version(c, "merge_branch", branch="idea")


@pytest.mark.parametrize("finish", ["complete", "abort"])
@pytest.mark.parametrize("point", ["merge-kept", "merge-applying", "merge-journaled"])
def test_a_merge_killed_while_applied_can_be_completed_or_aborted_after_a_restart(
    tmp_path: Path, point: str, finish: str
) -> None:
    async def check(c: Client, welcome: dict[str, Any], folder: Path) -> None:
        waiting = await c.expect("merge_in_progress")
        assert waiting["branch"] == "idea"
        (conflict,) = waiting["conflicts"]
        assert (conflict["element_id"], conflict["attribute"]) == ("r", "x")
        if finish == "complete":
            await resolve_all(c, waiting["conflicts"])
            await version(c, "complete_merge")
            assert (await c.expect("branch_merged"))["version_id"]
            assert_merged(folder)
        else:
            await version(c, "abort_merge")
            files = (await c.expect("merge_aborted", lambda m: "files" in m))["files"]
            assert files["document.svg"] == MAIN.decode()
            assert git(folder, "log", "-1", "--format=%s", "main").strip() == "Main"
            # Nothing is left in progress: the merge can be made again.
            await merge(c)
            await c.expect("merge_in_progress")

    crash_and_restart(tmp_path, point, merge, check)


def test_a_merge_killed_after_its_commit_is_over_after_a_restart(tmp_path: Path) -> None:
    async def merge_and_complete(c: Client) -> None:
        await merge(c)
        await resolve_all(c, (await c.expect("merge_in_progress"))["conflicts"])
        await version(c, "complete_merge")

    async def check(c: Client, welcome: dict[str, Any], folder: Path) -> None:
        assert_merged(folder)
        await version(c, "complete_merge")
        assert "no merge is in progress" in (await c.expect("error"))["message"]
        await merge(c)
        assert (await c.expect("branch_merged"))["up_to_date"] is True

    crash_and_restart(tmp_path, "merge-committed", merge_and_complete, check)


def test_an_abort_killed_half_way_is_finished_after_a_restart(tmp_path: Path) -> None:
    async def merge_and_abort(c: Client) -> None:
        await merge(c)
        await c.expect("merge_in_progress")
        await version(c, "abort_merge")

    async def check(c: Client, welcome: dict[str, Any], folder: Path) -> None:
        assert welcome["files"]["document.svg"] == MAIN.decode()
        assert (await c.expect("merge_aborted"))["branch"] == "idea"
        assert git(folder, "log", "-1", "--format=%s", "main").strip() == "Main"
        await version(c, "complete_merge")
        assert "no merge is in progress" in (await c.expect("error"))["message"]
        await merge(c)
        await c.expect("merge_in_progress")

    crash_and_restart(tmp_path, "merge-undone", merge_and_abort, check)
