"""Shared fixtures: git isolated from the machine's configuration, and a store in tmp_path."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pygit2
import pytest

if TYPE_CHECKING:
    from svgx_sync.git.store import Store


_PYGIT2_LEVELS = (
    pygit2.enums.ConfigLevel.SYSTEM,
    pygit2.enums.ConfigLevel.XDG,
    pygit2.enums.ConfigLevel.GLOBAL,
)


@pytest.fixture(autouse=True)
def isolated_git(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Keep the user's and the system's git configuration out of every test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Cli Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "cli@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Cli Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "cli@example.com")
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    # libgit2 read its config search path once, at import; point it at the new HOME too.
    saved = {level: pygit2.settings.search_path[level] for level in _PYGIT2_LEVELS}
    for level in _PYGIT2_LEVELS:
        pygit2.settings.search_path[level] = str(home)
    yield
    for level, value in saved.items():
        pygit2.settings.search_path[level] = value


@pytest.fixture
def git() -> Callable[..., str]:
    """Run the real ``git`` command in a folder and return its stdout."""

    def run(cwd: Path, *args: str, check: bool = True) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}{done.stdout}")
        return done.stdout

    return run


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """An empty store under tmp_path."""
    from svgx_sync.git.store import Store

    return Store(tmp_path / "documents")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the ``summary`` property a test recorded (how much a property test ran)."""
    for kind in ("passed", "failed"):
        for report in terminalreporter.stats.get(kind, []):
            for name, value in getattr(report, "user_properties", ()):
                if name == "summary":
                    terminalreporter.write_line(f"{report.nodeid}: {value}")


# The browser tests' fixtures (tests/browser.py); Playwright loads only when one runs.
from browser import chromium, served, watched  # noqa: E402, F401
