"""Checkpoints built in a worker thread while the daemon goes on taking operations.

The commit of a timed checkpoint is built off the loop (``FileWriter.checkpoint_in_background``).
Here its build is held in the worker thread (the real build runs once it is let go),
so that operations are acknowledged, or a version made, while it is under way.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path
from typing import Any

import pygit2
import pytest
from test_server import TIMEOUT, Client, joined, run_with_daemon

from svgx_sync.config import Settings
from svgx_sync.daemon import files as files_module
from svgx_sync.daemon.server import Daemon
from svgx_sync.durable.journal import journal_path, read_journal
from svgx_sync.git.layout import checkpoint_seq

SETTINGS: dict[str, Any] = {"checkpoint_interval_s": 0.2, "checkpoint_ops": 10_000}


class HeldBuild:
    """``build_checkpoint`` held in its worker thread until :meth:`release`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.gate = threading.Event()
        self.builds = 0
        real = files_module.build_checkpoint

        def held(*args: Any, **kwargs: Any) -> Any:
            self.builds += 1
            self.started.set()
            self.gate.wait(TIMEOUT)
            return real(*args, **kwargs)

        monkeypatch.setattr(files_module, "build_checkpoint", held)

    async def under_way(self) -> None:
        assert await asyncio.to_thread(self.started.wait, TIMEOUT), "no checkpoint began"

    def release(self) -> None:
        self.gate.set()


async def built(room: Any) -> None:
    while room.checkpointing:
        await asyncio.sleep(0.02)


async def rotated(daemon: Daemon, times: int) -> None:
    room = daemon.rooms["doc@main"]
    while room.journal.rotations < times or room.checkpointing:
        await asyncio.sleep(0.02)


def live_checkpoint_seq(repo: Path) -> int | None:
    commit = pygit2.Repository(str(repo)).revparse_single("refs/svgx/live/main")
    return checkpoint_seq(commit.message)


def test_operations_during_a_checkpoints_build_survive_a_crash_after_it(tmp_path, monkeypatch):
    build = HeldBuild(monkeypatch)
    copy = tmp_path / "after-crash"

    async def body(daemon: Daemon) -> None:
        (a,) = await joined(daemon, "alice")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")
        await build.under_way()  # the timer's checkpoint read the state at seq 1
        for i in range(2, 7):
            ack = await a.op("alice", "update", "r1", {"attributes": {"x": str(i)}}, f"o{i}")
            assert ack["seq"] == i
        build.release()
        await asyncio.wait_for(rotated(daemon, 1), TIMEOUT)
        repo = tmp_path / "docs" / "doc"
        assert live_checkpoint_seq(repo) == 1
        journal = [
            getattr(r, "seq", None) for r in read_journal(journal_path(repo / ".git", "main"))
        ]
        assert [s for s in journal if s is not None and s > 1] == [2, 3, 4, 5, 6]
        await daemon.files.wait()
        # What a kill -9 now would leave on disk: a daemon started on it has every
        # acknowledged operation.
        shutil.copytree(tmp_path / "docs", copy, symlinks=True)
        await a.close()

    run_with_daemon(tmp_path, body, **SETTINGS)

    async def restarted() -> None:
        daemon = Daemon(Settings(root=copy, port=0, **SETTINGS))
        await daemon.start()
        try:
            b = await Client.connect(daemon)
            welcome = await b.join("bob")
            assert welcome["seq"] == 6
            assert 'x="6"' in welcome["files"]["document.svg"]
            await b.close()
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(restarted(), 60))


def test_a_version_made_while_a_checkpoint_is_built_is_the_checkpoint_kept(
    tmp_path, monkeypatch, git
):
    build = HeldBuild(monkeypatch)

    async def body(daemon: Daemon) -> None:
        (a,) = await joined(daemon, "alice")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")
        await build.under_way()
        await a.op("alice", "update", "r1", {"attributes": {"x": "2"}}, "o2")
        await a.send(type="version", action="create_version", created_by="alice", description="v")
        await a.expect("version_created")  # checkpointed on the loop at seq 2
        repo = tmp_path / "docs" / "doc"
        assert live_checkpoint_seq(repo) == 2
        room = daemon.rooms["doc@main"]
        rotations = room.journal.rotations
        build.release()
        await asyncio.wait_for(built(room), TIMEOUT)
        # The older checkpoint built in the thread is not used: the ref and the journal
        # stay as the version left them.
        assert live_checkpoint_seq(repo) == 2
        assert room.journal.rotations == rotations and room.checkpoint_seq == 2
        await a.op("alice", "update", "r1", {"attributes": {"x": "3"}}, "o3")
        build_count = build.builds
        await asyncio.wait_for(rotated(daemon, rotations + 1), TIMEOUT)  # the next one
        assert build.builds == build_count + 1 and live_checkpoint_seq(repo) == 3
        await a.close()

    run_with_daemon(tmp_path, body, **SETTINGS)
    git(tmp_path / "docs" / "doc", "fsck", "--strict")
