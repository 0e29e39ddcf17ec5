"""Files that are not SVG, and saves that strip ids, beside a running daemon: real files,
a daemon on 127.0.0.1 port 0, real websockets clients and the real git command."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
from samples import BASE
from test_watcher import Client, clients, git, run, save, setup_root, until

from svgx_sync.config import Settings
from svgx_sync.daemon.server import Daemon
from svgx_sync.git.adopt import adopt_folder
from svgx_sync.git.layout import SYSTEM_EMAIL, SYSTEM_NAME
from svgx_sync.git.store import Store

SVGO = Path(__file__).parent.parent / "fixtures" / "tools" / "svgo-strip"
BLUE = BASE.replace(b'fill="red"', b'fill="blue"')
PAGE = b"<!DOCTYPE html>\n<html><head><title>Page</title></head><body><p>Hi</p></body></html>\n"
NOT_SVG = {
    "broken-xml": (BLUE.replace(b"</svg>", b"</g></svg>"), "mismatched tag"),
    "random-bytes": (bytes(range(256))[::-1] * 8, "not well-formed"),
    "entity-declaration": (
        b'<!DOCTYPE svg [<!ENTITY e "blue">]>\n'
        + BLUE.split(b"?>\n", 1)[1].replace(b'"blue"', b'"&e;"'),
        "entity declarations",
    ),
    "html-page": (PAGE, "root element is <html>"),
}


def rejections(client: Client) -> list[dict[str, object]]:
    return [m for m in client.seen if m["type"] == "file_rejected"]


@pytest.mark.parametrize("kind", sorted(NOT_SVG))
def test_a_save_that_is_not_svg_is_announced_kept_out_and_a_good_save_still_merges(
    tmp_path: Path, kind: str
) -> None:
    bad, why = NOT_SVG[kind]

    async def body(daemon: Daemon, folder: Path) -> None:
        a, b = await clients(daemon, "alice", "bob")
        save(folder / "document.svg", bad)
        for c in (a, b):
            notice = await c.expect("file_rejected")
            assert notice["file"] == "document.svg" and notice["document"] == "doc"
            assert why in notice["reason"]
        live = daemon.rooms["doc@main"].live
        assert live.seq == 0 and live.files["document.svg"].to_bytes() == BASE
        # Live work goes on, and a version holds the live state, never the bad bytes.
        assert (await a.op("alice", "c", {"r": "7"}, "a1"))["seq"] == 1
        await a.send(type="version", action="create_version", created_by="alice", description="V")
        version = (await a.expect("version_created"))["version_id"]
        committed = (await git(folder, "show", f"{version}:document.svg")).encode()
        assert b'r="7"' in committed and b'fill="red"' in committed
        # The bad bytes are not written over (they are nobody's version either)...
        assert (folder / "document.svg").read_bytes() == bad
        # ...and the next good save is merged as usual, against what the daemon last
        # wrote: its change and the live work made meanwhile both stay.
        save(folder / "document.svg", BLUE)
        (op,) = await b.external_ops()
        assert op["element_id"] == "r" and op["data"]["attributes"] == {"fill": "blue"}
        await until(lambda: b'r="7"' in (folder / "document.svg").read_bytes(), "the merged write")
        assert b'fill="blue"' in (folder / "document.svg").read_bytes()
        assert len(rejections(a)) == 1

    run(tmp_path, body, write_debounce_ms=0)


def test_a_new_file_that_is_not_svg_never_joins_the_document(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        save(folder / "page.svg", PAGE)
        save(folder / "fake.svg", NOT_SVG["random-bytes"][0])
        got = {(await a.expect("file_rejected"))["file"] for _ in range(2)}
        assert got == {"page.svg", "fake.svg"}
        live = daemon.rooms["doc@main"].live
        assert set(live.files) == {"document.svg"} and live.seq == 0
        await a.send(type="version", action="create_version", created_by="alice", description="V")
        await a.expect("version_created")
        assert (await git(folder, "ls-tree", "-r", "--name-only", "HEAD")).split() == [
            ".gitattributes",
            "document.svg",
        ]
        # Once the file is an SVG file it joins like any new one.
        save(folder / "page.svg", BASE)
        (added,) = await a.external_ops()
        assert (added["operation_type"], added["file"]) == ("file_add", "page.svg")

    run(tmp_path, body)


def test_a_half_written_save_is_waited_for_not_announced(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        seen = daemon.watcher.handled
        save(folder / "document.svg", BLUE[: len(BLUE) // 2])
        await until(lambda: daemon.watcher.handled > seen, "the watcher to see the half file")
        save(folder / "document.svg", BLUE)
        (op,) = await a.external_ops()
        assert op["data"]["attributes"] == {"fill": "blue"} and op["seq"] == 1
        # Well past the grace period: the half file was never announced.
        await until(
            lambda: not daemon.watcher.documents.states["doc"].rechecks, "the recheck to run"
        )
        assert rejections(a) == []

    run(tmp_path, body)


def test_a_save_left_half_written_is_announced_after_the_grace_period(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        grace = daemon.watcher.settings.incomplete_grace_s
        started = time.monotonic()
        save(folder / "document.svg", BLUE[:-20])
        notice = await a.expect("file_rejected")
        assert time.monotonic() - started >= grace
        assert "incomplete and unchanged for" in notice["reason"]
        assert daemon.rooms["doc@main"].live.files["document.svg"].to_bytes() == BASE
        save(folder / "document.svg", BLUE)
        (op,) = await a.external_ops()
        assert op["data"]["attributes"] == {"fill": "blue"}
        assert len(rejections(a)) == 1

    run(tmp_path, body)


def test_a_file_broken_while_the_daemon_was_stopped_is_told_to_the_first_to_join(
    tmp_path: Path,
) -> None:
    root, folder = setup_root(tmp_path)

    async def main() -> None:
        save(folder / "document.svg", PAGE)
        daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=0))
        await daemon.start()
        try:
            a = await Client.connect(daemon)
            welcome = await a.join("alice")
            assert 'id="r"' in welcome["files"]["document.svg"]  # the live state is kept
            notice = await a.expect("file_rejected")
            assert notice["file"] == "document.svg" and "root element is <html>" in notice["reason"]
            assert (folder / "document.svg").read_bytes() == PAGE
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_adopting_a_folder_leaves_files_that_are_not_svg_out(tmp_path: Path, git: object) -> None:
    folder = tmp_path / "docs" / "drawings"
    folder.mkdir(parents=True)
    (folder / "plan.svg").write_bytes(BASE)
    (folder / "page.svg").write_bytes(PAGE)
    (folder / "half.svg").write_bytes(BASE[:40])
    doc = adopt_folder(folder)
    assert doc.svg_files(doc.head_version()) == {"plan.svg": BASE}
    only_bad = tmp_path / "docs" / "pages"
    only_bad.mkdir()
    (only_bad / "page.svg").write_bytes(PAGE)
    with pytest.raises(Exception, match="holds no SVG file to adopt"):
        adopt_folder(only_bad)
    assert not (only_bad / ".git").exists()


# -- svgo stripping ids ---------------------------------------------------------------------


def planned(tmp_path: Path, svg: bytes) -> tuple[Path, Path]:
    """A store with a document ``doc`` whose committed and checked-out file is ``svg``."""
    root = tmp_path / "docs"
    doc = Store(root).create("doc")
    doc.commit(
        {"document.svg": svg},
        user_id="u-0",
        username="Setup",
        description="Plan",
        update_workdir=True,
    )
    return root, doc.path


def test_svgo_stripping_ids_is_applied_after_a_version_of_the_state_before(tmp_path: Path) -> None:
    before, after = (SVGO / "before.svg").read_bytes(), (SVGO / "after.svg").read_bytes()
    root, folder = planned(tmp_path, before)

    async def main() -> None:
        daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=0))
        await daemon.start()
        try:
            a, b = await clients(daemon, "alice", "bob")
            save(folder / "document.svg", after)  # as `npx svgo document.svg` leaves it
            for c in (a, b):
                version = await c.expect("version_created", lambda m: m.get("auto") is True)
                assert version["created_by"] == SYSTEM_NAME
                warning = await c.expect("external_loss")
                assert warning["file"] == "document.svg"
                assert warning["version_id"] == version["version_id"]
                assert warning["ids_stripped"] == ["wall", "r1", "r2", "c1"]
                assert warning["metadata_dropped"] == ["svgx-model", "r1-distance-1"]
            kept = warning["version_id"]
            # The version keeps the state before, by svgx_sync, saying why.
            assert (await git(folder, "show", f"{kept}:document.svg")).encode() == before
            author, subject = (
                await git(folder, "log", "-1", "--format=%ae%n%s", kept)
            ).splitlines()
            assert author == SYSTEM_EMAIL
            assert subject.startswith(
                "Before an outside save of document.svg that dropped ids stripped"
            )
            # What could be applied was: the live document is svgo's, for everyone.
            ops = await b.external_ops(5)
            assert {o["operation_type"] for o in ops} == {"delete", "create"}
            live = daemon.rooms["doc@main"].live.files["document.svg"]
            assert "r1" not in live.ids and "svgx-model" not in live.ids
            assert len(list(live.root.iter("{http://www.w3.org/2000/svg}path"))) == 2
            assert warning["seq"] <= ops[-1]["seq"]
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_svgo_run_while_the_daemon_was_stopped_is_versioned_before_it_is_merged(
    tmp_path: Path,
) -> None:
    before, after = (SVGO / "before.svg").read_bytes(), (SVGO / "after.svg").read_bytes()
    root, folder = planned(tmp_path, before)

    async def main() -> None:
        daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=0))
        await daemon.start()
        try:
            (a,) = await clients(daemon, "alice")
            await a.op("alice", "c1", {"fill": "olive"}, "a1")  # live work, written not versioned
            await until(lambda: b"olive" in (folder / "document.svg").read_bytes(), "the write")
        finally:
            await daemon.stop()
        save(folder / "document.svg", after.replace(b"green", b"olive"))
        daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=0))
        await daemon.start()
        try:
            b = await Client.connect(daemon)
            welcome = await b.join("bob")
            assert 'id="r1"' not in welcome["files"]["document.svg"]
            warning = await b.expect("external_loss")
            assert warning["ids_stripped"] == ["wall", "r1", "r2", "c1"]
            kept = (await git(folder, "show", f"{warning['version_id']}:document.svg")).encode()
            assert kept == before.replace(b"green", b"olive")
            assert (
                await git(folder, "log", "-1", "--format=%ae", warning["version_id"])
            ).strip() == SYSTEM_EMAIL
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_an_auto_version_of_a_folder_nobody_edits_live_never_holds_bytes_that_are_not_svg(
    tmp_path: Path,
) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        # No client: the auto-version reads the working tree itself.
        start = (await git(folder, "rev-parse", "HEAD")).strip()
        save(folder / "page.svg", PAGE)
        save(folder / "document.svg", NOT_SVG["broken-xml"][0])
        save(folder / "icons.svg", BLUE)
        await until(lambda: git_head(folder) != start, "the auto-version")
        tree = (await git(folder, "ls-tree", "-r", "--name-only", "HEAD")).split()
        assert tree == [".gitattributes", "document.svg", "icons.svg"]
        assert (await git(folder, "show", "HEAD:document.svg")).encode() == BASE

    run(tmp_path, body, auto_version_quiet_s=0.3)


def git_head(folder: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True
    ).stdout.strip()
