"""mypy in strict mode finds nothing in the package (settings in pyproject.toml's
``[tool.mypy]``). The real mypy runs over this checkout, as a separate process."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from tools import ROOT, run_checker


def test_package_type_checks_strictly() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed: pip install -e '.[test]'")
    code, output = run_checker(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    )
    assert code == 0, output
    assert "Success: no issues found" in output, output
