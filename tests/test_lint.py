"""ruff's lint and format checks pass on the repository (rules in pyproject.toml)."""

from __future__ import annotations

import sys

import pytest
from tools import run_checker


@pytest.mark.parametrize(
    "command",
    [["check", "."], ["format", "--check", "."]],
    ids=["check", "format"],
)
def test_ruff_is_clean(command: list[str]) -> None:
    code, output = run_checker([sys.executable, "-m", "ruff", *command])
    assert code == 0, f"ruff {' '.join(command)}:\n{output}"
