"""git lock files held too long: waited for off the event loop, reported, and removed by
``svgx-sync unlock`` only when nobody can be holding them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_server import TIMEOUT, Client, run_with_daemon

from svgx_sync.daemon.server import Daemon
from svgx_sync.errors import ClientError
from svgx_sync.git.locks import remove_stale_lock, repository_owner

FAST = {"lock_report_s": 0.2, "checkpoint_interval_s": 3600}


async def joined(daemon: Daemon, user: str, session: str) -> Client:
    client = await Client.connect(daemon)
    await client.join(user, session=session)
    return client


async def unlock(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "svgx_sync",
        "unlock",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def test_a_second_document_keeps_acking_while_a_version_waits_on_a_held_lock(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "docs" / "doc-a" / ".git" / "refs" / "heads" / "main.lock"

    async def body(daemon: Daemon) -> None:
        a = await joined(daemon, "a", "doc-a")
        b = await joined(daemon, "b", "doc-b")
        await a.op("a", "create", "r1", {"type": "rectangle"}, "a1")
        lock.write_bytes(b"")  # git is committing on doc-a's main
        await a.send(type="version", action="create_version", description="v", request_id="v1")
        held = await a.expect("lock_held")
        assert held["path"] == str(lock) and "svgx-sync unlock" in held["message"]
        # doc-a's version waits; doc-b is served meanwhile.
        for i in range(3):
            ack = await b.op("b", "create", f"b{i}", {"type": "rectangle"}, f"b{i}")
            assert ack["status"] == "applied"
        lock.unlink()  # git is done
        created = await a.expect("version_created")
        assert created["description"] == "v"
        assert not [m for m in a.seen if m["type"] == "error"]

    run_with_daemon(tmp_path, body, **FAST)


def test_a_lock_left_by_a_killed_process_is_reported_and_unlock_removes_it(
    tmp_path: Path, git
) -> None:
    folder = tmp_path / "docs" / "doc"
    lock = folder / ".git" / "refs" / "heads" / "main.lock"

    async def body(daemon: Daemon) -> None:
        a = await joined(daemon, "a", "doc")
        await a.op("a", "create", "r1", {"type": "rectangle"}, "a1")
        # What a kill -9 inside libgit2 leaves: an empty lock, from before this daemon.
        lock.write_bytes(b"")
        an_hour_ago = time.time() - 3600
        os.utime(lock, (an_hour_ago, an_hour_ago))
        await a.send(type="version", action="create_version", description="v")
        held = await a.expect("lock_held")
        assert held["age_s"] >= 3600 and held["holders"] == []
        error = await a.expect("error")
        assert error["code"] == "lock_held" and str(lock) in error["message"]
        assert f"svgx-sync unlock {folder}" in error["message"]
        await a.send(type="status")
        (session,) = (await a.expect("status"))["sessions"]
        assert [entry["path"] for entry in session["locks"]] == [str(lock)]

        code, out = await unlock(str(folder))
        assert (code, out) == (0, f"removed {lock}\n")
        await a.send(type="version", action="create_version", description="v")
        assert (await a.expect("version_created"))["description"] == "v"
        await a.send(type="status")
        (session,) = (await a.expect("status"))["sessions"]
        assert "locks" not in session
        code, out = await unlock(str(folder))
        assert code == 3 and "no lock file" in out

    run_with_daemon(tmp_path, body, lock_wait_s=0.5, **FAST)
    git(folder, "fsck", "--strict")


def test_unlock_leaves_a_lock_that_git_or_a_young_writer_may_hold(tmp_path: Path, git) -> None:
    folder = tmp_path / "doc"
    subprocess.run([sys.executable, "-m", "svgx_sync", "init", str(folder)], check=True)
    lock = folder / ".git" / "index.lock"
    lock.write_bytes(b"")

    async def main() -> None:
        code, out = await unlock(str(folder))
        assert code == 4 and "s ago; git may still be working" in out and lock.exists()
        old = time.time() - 600
        os.utime(lock, (old, old))
        # A git command working in the repository (it waits for its input).
        working = await asyncio.create_subprocess_exec(
            "git", "hash-object", "--stdin", cwd=folder, stdin=asyncio.subprocess.PIPE
        )
        try:
            code, out = await unlock(str(folder))
            assert code == 4 and f"process {working.pid} (git hash-object" in out
            assert lock.exists()
        finally:
            working.kill()
            await working.wait()
        code, out = await unlock(str(folder))
        assert code == 0 and not lock.exists()

    asyncio.run(asyncio.wait_for(main(), 60))
    git(folder, "status", "--porcelain")


OWNER = """
import sys
from svgx_sync.git.locks import own_repository
assert own_repository(sys.argv[1]) is not None
print("owned", flush=True)
sys.stdin.read()
"""


def test_a_lock_made_while_a_daemon_owns_the_repository_is_left_and_the_mark_dies_with_it(
    tmp_path: Path, git
) -> None:
    folder = tmp_path / "doc"
    git(tmp_path, "init", "-q", str(folder))
    git_dir = folder / ".git"
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(git_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None and owner.stdout.readline() == "owned\n"
        mark = repository_owner(git_dir)
        assert mark is not None and mark.pid == owner.pid
        lock = git_dir / "HEAD.lock"
        lock.write_bytes(b"")  # after the owner started: it may be the owner's
        with pytest.raises(ClientError, match=f"the daemon \\(process {owner.pid}\\)"):
            remove_stale_lock(git_dir, folder, older_than=0)
        assert lock.exists()
        owner.kill()  # kill -9: the mark goes with the process
        owner.wait(TIMEOUT)
        assert repository_owner(git_dir) is None
        assert remove_stale_lock(git_dir, folder, older_than=0) == [str(lock)]
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(TIMEOUT)
        if owner.stdin is not None:
            owner.stdin.close()
        if owner.stdout is not None:
            owner.stdout.close()
