"""What the git command does to a document, svgx_sync reads back correctly, and back."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from svgx_sync.git.store import EMPTY_SVG, Document, Store

Git = Callable[..., str]

RED = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="r" fill="red"/></svg>\n'
BLUE = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="r" fill="blue"/></svg>\n'


def edit(doc: Document, data: bytes, text: str) -> str:
    return doc.commit(
        {"document.svg": data},
        user_id="u-1",
        username="Ada",
        description=text,
        update_workdir=True,
    )


def test_a_cli_commit_appears_in_history(store: Store, git: Git) -> None:
    doc = store.create("logo")
    (doc.path / "document.svg").write_bytes(RED)
    (doc.path / "icons").mkdir()
    (doc.path / "icons" / "b.svg").write_bytes(BLUE)
    git(doc.path, "add", "document.svg", "icons/b.svg")
    git(doc.path, "commit", "-q", "-m", "Red from the terminal", "-m", "Signed-off-by: Cli <c@x>")
    again = Store(store.root).open("logo")
    latest = again.history()[0]
    assert latest.version_id == git(doc.path, "rev-parse", "HEAD").strip()
    assert latest.author_name == "Cli Author"
    assert latest.author_email == "cli@example.com"
    assert latest.description == "Red from the terminal\n\nSigned-off-by: Cli <c@x>"
    assert latest.session_id is None and latest.op_ids == ()
    assert again.svg_files("HEAD") == {"document.svg": RED, "icons/b.svg": BLUE}
    # Our next commit builds on the terminal's one.
    ours = edit(again, BLUE, "Blue")
    assert again.history()[0].parents == (latest.version_id,)
    assert again.svg_files(ours)["icons/b.svg"] == BLUE
    assert git(doc.path, "status", "--porcelain") == ""


def test_cli_revert_is_read_correctly(store: Store, git: Git) -> None:
    doc = store.create("logo")
    edit(doc, RED, "Red")
    edit(doc, BLUE, "Blue")
    git(doc.path, "revert", "HEAD", "--no-edit")
    again = store.open("logo")
    assert again.svg_files() == {"document.svg": RED}
    assert again.svg_files(again.head_version()) == {"document.svg": RED}
    assert again.history()[0].description.startswith('Revert "Blue"')
    assert len(again.history()) == 4
    assert again.current_branch() == "main"


def test_cli_branch_switches_are_read_correctly(store: Store, git: Git) -> None:
    doc = store.create("logo")
    git(doc.path, "checkout", "-q", "-b", "x")
    assert store.open("logo").current_branch() == "x"
    edit(store.open("logo"), RED, "Red on x")
    git(doc.path, "checkout", "-q", "main")
    again = store.open("logo")
    assert again.current_branch() == "main"
    assert again.svg_files() == {"document.svg": EMPTY_SVG}
    assert [b["name"] for b in again.list_branches() if b["current"]] == ["main"]
    assert again.svg_files("x") == {"document.svg": RED}
    assert [v.description for v in again.history(branch="x")] == ["Red on x", "Create document"]


def test_our_commits_merge_with_the_cli(store: Store, git: Git) -> None:
    doc = store.create("logo")
    doc.create_branch("side")
    doc.commit(
        {"side.svg": BLUE}, user_id="u-2", username="Grace", description="Side", branch="side"
    )
    edit(doc, RED, "Red")
    git(doc.path, "merge", "-q", "--no-edit", "side")
    again = store.open("logo")
    assert again.svg_files() == {"document.svg": RED, "side.svg": BLUE}
    assert len(again.history()[0].parents) == 2
    git(doc.path, "fsck", "--strict")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m svgx_sync ARGS`` in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "svgx_sync", *args], capture_output=True, text=True, check=False
    )


def test_cli_init_creates_a_repository(tmp_path: Path, git: Git) -> None:
    target = tmp_path / "root" / "poster"
    done = cli("init", str(target))
    assert done.returncode == 0, done.stderr
    assert git(target, "rev-parse", "--is-inside-work-tree").strip() == "true"
    assert git(target, "log", "--format=%s") == "Create document\n"
    assert (target / "document.svg").read_bytes() == EMPTY_SVG

    again = cli("init", str(target))
    assert again.returncode != 0
    assert "already exists" in again.stderr

    history = cli("history", str(target))
    assert history.returncode == 0, history.stderr
    assert "Create document" in history.stdout
