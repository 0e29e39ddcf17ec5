"""Outside programs racing the daemon's own writes, seen from a client on a real daemon.

Two promises: a debounced write of the live state never lands over an outside edit it
has not merged (the edit reaches the clients as an operation and the file ends up with
both), and a stale editor's save (a copy read several writes ago) keeps the live work
made since, applying only the editor's own change.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from samples import BASE, big_drawing
from test_watcher import TIMEOUT as WATCH_TIMEOUT
from test_watcher import Client, attribute, save, setup_root, until
from test_watcher import git as git_cli
from tools import require

from svgx_sync.config import Settings
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.daemon.server import Daemon
from svgx_sync.daemon.watcher import Watcher, WatchSettings

TIMEOUT = 20.0


class PatientClient(Client):
    """A client for tests beside a real program that may start slowly on a busy machine."""

    timeout = 60.0


async def sed(folder: Path, expression: str) -> None:
    """``sed -i`` on the document, as a terminal user runs it (temporary file, rename)."""
    done = await asyncio.to_thread(
        subprocess.run,
        ["sed", "-i", expression, "document.svg"],
        cwd=folder,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@contextlib.asynccontextmanager
async def running(root: Path) -> AsyncIterator[Daemon]:
    """A daemon serving ``root`` on 127.0.0.1 for the ``async with`` block."""
    daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=0))
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


def serve(
    tmp_path: Path,
    drawing: bytes,
    body: Callable[[Daemon, Path], Awaitable[None]],
    *,
    watch: WatchSettings | None = None,
    **settings: Any,
) -> None:
    """A daemon on 127.0.0.1 over one document holding ``drawing``; ``watch`` gives its
    watcher other grouping settings (a slow watcher widens a race into a sure thing)."""
    root, folder = setup_root(tmp_path)
    if drawing != BASE:
        (folder / "document.svg").write_bytes(drawing)
        subprocess.run(["git", "commit", "-qam", "Drawing"], cwd=folder, check=True)

    async def main() -> None:
        daemon = Daemon(Settings(root=root, port=0, watch_files=watch is None, **settings))
        await daemon.start()
        if watch is not None:
            daemon.watcher = Watcher(daemon, root, watch)
            await daemon.watcher.start()
        try:
            await body(daemon, folder)
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(main(), 300))


# -- item: the debounced write and an outside edit ------------------------------------------


@pytest.mark.parametrize(
    ("count", "delay_s", "writer"),
    [(2, 0.15, "sed"), (5000, 0.5, "sed"), (2, 0.15, "in place")],
    ids=["small", "large", "small-in-place"],
)
def test_an_outside_edit_made_before_the_debounced_write_reaches_clients_and_the_file(
    tmp_path: Path, count: int, delay_s: float, writer: str
) -> None:
    """A live update of r0, then ``sed -i`` (or a save that truncates and writes the file
    in place) on r1 ``delay_s`` later, before the write."""

    async def body(daemon: Daemon, folder: Path) -> None:
        file = folder / "document.svg"
        alice = await Client.connect(daemon)
        await alice.join("alice")
        await alice.op("alice", "r0", {"fill": "green"}, "a1")
        acked = time.monotonic()
        await asyncio.sleep(max(0.0, acked + delay_s - time.monotonic()))  # the user's pace
        if writer == "sed":
            await sed(folder, 's/id="r1" x="1" y="0" width="1"/id="r1" x="1" y="0" width="7"/')
        else:
            save(
                file,
                file.read_bytes().replace(
                    b'id="r1" x="1" y="0" width="1"', b'id="r1" x="1" y="0" width="7"'
                ),
            )
        on_disk = file.read_bytes()
        # The outside edit is in the window: the file has it, the live edit is not written.
        assert b'width="7"' in on_disk and b'fill="green"' not in on_disk
        (op,) = await alice.external_ops()
        assert (op["element_id"], op["data"]["attributes"]) == ("r1", {"width": "7"})
        live = daemon.rooms["doc@main"].live.files["document.svg"]
        assert live.get("r0").get("fill") == "green" and live.get("r1").get("width") == "7"
        await until(lambda: b'fill="green"' in file.read_bytes(), "the write of the merged state")
        svg = file.read_text()
        assert attribute(svg, "r0", "fill") == "green" and attribute(svg, "r1", "width") == "7"
        assert not [m for m in alice.seen if m["type"] == "conflict_detected"]

    # The write comes 1.5 s after the live edit; the watcher groups changes for 3 s of
    # quiet, so the outside edit is still unmerged when the write is due.
    serve(
        tmp_path,
        big_drawing(count),
        body,
        write_debounce_ms=1500,
        watch=WatchSettings(debounce_ms=8000, step_ms=3000),
    )


# -- item: a stale editor's save --------------------------------------------------------------


async def live_work(alice: Client, file: Path) -> None:
    """Live edits the daemon writes: a new element and a changed fill."""
    await alice.send(
        type="operation",
        operation_type="create",
        user_id="alice",
        element_id="door",
        data={
            "type": "rectangle",
            "position": {"x": 40, "y": 40},
            "attributes": {"width": "5", "height": "9"},
        },
        op_id="a1",
        timestamp=time.time(),
    )
    assert (await alice.expect("ack", lambda m: m["op_id"] == "a1"))["status"] == "applied"
    await alice.op("alice", "r", {"fill": "blue"}, "a2")
    await until(
        lambda: b'id="door"' in file.read_bytes() and b'fill="blue"' in file.read_bytes(),
        "the live work on disk",
    )


async def both_on_disk(file: Path, *, timeout: float = WATCH_TIMEOUT) -> None:
    """The editor's change (``c r=9``) and the live work (door, blue fill) are in the file."""
    await until(
        lambda: b'r="9"' in file.read_bytes() and b'id="door"' in file.read_bytes(),
        "the merged state on disk",
        timeout=timeout,
    )
    svg = file.read_text()
    assert attribute(svg, "r", "fill") == "blue" and attribute(svg, "door", "width") == "5"


def no_outside_delete(client: Client) -> None:
    """No deletion from the outside save reached ``client``."""
    assert not [
        o
        for m in client.seen
        if m["type"] == "operations"
        for o in m["operations"]
        if o["user_id"] == "external" and o["operation_type"] == "delete"
    ]


def test_a_stale_editors_save_applies_only_its_own_change(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        file = folder / "document.svg"
        loaded = file.read_bytes()  # an editor opens the file...
        alice, bob = await Client.connect(daemon), await Client.connect(daemon)
        await alice.join("alice")
        await bob.join("bob")
        await live_work(alice, file)
        # ...and saves its copy, with one change of its own, after the live work.
        save(file, loaded.replace(b'r="5"', b'r="9"'))
        for c in (alice, bob):
            (op,) = await c.external_ops()
            assert (op["element_id"], op["data"]["attributes"]) == ("c", {"r": "9"})
        live = daemon.rooms["doc@main"].live.files["document.svg"]
        assert live.find("door") is not None and live.get("r").get("fill") == "blue"
        assert live.get("c").get("r") == "9"
        await both_on_disk(file)
        # What the save would undo, read as an up-to-date copy, is reported, live kept.
        found = await bob.expect("conflict_detected")
        unread = {(c["element_id"], c["key"]): c for c in found["conflicts"]}
        assert sorted(unread) == [("door", "#exists"), ("r", "@fill")]
        assert {(c["kind"], c["status"], c["winner"]) for c in unread.values()} == {
            ("stale_save", "auto_resolved", "earlier")
        }
        fill = unread[("r", "@fill")]
        assert (fill["base"], fill["ours"], fill["theirs"]) == ("red", "blue", "red")
        assert not [
            c
            for m in alice.seen
            if m["type"] == "conflict_detected"
            for c in m["conflicts"]
            if c["kind"] != "stale_save"
        ]

    serve(tmp_path, BASE, body, write_debounce_ms=0)


def test_a_stale_editors_change_to_what_was_edited_live_is_a_reported_conflict(
    tmp_path: Path,
) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        file = folder / "document.svg"
        loaded = file.read_bytes()
        alice = await Client.connect(daemon)
        await alice.join("alice")
        await live_work(alice, file)
        save(file, loaded.replace(b'fill="red"', b'fill="yellow"'))
        found = await alice.expect("conflict_detected")
        (conflict,) = found["conflicts"]
        assert (conflict["element_id"], conflict["attribute"]) == ("r", "fill")
        assert conflict["users"] == ["alice", "external"] and conflict["status"] == "open"
        live = daemon.rooms["doc@main"].live.files["document.svg"]
        # manual holds the editor's fill; the element created live is still there.
        assert live.get("r").get("fill") == "blue" and live.find("door") is not None
        await until(lambda: b'id="door"' in file.read_bytes(), "the live state written back")

    serve(tmp_path, BASE, body, write_debounce_ms=0, default_strategy="manual")


def test_the_written_versions_outlive_a_restart(tmp_path: Path) -> None:
    root, folder = setup_root(tmp_path)
    file = folder / "document.svg"
    loaded = file.read_bytes()

    async def main() -> None:
        async with running(root) as daemon:
            alice = await Client.connect(daemon)
            await alice.join("alice")
            await live_work(alice, file)
        async with running(root) as daemon:
            bob = await Client.connect(daemon)
            await bob.join("bob")
            save(file, loaded.replace(b'r="5"', b'r="9"'))
            (op,) = await bob.external_ops()
            assert (op["element_id"], op["data"]["attributes"]) == ("c", {"r": "9"})
            live = daemon.rooms["doc@main"].live.files["document.svg"]
            assert live.find("door") is not None and live.get("r").get("fill") == "blue"
        # Saved while no daemon runs: the next start merges it from the same versions.
        save(file, loaded.replace(b'cy="50"', b'cy="70"'))
        async with running(root) as daemon:
            carol = await Client.connect(daemon)
            svg = (await carol.join("carol"))["files"]["document.svg"]
            assert attribute(svg, "door", "width") == "5" and attribute(svg, "r", "fill") == "blue"
            assert attribute(svg, "c", "r") == "9" and attribute(svg, "c", "cy") == "70"

    asyncio.run(asyncio.wait_for(main(), 90))


def test_a_terminal_checkout_shows_the_branchs_unversioned_live_work(tmp_path: Path) -> None:
    """git checkout writes the branch's committed files; the daemon writes the branch's
    live state over them on purpose, and nothing of it is taken for an outside edit."""
    root, folder = setup_root(tmp_path)
    file = folder / "document.svg"

    async def main() -> None:
        async with running(root) as daemon:
            bob = await Client.connect(daemon)
            await bob.join("bob")
            await bob.send(type="version", action="create_branch", branch="idea")
            await bob.expect("branch_created")
            await bob.send(type="version", action="switch_branch", branch="idea")
            await bob.expect("welcome", lambda m: m["branch"] == "idea")
            # Live work on a branch that is not checked out: journaled, in no file.
            await bob.op("bob", "c", {"r": "30"}, "b1")
        # After a restart the branch's session starts from its checkpoint.
        async with running(root) as daemon:
            alice, bob = await Client.connect(daemon), await Client.connect(daemon)
            await alice.join("alice")
            await bob.join("bob", "doc@idea")
            assert b'r="30"' not in file.read_bytes()
            await git_cli(folder, "checkout", "-q", "idea")
            await alice.expect("welcome", lambda m: m["branch"] == "idea")
            await until(lambda: b'r="30"' in file.read_bytes(), "the branch's live state on disk")
            await bob.op("bob", "r", {"x": "4"}, "b2")  # and the session goes on
            await until(lambda: b'x="4"' in file.read_bytes(), "the next write")
            live = daemon.rooms["doc@idea"].live.files["document.svg"]
            assert live.get("c").get("r") == "30"
            assert not [
                o
                for c in (alice, bob)
                for m in c.seen
                if m["type"] == "operations"
                for o in m["operations"]
                if o["user_id"] == "external"
            ]

    asyncio.run(asyncio.wait_for(main(), 90))


def test_inkscape_saving_a_copy_opened_before_live_edits_keeps_them(tmp_path: Path) -> None:
    """The stale editor is Inkscape: its first save re-indents the file and adds its own
    namespaces and elements, and still brings only what it changed."""
    inkscape = require("inkscape")

    async def body(daemon: Daemon, folder: Path) -> None:
        file = folder / "document.svg"
        opened = tmp_path / "editor" / "document.svg"  # Inkscape's copy, read now
        opened.parent.mkdir()
        opened.write_bytes(file.read_bytes())
        alice = await PatientClient.connect(daemon)
        await alice.join("alice")
        await live_work(alice, file)
        done = await asyncio.to_thread(
            subprocess.run,
            [
                inkscape,
                "--actions=select-by-id:c;object-set-attribute:r,9",
                "--export-overwrite",
                "--export-type=svg",
                str(opened),
            ],
            capture_output=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert b"sodipodi:namedview" in opened.read_bytes()
        save(file, opened.read_bytes())  # Inkscape's save lands on the working tree
        live = daemon.rooms["doc@main"].live
        await until(
            lambda: live.files["document.svg"].get("c").get("r") == "9",
            "Inkscape's edit",
            timeout=60,
        )
        drawing = live.files["document.svg"]
        assert drawing.find("door") is not None and drawing.get("r").get("fill") == "blue"
        await both_on_disk(file, timeout=60)
        no_outside_delete(alice)

    serve(tmp_path, BASE, body, write_debounce_ms=0)


def test_a_stale_editors_save_after_git_checkout_b_keeps_the_live_work(tmp_path: Path) -> None:
    """``git checkout -b`` keeps the files: the versions they held follow them to the new
    branch's session, so an editor that opened the file before the live work and saves
    after the checkout still brings only its own change."""

    async def body(daemon: Daemon, folder: Path) -> None:
        file = folder / "document.svg"
        loaded = file.read_bytes()  # an editor opens the file...
        alice = await Client.connect(daemon)
        await alice.join("alice")
        await live_work(alice, file)
        await git_cli(folder, "checkout", "-q", "-b", "feature")
        await alice.expect("welcome", lambda m: m["branch"] == "feature")
        # ...and saves its copy, with one change of its own, on the new branch.
        save(file, loaded.replace(b'r="5"', b'r="9"'))
        await until(
            lambda: (
                "doc@feature" in daemon.rooms
                and daemon.rooms["doc@feature"].live.files["document.svg"].get("c").get("r") == "9"
            ),
            "the editor's change live",
        )
        live = daemon.rooms["doc@feature"].live.files["document.svg"]
        assert live.find("door") is not None and live.get("r").get("fill") == "blue"
        await both_on_disk(file)
        no_outside_delete(alice)

    serve(tmp_path, BASE, body, write_debounce_ms=0)


async def fill_then_door(alice: Client, file: Path) -> bytes:
    """A live fill, written, then the live work: returns the file with the fill alone, a
    version git has not seen."""
    await alice.op("alice", "r", {"fill": "blue"}, "a0")
    await until(lambda: b'fill="blue"' in file.read_bytes(), "the fill on disk")
    blue = file.read_bytes()
    await live_work(alice, file)
    return blue


@pytest.mark.parametrize("writer", ["same bytes", "re-indented"])
def test_a_save_that_deletes_what_was_created_live_since_is_a_reported_conflict(
    tmp_path: Path, writer: str
) -> None:
    """An editor opens the file with the door made live, deletes the door, saves: its
    elements are an older version's, so it reads as a stale copy with no change of its
    own and the door stays; the deletion is a stale_save conflict, and theirs deletes."""

    async def body(daemon: Daemon, folder: Path) -> None:
        file = folder / "document.svg"
        alice, bob = await Client.connect(daemon), await Client.connect(daemon)
        await alice.join("alice")
        await bob.join("bob")
        blue = await fill_then_door(alice, file)
        without = blue if writer == "same bytes" else blue.replace(b"  <", b"    <")
        save(file, without)  # the editor's copy had the door; the user deleted it
        for c in (alice, bob):
            found = await c.expect(
                "conflict_detected",
                lambda m: any(x["kind"] == "stale_save" for x in m["conflicts"]),
            )
            (conflict,) = found["conflicts"]
            assert (conflict["element_id"], conflict["key"]) == ("door", "#exists")
            assert conflict["status"] == "auto_resolved" and conflict["winner"] == "earlier"
            assert conflict["users"] == ["alice", "external"]
            assert conflict["later_operation"]["operation_type"] == "delete"
        live = daemon.rooms["doc@main"].live
        assert live.files["document.svg"].find("door") is not None
        await until(lambda: b'id="door"' in file.read_bytes(), "the live state written back")
        assert [c.element_id for c in live.book.open()] == ["door"]
        # The user who deleted it takes the save's reading: the door goes.
        await bob.send(
            type="resolve_conflict",
            conflict_id=conflict["conflict_id"],
            resolution="theirs",
            resolved_by="bob",
        )
        await alice.expect(
            "conflict_resolved", lambda m: m["conflict_id"] == conflict["conflict_id"]
        )
        assert live.files["document.svg"].find("door") is None
        await until(lambda: b'id="door"' not in file.read_bytes(), "the deletion on disk")
        assert not live.book.open()

    serve(tmp_path, BASE, body, write_debounce_ms=0)


def test_a_save_made_while_the_daemon_was_stopped_that_deletes_a_live_element_is_reported(
    tmp_path: Path,
) -> None:
    root, folder = setup_root(tmp_path)
    file = folder / "document.svg"

    async def main() -> None:
        async with running(root) as daemon:
            alice = await Client.connect(daemon)
            await alice.join("alice")
            blue = await fill_then_door(alice, file)
        save(file, blue.replace(b"  <", b"    <"))  # the door deleted while nobody serves
        async with running(root) as daemon:
            bob = await Client.connect(daemon)
            welcome = await bob.join("bob")
            (conflict,) = welcome["conflicts"]
            assert (conflict["kind"], conflict["element_id"], conflict["key"]) == (
                "stale_save",
                "door",
                "#exists",
            )
            assert 'id="door"' in welcome["files"]["document.svg"]
            await bob.send(
                type="resolve_conflict",
                conflict_id=conflict["conflict_id"],
                resolution="theirs",
                resolved_by="bob",
            )
            await bob.expect("conflict_resolved")
            await until(lambda: b'id="door"' not in file.read_bytes(), "the deletion on disk")

    asyncio.run(asyncio.wait_for(main(), 90))


# -- item: a save laid out anew is read beside the event loop -------------------------------

# BASE with r's fill changed, as a program that lays the whole file out its own way saves
# it (Inkscape's first save of a file written by the daemon is such a save).
LAID_OUT_ANEW = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg\n   xmlns="http://www.w3.org/2000/svg"\n   viewBox="0 0 100 100">\n'
    b'  <rect\n     id="r"\n     x="1"\n     y="2"\n     width="10"\n     height="10"\n'
    b'     fill="blue" />\n'
    b'  <circle\n     id="c"\n     cx="50"\n     cy="50"\n     r="5" />\n'
    b"</svg>\n"
)


def test_a_live_edit_made_while_a_save_laid_out_anew_is_read_keeps_that_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The save's text is read in a worker thread, while the daemon goes on serving: an
    operation answered meanwhile is applied again to the tree read, and the file keeps
    the saving program's layout with the live edit in it."""
    reading, go_on = threading.Event(), threading.Event()
    read = SvgDocument.mapped

    def held_read(data: bytes, *, name: str = "document.svg") -> SvgDocument:
        reading.set()
        go_on.wait(TIMEOUT)  # the test lets it go on; never longer than this
        return read(data, name=name)

    monkeypatch.setattr(SvgDocument, "mapped", staticmethod(held_read))

    async def body(daemon: Daemon, folder: Path) -> None:
        alice = await Client.connect(daemon)
        await alice.join("alice")
        file = folder / "document.svg"
        save(file, LAID_OUT_ANEW)
        (op,) = await alice.external_ops()
        assert op["element_id"] == "r" and op["data"]["attributes"] == {"fill": "blue"}
        await until(reading.is_set, "the save's text being read")
        # The read is under way: the daemon still answers, and the edit is live.
        ack = await alice.op("alice", "c", {"r": "7"}, "a1")
        assert ack["status"] == "applied"
        live = daemon.rooms["doc@main"].live
        assert "document.svg" in live.unread and file.read_bytes() == LAID_OUT_ANEW
        go_on.set()
        expected = LAID_OUT_ANEW.replace(b'r="5"', b'r="7"')
        await until(lambda: file.read_bytes() == expected, "the live edit in the saved layout")
        assert not live.unread and live.files["document.svg"].to_bytes() == expected

    try:
        serve(tmp_path, BASE, body)
    finally:
        go_on.set()


# -- item: one save, two reasons to look at it ----------------------------------------------


def test_a_save_looked_at_twice_at_once_is_taken_in_once(tmp_path: Path) -> None:
    """The watcher may be told of one save twice at once: its own event and the recheck
    due for the half-written file the save completed (Inkscape writes a large file in
    pieces), a git hook, a write that found the file changed. The save is taken in once;
    a second look finds it is the file's base already, and does not read it as a stale
    copy that leaves out the changes it just brought."""

    async def body(daemon: Daemon, folder: Path) -> None:
        alice = await Client.connect(daemon)
        await alice.join("alice")
        file = folder / "document.svg"
        await alice.op("alice", "c", {"r": "7"}, "a1")
        await until(lambda: b'r="7"' in file.read_bytes(), "the live edit on disk")
        save(file, file.read_bytes().replace(b'fill="red"', b'fill="blue"'))
        watcher = daemon.watcher
        assert watcher is not None
        await asyncio.gather(
            watcher._handle("doc", {"document.svg"}), watcher._handle("doc", {"document.svg"})
        )
        (op,) = await alice.external_ops()
        assert op["element_id"] == "r" and op["data"]["attributes"] == {"fill": "blue"}
        live = daemon.rooms["doc@main"].live
        assert live.seq == 2 and live.last_written["document.svg"] == file.read_bytes()
        # Answered after everything the two looks sent: no conflict came before it.
        await alice.op("alice", "c", {"r": "8"}, "a2")
        assert not [m for m in alice.seen if m["type"] == "conflict_detected"]

    serve(tmp_path, BASE, body)
