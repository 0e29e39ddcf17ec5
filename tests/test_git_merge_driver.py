"""The merge driver under the real ``git`` command (isolated config from conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from svgx_sync.gitdriver import ATTRIBUTES_LINE, merge_driver, setup_repository
from svgx_sync.merge import read_conflicts
from svgx_sync.svgdoc import SVGX_NS, SvgDocument

Git = Callable[..., str]

DRAWING = b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <rect id="a" x="10" y="10" width="20" height="20" fill="red"/>
  <rect id="b" x="40" y="10" width="20" height="20" fill="blue"/>
</svg>
"""


def svgx(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "svgx_sync", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )


def _repo(tmp_path: Path, git: Git) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Tester")
    git(repo, "config", "user.email", "tester@example.com")
    (repo / "drawing.svg").write_bytes(DRAWING)
    git(repo, "add", "drawing.svg")
    git(repo, "commit", "-q", "-m", "drawing")
    return repo


def _branches(repo: Path, git: Git, ours: bytes, theirs: bytes) -> None:
    """Commit ``theirs`` on branch ``other`` and ``ours`` on main."""
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "drawing.svg").write_bytes(theirs)
    git(repo, "commit", "-q", "-am", "theirs")
    git(repo, "checkout", "-q", "main")
    (repo / "drawing.svg").write_bytes(ours)
    git(repo, "commit", "-q", "-am", "ours")


# Edits of different elements on adjacent lines: git's line merge conflicts on these.
OURS = DRAWING.replace(b'fill="red"', b'fill="orange"')
THEIRS = DRAWING.replace(b'x="40"', b'x="45"')
BOTH = DRAWING.replace(b'fill="red"', b'fill="orange"').replace(b'x="40"', b'x="45"')


def test_plain_git_conflicts_on_adjacent_lines(tmp_path: Path, git: Git) -> None:
    repo = _repo(tmp_path, git)
    _branches(repo, git, OURS, THEIRS)
    done = subprocess.run(["git", "merge", "other"], cwd=repo, capture_output=True, text=True)
    assert done.returncode != 0
    assert b"<<<<<<<" in (repo / "drawing.svg").read_bytes()


def test_git_merge_with_the_driver_merges_adjacent_lines(tmp_path: Path, git: Git) -> None:
    repo = _repo(tmp_path, git)
    _branches(repo, git, OURS, THEIRS)
    setup = svgx(repo, "git-setup")
    assert setup.returncode == 0, setup.stderr
    git(repo, "merge", "-q", "--no-edit", "other")
    assert (repo / "drawing.svg").read_bytes() == BOTH
    assert git(repo, "status", "--porcelain") == "?? .gitattributes\n"


def test_conflict_is_marked_listed_and_resolved(tmp_path: Path, git: Git) -> None:
    repo = _repo(tmp_path, git)
    _branches(repo, git, OURS, DRAWING.replace(b'fill="red"', b'fill="purple"'))
    assert svgx(repo, "git-setup").returncode == 0
    done = subprocess.run(["git", "merge", "other"], cwd=repo, capture_output=True, text=True)
    assert done.returncode != 0
    marked = (repo / "drawing.svg").read_bytes()
    root = etree.fromstring(marked)
    assert root.findall(f".//{{{SVGX_NS}}}conflict")
    SvgDocument(marked)
    (conflict,) = read_conflicts(marked)
    assert (conflict.element_id, conflict.attribute) == ("a", "fill")
    assert (conflict.ours, conflict.theirs) == ("orange", "purple")

    listed = svgx(repo, "conflicts")
    assert listed.returncode == 1
    assert "drawing.svg: svgx-conflict-1  attribute at a fill" in listed.stdout

    resolved = svgx(repo, "resolve", "drawing.svg", "svgx-conflict-1", "--theirs")
    assert resolved.returncode == 0, resolved.stderr
    assert (repo / "drawing.svg").read_bytes() == DRAWING.replace(b'fill="red"', b'fill="purple"')
    assert svgx(repo, "conflicts").returncode == 0
    git(repo, "commit", "-q", "--no-edit")
    assert git(repo, "log", "--format=%P", "-1").count(" ") == 1  # a merge commit


def test_resolve_all(tmp_path: Path, git: Git) -> None:
    repo = _repo(tmp_path, git)
    ours = DRAWING.replace(b'fill="red"', b'fill="orange"').replace(b'fill="blue"', b'fill="navy"')
    theirs = DRAWING.replace(b'fill="red"', b'fill="pink"').replace(b'fill="blue"', b'fill="cyan"')
    _branches(repo, git, ours, theirs)
    assert svgx(repo, "git-setup").returncode == 0
    subprocess.run(["git", "merge", "other"], cwd=repo, capture_output=True, check=False)
    assert len(read_conflicts((repo / "drawing.svg").read_bytes())) == 2
    assert svgx(repo, "resolve", "drawing.svg", "--all", "--ours").returncode == 0
    assert (repo / "drawing.svg").read_bytes() == ours
    assert "drawing.svg" not in git(repo, "diff", "--name-only", "--diff-filter=U")


def test_setup_is_idempotent_and_keeps_other_attributes(tmp_path: Path, git: Git) -> None:
    repo = _repo(tmp_path, git)
    (repo / ".gitattributes").write_text("*.png binary")
    setup_repository(repo)
    setup_repository(repo)
    assert (repo / ".gitattributes").read_text() == f"*.png binary\n{ATTRIBUTES_LINE}\n"
    driver = git(repo, "config", "merge.svgx.driver").strip()
    assert driver.endswith("-m svgx_sync merge-driver %O %A %B %L %P")
    assert git(repo, "config", "diff.svgx.command").strip().endswith("git-diff")
    assert git(repo, "status", "--porcelain") == "?? .gitattributes\n"


def test_git_diff_shows_elements(tmp_path: Path, git: Git) -> None:
    repo = _repo(tmp_path, git)
    assert svgx(repo, "git-setup").returncode == 0
    (repo / "drawing.svg").write_bytes(OURS)
    shown = git(repo, "diff")
    assert "svgx diff drawing.svg" in shown
    assert "fill" in shown and "orange" in shown


def test_driver_fails_on_unreadable_input_and_leaves_ours(tmp_path: Path) -> None:
    base, ours, theirs = (tmp_path / n for n in ("base.svg", "ours.svg", "theirs.svg"))
    base.write_bytes(DRAWING)
    ours.write_bytes(OURS)
    theirs.write_bytes(b"<svg")
    assert merge_driver(base, ours, theirs, "7", "drawing.svg") == 130
    assert ours.read_bytes() == OURS


@pytest.mark.parametrize("base", [DRAWING, b""])
def test_driver_exit_codes(tmp_path: Path, base: bytes) -> None:
    paths = [tmp_path / n for n in ("base.svg", "ours.svg", "theirs.svg")]
    for path, data in zip(paths, (base, OURS, THEIRS), strict=True):
        path.write_bytes(data)
    code = merge_driver(*paths, "7", "drawing.svg")
    if base:
        assert code == 0 and paths[1].read_bytes() == BOTH
    else:
        assert code == 1  # both added the file differently
        assert read_conflicts(paths[1].read_bytes())[0].kind == "add_add"
