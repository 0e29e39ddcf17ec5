"""The merge driver under the real ``git`` command (isolated config from conftest)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from svgx_sync.core.merge import read_conflicts
from svgx_sync.core.namespaces import SVGX_NS
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.git.drivers import ATTRIBUTES_LINE, merge_driver, setup_repository

Git = Callable[..., str]
TIMEOUT = 60

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
        timeout=TIMEOUT,
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


def three(tmp_path: Path, base: bytes, ours: bytes, theirs: bytes) -> list[Path]:
    """Driver inputs as git hands them: base, ours, theirs in files."""
    paths = [tmp_path / n for n in ("base.svg", "ours.svg", "theirs.svg")]
    for path, data in zip(paths, (base, ours, theirs), strict=True):
        path.write_bytes(data)
    return paths


def test_driver_line_merges_input_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, ours, theirs = three(tmp_path, DRAWING, OURS, b"<svg")
    assert merge_driver(base, ours, theirs, "9", "drawing.svg") == 1
    lines = ours.read_bytes().splitlines()
    assert b"<<<<<<<<< ours:drawing.svg" in lines and b">>>>>>>>> theirs:drawing.svg" in lines
    assert b'  <rect id="a" x="10" y="10" width="20" height="20" fill="orange"/>' in lines
    assert b"<svg" in lines
    assert "not well-formed" in capsys.readouterr().err


def test_driver_keeps_ours_when_git_cannot_merge_the_text_either(tmp_path: Path) -> None:
    """A NUL byte makes the file binary to git too: ours is kept, as git's binary merge does."""
    base, ours, theirs = three(tmp_path, DRAWING, OURS, THEIRS.replace(b"blue", b"\0"))
    assert merge_driver(base, ours, theirs, "7", "drawing.svg") == 130
    assert ours.read_bytes() == OURS


def _without_labels(data: bytes) -> bytes:
    return re.sub(rb"(?m)^(<{7}|\|{7}|>{7}) .*$", rb"\1", data)


def _merge_in_both(
    tmp_path: Path, git: Git, ours: bytes, theirs: bytes
) -> list[tuple[int, bytes, str]]:
    """The same merge with plain git and with the driver: exit code, file, stderr."""
    out = []
    for name in ("plain", "driver"):
        (tmp_path / name).mkdir()
        repo = _repo(tmp_path / name, git)
        _branches(repo, git, ours, theirs)
        if name == "driver":
            setup = svgx(repo, "git-setup")
            assert setup.returncode == 0, setup.stderr
        done = subprocess.run(
            ["git", "merge", "--no-edit", "other"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT,
        )
        unmerged = git(repo, "diff", "--name-only", "--diff-filter=U")
        assert unmerged == ("drawing.svg\n" if done.returncode else "")
        out.append((done.returncode, (repo / "drawing.svg").read_bytes(), done.stderr))
    return out


BROKEN = OURS.replace(b'fill="orange"/>', b'fill="orange">')  # an unclosed rect
ENTITY = DRAWING.replace(b"?>\n", b'?>\n<!DOCTYPE svg [<!ENTITY c "cyan">]>\n', 1)


@pytest.mark.parametrize(
    ("ours", "theirs", "why", "conflicts"),
    [
        # line 3 broken, line 4 edited: git's line merge conflicts on adjacent lines
        (BROKEN, THEIRS, "not well-formed", True),
        # line 4 broken, line 2 edited: one untouched line apart, the line merge is clean
        (
            DRAWING.replace(b'fill="blue"/>', b'fill="blue">'),
            DRAWING.replace(b"0 0 100 100", b"0 0 200 100"),
            "not well-formed",
            False,
        ),
        (OURS, ENTITY, "DOCTYPE with an internal subset", False),
        (ENTITY.replace(b'fill="blue"', b'fill="&c;"'), OURS, "DOCTYPE", True),
    ],
    ids=["broken-adjacent", "broken-apart", "entities-apart", "entities-adjacent"],
)
def test_git_merge_of_what_the_driver_cannot_read_is_gits_line_merge(
    tmp_path: Path, git: Git, ours: bytes, theirs: bytes, why: str, conflicts: bool
) -> None:
    """Never worse off than without the driver: git's exit code and git's file, up to the
    markers' labels."""
    (plain_code, plain, _), (code, merged, stderr) = _merge_in_both(tmp_path, git, ours, theirs)
    assert code == plain_code and bool(code) == conflicts
    assert (b"<<<<<<< ours:drawing.svg\n" in merged) == conflicts
    assert _without_labels(merged) == _without_labels(plain)
    assert why in stderr and "git's line merge" in stderr, stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("base", [DRAWING, b""])
def test_driver_exit_codes(tmp_path: Path, base: bytes) -> None:
    paths = three(tmp_path, base, OURS, THEIRS)
    code = merge_driver(*paths, "7", "drawing.svg")
    if base:
        assert code == 0 and paths[1].read_bytes() == BOTH
    else:
        assert code == 1  # both added the file differently
        assert read_conflicts(paths[1].read_bytes())[0].kind == "add_add"
