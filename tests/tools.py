"""External programs the tests drive for real (Inkscape, later Chromium), and the checkers
that run over the checkout (ruff, lint-imports, mypy).

Where a program is absent its tests skip with the reason; with ``SVGX_REQUIRE_TOOLS=1``
(set by ``.ci/run``) an absent program fails them instead, so CI always runs them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REQUIRE_ENV = "SVGX_REQUIRE_TOOLS"
ROOT = Path(__file__).resolve().parents[1]


def require(program: str, *, why: str = "") -> str:
    """The path of ``program``; skip (or fail under ``SVGX_REQUIRE_TOOLS=1``) without it."""
    path = shutil.which(program)
    if path is not None:
        return path
    reason = f"{program} is not installed{': ' + why if why else ''}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 requires it)")
    pytest.skip(reason)


def node_with_websocket(*, why: str = "") -> list[str]:
    """The command that runs Node with a global ``WebSocket`` (Node 20 needs
    ``--experimental-websocket``; 22 has it built in); skips (or fails) without Node."""
    node = require("node", why=why)
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    return [node, "--experimental-websocket"] if major < 22 else [node]


def run_checker(argv: list[str], *, timeout: float = 300) -> tuple[int, str]:
    """Run a checker (ruff, lint-imports, mypy) over this checkout: its exit code and
    everything it printed, stdout then stderr."""
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, check=False, timeout=timeout
    )
    return done.returncode, done.stdout + done.stderr
