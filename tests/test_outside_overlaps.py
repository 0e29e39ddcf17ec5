"""Outside changes that overlap earlier outside changes, as a terminal user makes them: a
save by one program, then git's own work (``git reset --hard``) or a stale editor's save
touching what that save deleted. Each outside program is another party: what cannot be
applied as it is becomes a reported conflict, never a log line only.

A daemon on 127.0.0.1 port 0, real clients, real files, the real ``git`` command.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from samples import BASE
from test_watcher import Client, clients, git, run, save, serve, setup_root, until

from svgx_sync.daemon.server import Daemon

TALL = BASE.replace(b'width="10" height="10"', b'width="67" height="12"')
WITHOUT_R = BASE.replace(b'  <rect id="r" x="1" y="2" width="10" height="10" fill="red"/>\n', b"")
GROUPED = BASE.replace(b"</svg>", b'  <g id="g">\n    <circle id="gc" r="1"/>\n  </g>\n</svg>')
WITHOUT_G = BASE


def live_of(daemon: Daemon) -> Any:
    return daemon.rooms["doc@main"].live.files["document.svg"]


def naming(element: str) -> Any:
    """A ``conflict_detected`` frame with a conflict on ``element``."""
    return lambda m: any(c["element_id"] == element for c in m["conflicts"])


async def delete_r_outside(daemon: Daemon, folder: Path, a: Client) -> None:
    """Version r at 67x12, then another program deletes r (uncommitted)."""
    save(folder / "document.svg", TALL)
    await a.external_ops()
    await git(folder, "commit", "-q", "-am", "Tall rect")
    await a.expect("version_created", lambda m: m.get("source") == "git")
    save(folder / "document.svg", WITHOUT_R)
    (deleted,) = await a.external_ops()
    assert deleted["operation_type"] == "delete" and deleted["element_id"] == "r"
    assert live_of(daemon).find("r") is None


@pytest.mark.parametrize(
    ("strategy", "status", "kept"),
    [
        ("automatic", "auto_resolved", True),
        ("reject", "rejected", False),
        ("manual", "open", False),
    ],
)
def test_a_reset_that_changes_what_an_outside_save_deleted_is_a_conflict(
    tmp_path: Path, strategy: str, status: str, kept: bool
) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        a, b = await clients(daemon, "alice", "bob")
        await delete_r_outside(daemon, folder, a)
        # git goes back to the version where r is 10x10: its change to r meets the
        # deletion, which no version holds.
        await git(folder, "reset", "-q", "--hard", "HEAD~1")
        for c in (a, b):
            found = await c.expect("conflict_detected", naming("r"))
            (conflict,) = [c for c in found["conflicts"] if c["element_id"] == "r"]
            assert conflict["kind"] == "delete_edit" and conflict["file"] == "document.svg"
            assert conflict["status"] == status
            assert conflict["users"] == ["external", "external"]
        await a.expect("head_moved")
        r = live_of(daemon).find("r")
        if kept:
            # Like an edit of an element another user deleted: the edit brings it back.
            assert r is not None and (r.get("width"), r.get("height")) == ("10", "10")
        else:
            assert r is None
        await until(
            lambda: (b'id="r"' in (folder / "document.svg").read_bytes()) == kept,
            "the merged live state on disk",
        )

        # The existing resolve flow takes the other side: here, git's 10x10 rect.
        choice = "ours" if kept else "theirs"
        await b.send(
            type="resolve_conflict",
            conflict_id=conflict["conflict_id"],
            resolution=choice,
            resolved_by="bob",
        )
        for c in (a, b):
            done = await c.expect("conflict_resolved")
            assert done["conflict"]["conflict_id"] == conflict["conflict_id"]
        r = live_of(daemon).find("r")
        if kept:
            assert r is None
        else:
            assert r is not None and (r.get("width"), r.get("height")) == ("10", "10")
        await until(
            lambda: (b'id="r"' in (folder / "document.svg").read_bytes()) != kept,
            "the resolution on disk",
        )

    run(tmp_path, body, default_strategy=strategy)


def test_a_reset_conflict_is_welcomed_and_survives_a_restart(tmp_path: Path) -> None:
    root, folder = setup_root(tmp_path)
    found: list[str] = []

    async def before(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        await delete_r_outside(daemon, folder, a)
        await git(folder, "reset", "-q", "--hard", "HEAD~1")
        conflict = (await a.expect("conflict_detected", naming("r")))["conflicts"][0]
        found.append(conflict["conflict_id"])
        (carol,) = await clients(daemon, "carol")
        assert found[0] in [c["conflict_id"] for c in carol.seen[0]["conflicts"]]

    async def after(daemon: Daemon, folder: Path) -> None:
        (dave,) = await clients(daemon, "dave")
        (conflict,) = [c for c in dave.seen[0]["conflicts"] if c["conflict_id"] == found[0]]
        assert (conflict["kind"], conflict["element_id"]) == ("delete_edit", "r")

    serve(root, folder, before)
    serve(root, folder, after)


def test_a_stale_save_into_a_group_deleted_outside_is_a_conflict(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        save(folder / "document.svg", GROUPED)
        await a.external_ops()
        await until(lambda: live_of(daemon).find("g") is not None, "the group live")
        # An editor loads the file with g; another program deletes g...
        stale = (folder / "document.svg").read_bytes()
        save(folder / "document.svg", WITHOUT_G)
        await a.external_ops()
        assert live_of(daemon).find("g") is None
        # ...and the editor saves its copy with a new circle inside g.
        save(
            folder / "document.svg",
            stale.replace(
                b'<circle id="gc" r="1"/>', b'<circle id="gc" r="1"/><circle id="n" r="2"/>'
            ),
        )
        found = await a.expect("conflict_detected", naming("n"))
        (conflict,) = [c for c in found["conflicts"] if c["element_id"] == "n"]
        assert conflict["kind"] == "delete_edit" and conflict["parent"] == "g"
        assert conflict["users"] == ["external", "external"]
        assert 'id="n"' in conflict["later_operation"]["data"]["markup"]
        # As for a person's insert into a deleted group: the group comes back with it...
        assert live_of(daemon).find("g") is not None and live_of(daemon).find("n") is not None
        await until(lambda: b'id="n"' in (folder / "document.svg").read_bytes(), "the write")
        # ...and the deletion can still be chosen.
        await a.send(
            type="resolve_conflict",
            conflict_id=conflict["conflict_id"],
            resolution="ours",
            resolved_by="alice",
        )
        await a.expect("conflict_resolved")
        assert live_of(daemon).find("g") is None and live_of(daemon).find("n") is None
        await until(
            lambda: b'id="g"' not in (folder / "document.svg").read_bytes(),
            "the resolution on disk",
        )

    run(tmp_path, body)


def test_an_outside_event_handler_is_kept_on_disk_and_served_inert(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        # sed adds an event handler (never sent to clients) beside an ordinary change.
        done = await asyncio.to_thread(
            subprocess.run,
            [
                "sed",
                "-i",
                "-e",
                's/fill="red"/fill="red" onclick="alert(1)"/',
                "-e",
                's/r="5"/r="6"/',
                str(folder / "document.svg"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        ops = await a.external_ops(2)
        handler = next(o for o in ops if o["element_id"] == "r")
        assert handler["data"]["attributes"] == {"onclick": None}
        assert [f["attribute"] for f in handler["active_content"]] == ["onclick"]
        assert live_of(daemon).find("c").get("r") == "6"
        assert live_of(daemon).find("r").get("onclick") == "alert(1)"
        # The file keeps what the other program saved; no conflict is made of it.
        await a.op("alice", "c", {"fill": "blue"}, "a1")
        await until(
            lambda: b'fill="blue"' in (folder / "document.svg").read_bytes(), "the live edit"
        )
        assert b'onclick="alert(1)"' in (folder / "document.svg").read_bytes()
        assert not any(m["type"] == "conflict_detected" for m in a.seen)

    run(tmp_path, body)
