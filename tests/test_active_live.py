"""Active content at the edges, from the user's side: a daemon on 127.0.0.1 port 0, real
websockets clients, real files written beside it, and ``git merge`` through our driver.

A client that sends active content is refused and nothing of it is applied, sent or
written; what another program saves, or a merge brings, is kept in the file and in git,
and served to the clients inert, saying what was made inert (docs/security.md).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from samples import BASE
from test_git_merge_driver import svgx
from test_watcher import Client, clients, git, git_run, run, save, until

from svgx_sync.daemon.server import Daemon

DOC = "document.svg"

# One case a line, so that the table reads as a table.
# fmt: off
# (case, operation type, element, data, what the error names)
ATTACKS: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("markup onload", "create", "x", {"markup": '<rect onload="alert(1)"/>'}, '<rect id="x">: event handler attribute onload'),
    ("attribute", "update", "r", {"attributes": {"onclick": "alert(1)"}}, '<rect id="r">: event handler attribute onclick'),
    ("script url", "update", "r", {"attributes": {"xlink:href": "java\tscript:alert(1)"}}, '<rect id="r">: xlink:href holds a URL that runs script'),
    ("markup script", "create", "x", {"markup": "<g><script>alert(1)</script></g>"}, "<script>: an element that runs script"),
    ("use outside", "create", "x", {"type": "use", "attributes": {"href": "https://evil.example/x.svg#a"}}, '<use id="x">: href points outside the document'),
    ("style url", "update", "c", {"style": "fill:url(https://evil.example/p.svg#g)"}, '<circle id="c">: CSS url()'),
]
# fmt: on


def on_disk(folder: Path) -> bytes:
    return (folder / DOC).read_bytes()


def operations_seen(client: Client) -> list[dict[str, Any]]:
    return [o for m in client.seen if m["type"] == "operations" for o in m["operations"]]


@pytest.mark.parametrize(
    ("kind", "element", "data", "named"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS]
)
def test_active_content_from_a_client_is_refused_to_it_alone(
    tmp_path: Path, kind: str, element: str, data: dict[str, Any], named: str
) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        alice, bob = await clients(daemon, "alice", "bob")
        await alice.send(
            type="operation",
            operation_type=kind,
            user_id="alice",
            element_id=element,
            data=data,
            op_id="attack-1",
        )
        refused = await alice.expect("error", lambda m: m.get("op_id") == "attack-1")
        assert refused["code"] == "active_content"
        assert named in refused["message"], refused["message"]
        # The session goes on: the sender's next operation is applied and broadcast alone.
        ack = await alice.op("alice", "r", {"width": "33"}, "fine-1")
        assert ack["status"] == "applied" and ack["seq"] == 1
        frame = await bob.expect("operations")
        assert [o["op_id"] for o in frame["operations"]] == ["fine-1"]
        assert all(o["op_id"] != "attack-1" for c in (alice, bob) for o in operations_seen(c))
        await until(lambda: b'width="33"' in on_disk(folder), "the next edit on disk")
        text = on_disk(folder)
        for trace in (b"alert", b"evil.example", b"script", b"attack"):
            assert trace not in text
        assert daemon.rooms["doc@main"].live.seq == 1

    run(tmp_path, body)


# -- what other programs save ---------------------------------------------------------------------

HOSTILE = BASE.replace(
    b'fill="red"/>', b'fill="red" onclick="alert(1)"/>\n  <script id="s">alert(2)</script>'
).replace(
    b"</svg>",
    b'  <use id="u" href="https://evil.example/x.svg#a"/>\n  <use id="ok" href="#r"/>\n</svg>',
)


async def outside_ops(client: Client, elements: set[str]) -> list[dict[str, Any]]:
    """The outside operations until each of ``elements`` has had one."""
    got: list[dict[str, Any]] = []
    while not elements <= {o["element_id"] for o in got}:
        got += await client.external_ops()
    return got


def test_active_content_saved_beside_the_daemon_is_kept_and_served_inert(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (alice,) = await clients(daemon, "alice")
        save(folder / DOC, HOSTILE)
        ops = await outside_ops(alice, {"r", "s", "u", "ok"})
        sent = json.dumps(ops)
        assert "alert" not in sent and "evil.example" not in sent
        flagged = {(f["element_id"], f["kind"]) for o in ops for f in o.get("active_content", [])}
        assert flagged == {
            ("r", "event_handler"),
            ("s", "active_element"),
            ("u", "external_reference"),
        }
        assert next(o for o in ops if o["element_id"] == "ok").get("active_content") is None
        # The live state and the file keep what the other program saved.
        live = daemon.rooms["doc@main"].live
        assert live.files[DOC].get("r").get("onclick") == "alert(1)"
        await alice.op("alice", "c", {"fill": "blue"}, "a1")
        await until(lambda: b'fill="blue"' in on_disk(folder), "the live edit on disk")
        assert on_disk(folder) == HOSTILE.replace(b'r="5"/>', b'r="5" fill="blue"/>')
        # So does git: a version holds it as saved.
        await alice.send(
            type="version", action="create_version", created_by="alice", description="V"
        )
        await alice.expect("version_created")
        committed = (await git(folder, "show", f"HEAD:{DOC}")).encode()
        assert b'onclick="alert(1)"' in committed and b"alert(2)" in committed

    run(tmp_path, body)


# -- a merge through our driver -------------------------------------------------------------------


def test_active_content_a_merge_brings_is_kept_reported_and_served_inert(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        done = await asyncio.to_thread(svgx, folder, "git-setup")
        assert done.returncode == 0, done.stderr
        upstream = folder.parent / "upstream"
        await git(folder.parent, "clone", "-q", str(folder), str(upstream))
        (alice,) = await clients(daemon, "alice")
        # Upstream adds an event handler and a script; here the circle is made blue.
        (upstream / DOC).write_bytes(HOSTILE)
        await git(upstream, "commit", "-q", "-am", "Hostile")
        await alice.op("alice", "c", {"fill": "blue"}, "a1")
        await until(lambda: b"blue" in on_disk(folder), "the write")
        await git(folder, "commit", "-q", "-am", "Blue circle")
        pulled = await git_run(folder, "pull", "--no-rebase", "-q", str(upstream), "main")
        assert pulled.returncode == 0, pulled.stderr
        reported = [line for line in pulled.stderr.splitlines() if "active content" in line]
        assert len(reported) == 3, pulled.stderr
        assert any('<rect id="r">: event handler attribute onclick' in line for line in reported)
        assert any('<script id="s">' in line for line in reported)
        assert any('<use id="u">: href points outside' in line for line in reported)
        assert all(line.startswith(f"svgx-sync: {DOC}: ") for line in reported)
        # The merge keeps it: the file has both sides.
        merged = on_disk(folder)
        assert b'onclick="alert(1)"' in merged and b'fill="blue"' in merged
        # The daemon takes the merged file in and serves it inert.
        ops = await outside_ops(alice, {"r", "s", "u"})
        assert "alert" not in json.dumps(ops) and "evil.example" not in json.dumps(ops)
        assert all(o.get("active_content") for o in ops if o["element_id"] in ("r", "s", "u"))

    run(tmp_path, body)


def test_the_driver_reports_only_what_the_merge_brings(tmp_path: Path, git: Any) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    ours = BASE.replace(b'r="5"', b'r="5" onmouseover="x()"')
    (repo / DOC).write_bytes(ours)
    git(repo, "add", DOC)
    git(repo, "commit", "-q", "-m", "ours has a handler already")
    assert svgx(repo, "git-setup").returncode == 0
    git(repo, "checkout", "-q", "-b", "other")
    (repo / DOC).write_bytes(ours.replace(b'fill="red"', b'fill="red" onclick="alert(1)"'))
    git(repo, "commit", "-q", "-am", "theirs adds one")
    git(repo, "checkout", "-q", "main")
    (repo / DOC).write_bytes(ours.replace(b'x="1"', b'x="3"'))
    git(repo, "commit", "-q", "-am", "ours moves the rect")
    done = asyncio.run(git_run(repo, "merge", "-q", "--no-edit", "other"))
    assert done.returncode == 0, done.stderr
    reported = [line for line in done.stderr.splitlines() if "active content" in line]
    assert reported == [
        f"svgx-sync: {DOC}: active content (kept, served inert): line 3: "
        '<rect id="r">: event handler attribute onclick'
    ]
    merged = (repo / DOC).read_bytes()
    assert b'onclick="alert(1)"' in merged and b'x="3"' in merged and b"onmouseover" in merged
