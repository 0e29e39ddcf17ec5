"""What a command loads: git runs the merge driver once per file, so the driver and
``git diff``'s command must not pay for the daemon (websockets, prometheus_client,
watchfiles, the server), and the driver not for pydantic either (the wire's models,
which merging files never needs). Each case runs the real command in a fresh interpreter with
``-X importtime`` and reads the modules it imported from stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_git_merge_driver import BOTH, DRAWING, OURS, THEIRS, _branches, _repo, svgx, three

import svgx_sync

Git = Callable[..., str]
TIMEOUT = 60

DAEMON_MODULES = (
    "websockets",
    "prometheus_client",
    "watchfiles",
    "svgx_sync.api",
    "svgx_sync.daemon",
)


def imported(stderr: str) -> set[str]:
    """The module names ``-X importtime`` (or PYTHONPROFILEIMPORTTIME) listed."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def loads_of(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )
    return done, imported(done.stderr)


#: What the merge driver does without, beyond the daemon.
DRIVER_SPARES = (*DAEMON_MODULES, "pydantic", "pydantic_core")


def daemon_parts(modules: set[str], spared: tuple[str, ...] = DAEMON_MODULES) -> list[str]:
    return sorted(m for m in modules if any(m == d or m.startswith(d + ".") for d in spared))


def test_importing_the_package_loads_no_daemon(tmp_path: Path) -> None:
    done, modules = loads_of("-c", "import svgx_sync, svgx_sync.core.merge", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "svgx_sync.core.merge" in modules
    assert daemon_parts(modules) == []


def test_merge_driver_loads_no_daemon(tmp_path: Path) -> None:
    base, ours, theirs = map(str, three(tmp_path, DRAWING, OURS, THEIRS))
    done, modules = loads_of(
        "-m", "svgx_sync", "merge-driver", base, ours, theirs, "7", "drawing.svg", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert Path(ours).read_bytes() == BOTH
    assert "svgx_sync.core.merge" in modules
    assert daemon_parts(modules, DRIVER_SPARES) == []


def test_git_diff_command_loads_no_daemon(tmp_path: Path) -> None:
    base, ours, _ = map(str, three(tmp_path, DRAWING, OURS, THEIRS))
    done, modules = loads_of(
        "-m", "svgx_sync", "git-diff", "drawing.svg", base, "0" * 40, "100644", ours, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "orange" in done.stdout
    assert daemon_parts(modules) == []


def test_git_merge_runs_a_driver_that_loads_no_daemon(tmp_path: Path, git: Git) -> None:
    repo = _repo(tmp_path, git)
    _branches(repo, git, OURS, THEIRS)
    setup = svgx(repo, "git-setup")
    assert setup.returncode == 0, setup.stderr
    # git passes its environment to the driver: the driver's import profile reaches stderr.
    done = subprocess.run(
        ["git", "merge", "-q", "--no-edit", "other"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert done.returncode == 0, done.stderr
    modules = imported(done.stderr)
    assert "svgx_sync.core.merge" in modules
    assert daemon_parts(modules, DRIVER_SPARES) == []


def test_the_seed_names_are_the_api_objects() -> None:
    from svgx_sync import (
        ConflictResolution,
        OperationType,
        api,
        get_active_users,
        get_collaboration_performance_stats,
        resolve_conflict,
        send_operation,
        start_collaboration_server,
    )
    from svgx_sync.core.conflicts import Strategy
    from svgx_sync.core.ops import OperationType as Ops

    assert start_collaboration_server is api.start_collaboration_server
    assert send_operation is api.send_operation
    assert resolve_conflict is api.resolve_conflict
    assert get_active_users is api.get_active_users
    assert get_collaboration_performance_stats is api.get_collaboration_performance_stats
    assert svgx_sync.stop_collaboration_server is api.stop_collaboration_server
    assert ConflictResolution is Strategy and OperationType is Ops
    assert set(svgx_sync.__all__) <= set(dir(svgx_sync))
    with pytest.raises(AttributeError, match="no_such_name"):
        svgx_sync.no_such_name  # noqa: B018
