"""Files saved by real programs (fixtures/tools, see its README) through the diff, the
three-way merge, git's merge and diff drivers, and a running daemon's watcher.

No program is run here: the files were made once with Inkscape 1.2, svgo, sed and
ElementTree. Whatever path they take, what comes out is well-formed, every prefix
declared, and the other program's change is kept.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_watcher import Client, save, serve, until
from wellformed import assert_wellformed

from svgx_sync.core.diff import diff_documents, diff_trees, summarise
from svgx_sync.core.merge import Versions, merge_documents
from svgx_sync.core.namespaces import INKSCAPE_NS, SODIPODI_NS
from svgx_sync.core.ops import apply_operation, coerce_operation
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.daemon.server import Daemon
from svgx_sync.git.store import Store

TOOLS = Path(__file__).parent.parent / "fixtures" / "tools"
DAEMON = (TOOLS / "daemon.svg").read_bytes()
SAVED = sorted(p.name for p in TOOLS.glob("*.svg") if p.name != "daemon.svg")
INKSCAPE = [n for n in SAVED if n.startswith("inkscape-")]
PLAIN_EDIT = DAEMON.replace(b'x="400"', b'x="404"')  # another branch's edit, of r2


def fixture(name: str) -> bytes:
    return (TOOLS / name).read_bytes()


def same_elements(a: bytes, b: bytes) -> bool:
    return diff_trees(SvgDocument(a), SvgDocument(b)) == []


def test_the_fixtures_are_there_and_well_formed() -> None:
    assert {
        "inkscape-first-save.svg",
        "inkscape-second-save.svg",
        "inkscape-layers.svg",
        "svgo-daemon.svg",
        "svgo-inkscape.svg",
        "sed.svg",
        "elementtree.svg",
    } <= set(SAVED)
    for name in ("daemon.svg", *SAVED):
        assert_wellformed(fixture(name), name)
    assert b"sodipodi:docname" in fixture("inkscape-first-save.svg")


@pytest.mark.parametrize("name", SAVED)
@pytest.mark.parametrize("old_name", ["daemon.svg", "inkscape-first-save.svg"])
def test_the_diff_of_a_saved_file_applies_to_the_old_one(old_name: str, name: str) -> None:
    old, new = fixture(old_name), fixture(name)
    changes = diff_documents(old, new, "document.svg")
    assert bool(summarise(changes, old)) == (old != new)  # names every change, or none
    doc = SvgDocument(old)
    for change in changes:
        apply_operation(doc, coerce_operation({**change, "user_id": "external"}))
    applied = doc.to_bytes()
    assert_wellformed(applied, f"{old_name} with the changes to {name}")
    assert same_elements(applied, new)


def test_inkscapes_first_save_is_diffed_with_its_namespaced_root_attribute() -> None:
    changes = diff_documents(DAEMON, fixture("inkscape-first-save.svg"), "document.svg")
    root = next(c for c in changes if c["element_id"] == "/" and c["operation_type"] == "update")
    assert root["data"]["attributes"]["sodipodi:docname"] == "inkscape-first-save.svg"
    assert any(
        c["data"]["attributes"] == {"fill": "red"} for c in changes if c["element_id"] == "r1"
    )


def test_unknown_prefixes_travel_with_their_namespace() -> None:
    custom = DAEMON.replace(b"<svg ", b'<svg xmlns:acme="urn:acme" acme:rev="7" ', 1)
    changes = diff_documents(DAEMON, custom, "document.svg")
    (change,) = changes
    assert change["data"] == {"attributes": {"acme:rev": "7"}, "namespaces": {"acme": "urn:acme"}}
    doc = SvgDocument(DAEMON)
    apply_operation(doc, coerce_operation({**change, "user_id": "external"}))
    assert_wellformed(doc.to_bytes())
    assert SvgDocument(doc.to_bytes()).root.nsmap["acme"] == "urn:acme"


def merged_both_ways(saved: bytes) -> list[bytes]:
    out = []
    for ours, theirs in ((saved, PLAIN_EDIT), (PLAIN_EDIT, saved)):
        result = merge_documents(Versions(DAEMON, ours, theirs), file="document.svg")
        assert result.clean, result.conflicts
        assert result.merged is not None
        out.append(result.merged)
    return out


@pytest.mark.parametrize("name", INKSCAPE + ["sed.svg", "elementtree.svg"])
def test_a_three_way_merge_keeps_both_sides_well_formed(name: str) -> None:
    saved = fixture(name)
    for merged in merged_both_ways(saved):
        assert_wellformed(merged, f"the merge of {name}")
        doc = SvgDocument(merged)
        assert doc.get("r2").get("x") == "404"
        assert doc.get("r1").get("fill") == SvgDocument(saved).get("r1").get("fill")


def test_a_merge_with_inkscape_declares_inkscapes_prefixes() -> None:
    for merged in merged_both_ways(fixture("inkscape-layers.svg")):
        root = SvgDocument(merged).root
        assert root.nsmap["sodipodi"] == SODIPODI_NS and root.nsmap["inkscape"] == INKSCAPE_NS
        assert b"sodipodi:docname=" in merged and b'inkscape:label="Walls"' in merged
        assert b"ns0:" not in merged


# -- through the git command ---------------------------------------------------------------


HOOKS = Path(__file__).parent.parent / "hooks"


def repo_with_branches(tmp_path: Path, git: Any, saved: bytes, *, by_path: bool = False) -> Path:
    """main has a plain edit, ``saved`` has the other program's save, both from DAEMON.

    The drivers are set up by ``svgx-sync git-setup``, or ``by_path`` as hooks/ says."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "document.svg").write_bytes(DAEMON)
    if by_path:
        git(repo, "config", "merge.svgx.driver", f"{HOOKS / 'svgx-merge-driver'} %O %A %B %L %P")
        git(repo, "config", "diff.svgx.command", str(HOOKS / "svgx-diff"))
        (repo / ".gitattributes").write_text("*.svg merge=svgx diff=svgx\n")
    else:
        subprocess.run([sys.executable, "-m", "svgx_sync", "git-setup"], cwd=repo, check=True)
    git(repo, "add", "document.svg", ".gitattributes")
    git(repo, "commit", "-qm", "Start")
    git(repo, "checkout", "-qb", "saved")
    (repo / "document.svg").write_bytes(saved)
    git(repo, "commit", "-qam", "Saved by another program")
    git(repo, "checkout", "-q", "main")
    (repo / "document.svg").write_bytes(PLAIN_EDIT)
    git(repo, "commit", "-qam", "Plain edit")
    return repo


@pytest.mark.parametrize("by_path", [False, True], ids=["git-setup", "hooks"])
@pytest.mark.parametrize("name", INKSCAPE)
def test_git_merge_of_an_inkscape_branch_commits_a_well_formed_file(
    tmp_path: Path, git: Any, name: str, by_path: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVGX_SYNC_PYTHON", sys.executable)
    repo = repo_with_branches(tmp_path, git, fixture(name), by_path=by_path)
    git(repo, "merge", "-q", "--no-edit", "saved")
    committed = git(repo, "show", "HEAD:document.svg").encode()
    assert_wellformed(committed, "the merge commit's document.svg")
    root = SvgDocument(committed).root
    assert root.nsmap["sodipodi"] == SODIPODI_NS
    assert b"sodipodi:docname=" in committed and b"ns0:" not in committed
    assert SvgDocument(committed).get("r2").get("x") == "404"
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("by_path", [False, True], ids=["git-setup", "hooks"])
def test_git_diff_names_what_inkscape_changed(
    tmp_path: Path, git: Any, by_path: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVGX_SYNC_PYTHON", sys.executable)
    repo = repo_with_branches(tmp_path, git, fixture("inkscape-first-save.svg"), by_path=by_path)
    shown = git(repo, "diff", "main~1", "saved", "--", "document.svg")
    assert "svg sodipodi:docname: (none) -> inkscape-first-save.svg" in shown
    assert "rect#r1 fill: blue -> red" in shown


# -- a running daemon's watcher ------------------------------------------------------------


@pytest.mark.parametrize("name", INKSCAPE + ["sed.svg", "elementtree.svg"])
def test_a_save_by_another_program_reaches_clients_and_the_file_stays_well_formed(
    tmp_path: Path, name: str
) -> None:
    root = tmp_path / "docs"
    doc = Store(root).create("doc")
    doc.commit(
        {"document.svg": DAEMON},
        user_id="u-0",
        username="Setup",
        description="Start",
        update_workdir=True,
    )
    saved = fixture(name)

    async def body(daemon: Daemon, folder: Path) -> None:
        a = await Client.connect(daemon)
        await a.join("alice")
        file = folder / "document.svg"
        save(file, saved)
        await a.external_ops()
        live = daemon.rooms["doc@main"].live.files["document.svg"]
        await until(lambda: same_elements(live.to_bytes(), saved), "the save in the live state")
        # A live edit after the save: written over it without losing anything of it.
        await a.op("alice", "c1", {"fill": "purple"}, "a1")
        await until(lambda: b'fill="purple"' in file.read_bytes(), "the write")
        data = file.read_bytes()
        assert_wellformed(data, f"document.svg after {name} and a live edit")
        expected = SvgDocument(saved)
        expected.set_attribute(expected.get("c1"), "fill", "purple")
        assert same_elements(data, expected.to_bytes())
        await a.close()

    serve(root, doc.path, body)


def test_inkscapes_first_save_reaches_clients_as_the_operations_it_made(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    doc = Store(root).create("doc")
    doc.commit(
        {"document.svg": DAEMON},
        user_id="u-0",
        username="Setup",
        description="Start",
        update_workdir=True,
    )

    async def body(daemon: Daemon, folder: Path) -> None:
        a = await Client.connect(daemon)
        await a.join("alice")
        b = await Client.connect(daemon)
        await b.join("bob")
        save(folder / "document.svg", fixture("inkscape-first-save.svg"))
        for client in (a, b):
            ops = await client.external_ops(4)
            kinds = [(o["operation_type"], o["element_id"]) for o in ops]
            assert kinds == [
                ("create", "defs11"),
                ("create", "namedview9"),
                ("update", "/"),
                ("update", "r1"),
            ]
            assert ops[2]["data"]["attributes"] == {
                "version": "1.1",
                "id": "svg7",
                "sodipodi:docname": "inkscape-first-save.svg",
            }
            assert ops[3]["data"]["attributes"] == {"fill": "red"}
            assert "sodipodi:namedview" in ops[1]["data"]["markup"]
        live = daemon.rooms["doc@main"].live.files["document.svg"]
        assert live.scope(live.root)["sodipodi"] == SODIPODI_NS
        await a.close()
        await b.close()

    serve(root, doc.path, body)
