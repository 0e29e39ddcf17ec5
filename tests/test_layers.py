"""The folders are layers: import-linter's contracts in ``pyproject.toml`` hold.

``core`` imports no I/O, each layer imports only the layers below it, and git's side
(which the merge driver loads once per file) loads nothing of the daemon. The real
``lint-imports`` runs over the package as installed from this checkout."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from tools import ROOT, run_checker


def lint_imports() -> str:
    beside = Path(sys.executable).parent / "lint-imports"
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    return found


def test_import_contracts_hold() -> None:
    code, output = run_checker(
        [lint_imports(), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")], timeout=120
    )
    assert code == 0, output
    assert "0 broken" in output, output
