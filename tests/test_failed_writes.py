"""A working-tree write that fails (an immutable file) is reported, retried, and never
taken for an outside edit: a real daemon on 127.0.0.1, a real websockets client, real
files and the real git command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from svgx_sync.daemon.server import Daemon


def _immutable(path: Path, on: bool) -> None:
    """``chattr +i``: not even root may replace the file (a read-only folder does not stop
    root, and rename replaces a read-only file)."""
    subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True, capture_output=True)


def _can_make_immutable(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.write_text("x")
    try:
        _immutable(probe, True)
    except (OSError, subprocess.CalledProcessError):
        return False
    _immutable(probe, False)
    return True


def test_a_failed_file_write_is_reported_retried_and_never_taken_for_an_outside_edit(
    tmp_path: Path,
) -> None:
    from test_watcher import Client as WatchClient
    from test_watcher import git, run, until

    if not _can_make_immutable(tmp_path):
        pytest.skip("chattr +i is not available here")

    async def body(daemon: Daemon, folder: Path) -> None:
        a = await WatchClient.connect(daemon)
        await a.join("alice")
        file = folder / "document.svg"
        before = file.read_bytes()
        _immutable(file, True)
        try:
            await a.send(
                type="operation",
                operation_type="create",
                user_id="alice",
                element_id="n1",
                data={"type": "rectangle", "attributes": {"x": "4"}},
                op_id="a1",
            )
            assert (await a.expect("ack", lambda m: m["op_id"] == "a1"))["status"] == "applied"
            failed = await a.expect("file_write_failed")
            assert failed["file"] == "document.svg" and failed["document"] == "doc"
            assert "not permitted" in failed["reason"]
            health = daemon.health()["sessions"][0]
            assert health["write_failures"]["document.svg"]
            assert file.read_bytes() == before
            seen = daemon.watcher.handled
            await a.send(type="version", action="create_version", description="V")
            version = (await a.expect("version_created"))["version_id"]
            assert 'id="n1"' in await git(folder, "show", f"{version}:document.svg")
            # The watcher looks at the files after the version moved the branch: the
            # stale file is ours, not an outside edit, and nothing is deleted.
            await until(lambda: daemon.watcher.handled > seen, "the watcher to look")
            live = daemon.rooms["doc@main"].live
            assert live.files["document.svg"].get("n1") is not None
            assert not [
                o
                for m in a.seen
                if m["type"] == "operations"
                for o in m["operations"]
                if o["user_id"] == "external"
            ]
        finally:
            _immutable(file, False)
        await until(lambda: b'id="n1"' in file.read_bytes(), "the write retried")
        await a.expect("file_written", lambda m: m["file"] == "document.svg")
        assert (
            "write_failures" not in daemon.health()["sessions"][0]
            or not (daemon.health()["sessions"][0]["write_failures"])
        )
        live = daemon.rooms["doc@main"].live
        assert live.files["document.svg"].get("n1") is not None
        await a.send(type="version", action="create_version", description="W")
        version = (await a.expect("version_created"))["version_id"]
        assert 'id="n1"' in await git(folder, "show", f"{version}:document.svg")

    run(tmp_path, body)
