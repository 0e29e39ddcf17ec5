"""What the daemon's own git and file handling must never do, tried from the user's side:
a real daemon on 127.0.0.1, real websockets clients, real files and the real git command."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli import TIMEOUT
from test_server import Client, joined, run_with_daemon

from svgx_sync.daemon.server import Daemon
from svgx_sync.errors import InvalidName
from svgx_sync.git.names import validate_branch_name

AMBIGUOUS = [
    "refs/heads/x",
    "heads/x",
    "tags/v1",
    "remotes/origin/x",
    "FETCH_HEAD",
    "ORIG_HEAD",
    "MERGE_HEAD",
    "HEAD",
    "@",
    "a\u202eb",  # right-to-left override: shows as another name
    "a\u2066b",
    "a\u200bb",  # zero-width space
    "a\x7fb",
    "a\tb",
    "a\u00a0b",
]


@pytest.mark.parametrize("name", AMBIGUOUS)
def test_an_ambiguous_branch_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_branch_name(name)


@pytest.mark.parametrize("name", ["main", "feature/logo", "über", "v1.2", "fix-42", "a@b"])
def test_what_we_accept_git_accepts_as_a_branch_name(name: str) -> None:
    assert validate_branch_name(name) == name
    done = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", ["-x", "a..b", "a b", "a.lock", "x/", "a\x01b"])
def test_what_git_refuses_as_a_branch_name_we_refuse(name: str) -> None:
    done = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, check=False
    )
    assert done.returncode != 0
    with pytest.raises(InvalidName):
        validate_branch_name(name)


def test_ambiguous_branch_names_and_nul_descriptions_are_refused_live(tmp_path: Path) -> None:
    async def body(daemon: Daemon) -> None:
        a, b = await joined(daemon, "alice", "bob")
        repo = tmp_path / "docs" / "doc"
        # A FETCH_HEAD git left behind must never be taken for a branch to merge.
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
        (repo / ".git" / "FETCH_HEAD").write_text(head)
        for name in ("refs/heads/x", "FETCH_HEAD", "@", "a\u202eb"):
            for action in ("create_branch", "merge_branch"):
                await a.send(type="version", action=action, branch=name, created_by="alice")
                error = await a.expect("error")
                assert error["code"] != "internal_error", error
                assert "branch name" in error["message"], error
        await a.send(type="version", action="create_version", description="a\x00b")
        error = await a.expect("error")
        assert error["code"] != "internal_error" and "NUL" in error["message"], error
        # Nothing was made, and everyone is still served.
        assert (await b.op("bob", "create", "r1", {"type": "rectangle"}, "b1"))["seq"] == 1
        await a.send(type="version", action="list_branches")
        branches = (await a.expect("branches"))["branches"]
        assert [br["name"] for br in branches] == ["main"]
        log = subprocess.run(
            ["git", "log", "--format=%s", "main"], cwd=repo, capture_output=True, text=True
        ).stdout
        assert log.splitlines() == ["Create document"]

    run_with_daemon(tmp_path, body)


@pytest.mark.parametrize("damage", ["missing-object", "garbage"])
def test_a_broken_checkpoint_ref_falls_back_to_the_branch_head(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def first(daemon: Daemon) -> None:
        (a,) = await joined(daemon, "alice")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "a1")
        await a.close()

    run_with_daemon(tmp_path, first)  # a clean stop checkpoints
    ref = tmp_path / "docs" / "doc" / ".git" / "refs" / "svgx" / "live" / "main"
    assert ref.exists()
    ref.write_text("1" * 40 + "\n" if damage == "missing-object" else "not a ref at all\n")

    async def second(daemon: Daemon) -> None:
        c = await Client.connect(daemon)
        welcome = await c.join("carol")
        assert "<svg" in welcome["files"]["document.svg"]
        # The session goes on from the branch head: new work is taken and versioned.
        assert (await c.op("carol", "create", "r2", {"type": "rectangle"}, "c1"))["status"] == (
            "applied"
        )
        await c.send(type="version", action="create_version", description="After")
        await c.expect("version_created")

    run_with_daemon(tmp_path, second)
    assert any("checkpoint" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def _hostile(folder: Path, marker: Path) -> None:
    """The repository's config runs ``marker``'s writer from every place git would run
    a program of the repository's choosing: fsmonitor, hooks, filters, a pager."""
    script = folder.parent / "hostile.sh"
    script.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\ncat\n')
    script.chmod(0o755)
    hooks = folder.parent / "hostile-hooks"
    hooks.mkdir()
    for hook in ("pre-commit", "post-commit", "post-index-change", "post-checkout", "pre-auto-gc"):
        (hooks / hook).symlink_to(script)
    config = {
        "core.fsmonitor": str(script),
        "core.hooksPath": str(hooks),
        "core.pager": str(script),
        "filter.evil.clean": str(script),
        "filter.evil.smudge": str(script),
        "filter.evil.process": str(script),
        "diff.external": str(script),
    }
    for key, value in config.items():
        subprocess.run(["git", "config", key, value], cwd=folder, check=True)
    (folder / ".git" / "info").mkdir(exist_ok=True)
    (folder / ".git" / "info" / "attributes").write_text("*.svg filter=evil\n")


def test_no_command_of_ours_runs_a_program_the_repository_config_names(
    tmp_path: Path, git: Callable[..., str]
) -> None:
    import json

    import pygit2
    from test_cli import daemon_process, diverged_document, svgx
    from websockets.sync.client import connect

    root = tmp_path / "docs"
    folder = diverged_document(tmp_path, git)
    file = folder / "document.svg"
    stopped = subprocess.run(["git", "merge", "other"], cwd=folder, capture_output=True, text=True)
    assert stopped.returncode != 0 and "CONFLICT" in stopped.stdout
    marker = tmp_path / "ran"
    _hostile(folder, marker)

    for args in (
        ["conflicts", "document.svg"],
        ["resolve", "document.svg", "--all", "--theirs"],
        ["git-setup"],
        ["history", "."],
    ):
        done = svgx(folder, *args)
        assert done.returncode in (0, 1), (args, done.stderr)
        assert not marker.exists(), (args, marker.read_text())
    # resolve staged the file: git's conflict is cleared in the index.
    repo = pygit2.Repository(str(folder))
    assert repo.index.conflicts is None
    assert repo.index["document.svg"].id == pygit2.hash(file.read_bytes())
    # Conclude git's merge without running its hooks, then the daemon edits and versions.
    subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=", "commit", "-qm", "M"],
        cwd=folder,
        check=True,
        env={**os.environ, "GIT_ATTR_NOSYSTEM": "1"},
    )
    marker.unlink(missing_ok=True)  # git itself ran the repository's filter above
    with daemon_process(root, tmp_path / "daemon.log") as port:
        with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            ws.send(json.dumps({"type": "join", "user_id": "ada", "session_id": "plan"}))
            op = {"type": "operation", "operation_type": "update", "user_id": "ada"}
            ws.send(json.dumps({**op, "element_id": "r", "data": {"attributes": {"x": "3"}}}))
            ws.send(json.dumps({"type": "version", "action": "create_version", "description": "V"}))
            while json.loads(ws.recv(TIMEOUT))["type"] != "version_created":
                pass
        assert svgx(tmp_path, "version", "plan", "-m", "W", "--port", str(port)).returncode == 0
    assert not marker.exists(), marker.read_text()


def test_a_deleted_checkpoint_ref_falls_back_to_the_branch_head(
    tmp_path: Path, git: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    async def first(daemon: Daemon) -> None:
        (a,) = await joined(daemon, "alice")
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "a1")
        await a.send(type="version", action="create_version", description="V")
        await a.expect("version_created")
        await a.op("alice", "update", "r1", {"attributes": {"x": "3"}}, "a2")

    run_with_daemon(tmp_path, first)  # a clean stop checkpoints
    repo = tmp_path / "docs" / "doc"
    git(repo, "update-ref", "-d", "refs/svgx/live/main")

    async def second(daemon: Daemon) -> None:
        (c,) = await joined(daemon, "carol")
        assert (await c.op("carol", "create", "r2", {"type": "rectangle"}, "c1"))["status"] == (
            "applied"
        )

    run_with_daemon(tmp_path, second)
    assert any("journal" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert 'id="r1"' in git(repo, "show", "main:document.svg")
