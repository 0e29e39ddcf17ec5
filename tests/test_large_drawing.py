"""A generated 60k-element drawing (4.6 MB) used as its users would: two editors with a
client's default 1 MiB message limit, a script rewriting the file beside them, versions
read back with ``git``, the diff endpoint, and ``git merge`` through our driver.

Every wait is for an event under a deadline; how long each step takes is for
``benchmarks/`` (``bench_outside.py``, ``bench_memory.py``, ``bench_merge.py``) to print.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from browser import Served
from lxml import etree
from samples import big_drawing
from websockets.sync.client import ClientConnection, connect

from svgx_sync.git.drivers import setup_repository

COUNT = 60_000
DEADLINE_S = 120.0
SVG = "{http://www.w3.org/2000/svg}"


def join(ws: ClientConnection, user: str, document: str) -> dict[str, Any]:
    ws.send(json.dumps({"type": "join", "user_id": user, "username": user, "session_id": document}))
    return expect(ws, lambda m: m["type"] == "welcome")


def expect(ws: ClientConnection, wanted: Any) -> dict[str, Any]:
    """The first message ``wanted`` accepts, under the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while (left := deadline - time.monotonic()) > 0:
        message = json.loads(ws.recv(timeout=left))
        if message.get("type") == "error":
            raise AssertionError(f"the daemon answered an error: {message}")
        if wanted(message):
            return message
    raise AssertionError("the awaited message did not come")


def operations_on(element: str) -> Any:
    return lambda m: (
        m["type"] == "operations" and any(op["element_id"] == element for op in m["operations"])
    )


def update(ws: ClientConnection, user: str, op_id: str, element: str, **attributes: str) -> None:
    data = {"attributes": attributes}
    message = {"type": "operation", "operation_type": "update", "op_id": op_id,
               "user_id": user, "element_id": element, "data": data}  # fmt: skip
    ws.send(json.dumps(message))
    expect(ws, lambda m: m["type"] == "ack" and m["op_id"] == op_id)


def fill_of(data: bytes, element: str) -> str | None:
    match = re.search(rb'<rect id="%s" [^>]*fill="([^"]*)"' % element.encode(), data)
    return match.group(1).decode() if match else None


def until(found: Any) -> Any:
    """``found()`` once it is not None, polled under the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = found()
        if value is not None:
            return value
        time.sleep(0.05)
    raise AssertionError("the awaited state did not come")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}{done.stdout}"
    return done.stdout


def test_a_60k_element_drawing_edited_live_beside_a_script_and_versioned(served: Any) -> None:
    daemon: Served = served(documents={"plan": big_drawing(COUNT)})
    path = daemon.file("plan")
    with connect(daemon.ws) as ada, connect(daemon.ws) as bob:  # max_size: 1 MiB
        welcome = join(ada, "ada", "plan")
        join(bob, "bob", "plan")
        assert welcome["file_urls"] == {"document.svg": "/d/plan/raw/document.svg"}

        update(ada, "ada", "a1", "r123", fill="red")
        expect(bob, operations_on("r123"))

        # A script changes one element of the file on disk, as editors save (a rename).
        def written() -> bytes | None:  # the debounced write of a1, on disk
            data = path.read_bytes()
            return data if fill_of(data, "r123") == "red" else None

        on_disk = until(written)
        saved = on_disk.replace(b'<rect id="r45000" x="0" y="450" width="1" height="1" fill="gray"/>',
                                b'<rect id="r45000" x="0" y="450" width="1" height="1" fill="blue"/>')  # fmt: skip
        assert saved != on_disk
        temporary = path.with_name(".document.svg.tmp")
        temporary.write_bytes(saved)
        os.replace(temporary, path)
        external = expect(bob, operations_on("r45000"))
        (op,) = [o for o in external["operations"] if o["element_id"] == "r45000"]
        assert op["user_id"] == "external"
        assert op["data"]["attributes"]["fill"] == "blue"

        ada.send(json.dumps({"type": "version", "action": "create_version",
                             "created_by": "ada", "description": "Red and blue"}))  # fmt: skip
        version = expect(ada, lambda m: m["type"] == "version_created")

    repo = daemon.root / "plan"
    committed = git(repo, "show", f"{version['version_id']}:document.svg").encode()
    assert fill_of(committed, "r123") == "red" and fill_of(committed, "r45000") == "blue"
    assert len(etree.fromstring(committed).findall(f"{SVG}rect")) == COUNT
    assert git(repo, "log", "-1", "--format=%s").strip() == "Red and blue"

    before = git(repo, "rev-parse", f"{version['version_id']}~1").strip()
    diff = f"{daemon.url}/api/d/plan/diff?from={before}&to={version['version_id']}"
    with urllib.request.urlopen(diff, timeout=DEADLINE_S) as response:
        plain = response.read()
        assert response.headers["Content-Encoding"] is None
    changes = json.loads(plain)["changes"]
    assert sorted((c["element_id"], c["kind"]) for c in changes) == [
        ("r123", "changed"),
        ("r45000", "changed"),
    ]
    # A browser asks for gzip: the answer (both sides' files, 11 MB) comes in a tenth.
    asked = urllib.request.Request(diff, headers={"Accept-Encoding": "gzip, deflate, br"})
    with urllib.request.urlopen(asked, timeout=DEADLINE_S) as response:
        packed = response.read()
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Vary"] == "Accept-Encoding"
        assert int(response.headers["Content-Length"]) == len(packed)
    assert len(packed) < len(plain) / 5
    assert gzip.decompress(packed) == plain


def test_a_script_replacing_a_small_drawing_by_a_60k_one_reaches_editors_of_both_documents(
    served: Any,
) -> None:
    """A script writes a generated 60k-element sheet over a document's small drawing while
    another document is being edited: the live edit of the small drawing is kept in a
    version, the new sheet reaches its editor as the whole file (inert), and a save of
    the other document is not held behind it. It used to take the
    watcher minutes (each of the 60k placements walked the root's children), and the
    other document waited that long."""
    small = big_drawing(3)
    daemon: Served = served(documents={"plan": small, "notes": small})
    sheet = big_drawing(COUNT).replace(b'<rect id="r7"', b'<rect id="r7" onclick="alert(1)"', 1)
    with connect(daemon.ws) as ada, connect(daemon.ws) as bob:  # max_size: 1 MiB
        join(ada, "ada", "plan")
        join(bob, "bob", "notes")
        plan, notes = daemon.file("plan"), daemon.file("notes")
        # A live edit the script's file does not have: kept in a version, not merged.
        update(ada, "ada", "a0", "r2", fill="green")
        until(lambda: fill_of(plan.read_bytes(), "r2") == "green" or None)
        temporary = plan.with_name(".document.svg.tmp")
        temporary.write_bytes(sheet)
        os.replace(temporary, plan)
        notes.write_bytes(small.replace(b'id="r1" x="1"', b'id="r1" x="9"'))

        moved = expect(bob, operations_on("r1"))
        (op,) = [o for o in moved["operations"] if o["element_id"] == "r1"]
        assert op["user_id"] == "external" and op["data"]["attributes"]["x"] == "9"

        got: dict[str, dict[str, Any]] = {}  # the sheet, and the warning that follows it

        def both(message: dict[str, Any]) -> bool:
            if message["type"] in ("operations", "external_loss"):
                got[message["type"]] = message
            return len(got) == 2

        expect(ada, both)
        warned = got["external_loss"]
        assert warned["live_edits_replaced"] and warned["version_id"]
        (entry,) = got["operations"]["operations"]
        assert entry["operation_type"] == "file_add" and entry["user_id"] == "external"
        # 4.6 MB: named by its address, not carried (the frame would close ada, 1009)
        assert entry["data"] == {"markup_url": "/d/plan@main/raw/document.svg"}
        with urllib.request.urlopen(daemon.url + entry["data"]["markup_url"]) as response:
            markup = response.read()
            assert int(response.headers["X-Svgx-Seq"]) >= entry["seq"]
        assert len(etree.fromstring(markup).findall(f"{SVG}rect")) == COUNT
        assert b"onclick" not in markup and entry["active_content"]

        # The sheet is the live file now: an edit of it is taken and written to disk.
        update(ada, "ada", "a1", "r59999", fill="red")

    def written() -> bytes | None:
        data = plan.read_bytes()
        return data if fill_of(data, "r59999") == "red" else None

    on_disk = until(written)
    assert b'onclick="alert(1)"' in on_disk and fill_of(on_disk, "r7") == "gray"
    assert len(etree.fromstring(on_disk).findall(f"{SVG}rect")) == COUNT
    kept = git(daemon.root / "plan", "show", f"{warned['version_id']}:document.svg").encode()
    assert fill_of(kept, "r2") == "green" and b'id="r3"' not in kept


def test_git_merge_of_a_60k_element_drawing_merges_element_by_element(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "plan"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    setup_repository(repo)
    base = big_drawing(COUNT)
    (repo / "document.svg").write_bytes(base)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Plan")

    def edited(first: int, fill: bytes) -> bytes:
        """150 elements from ``first`` on, every other one, with another fill."""
        lines = base.split(b"\n")
        for n in range(first, first + 300, 2):
            lines[n + 2] = lines[n + 2].replace(b'fill="gray"', b'fill="%s"' % fill)
        return b"\n".join(lines)

    # Both sides change lines next to each other: git's line merge conflicts; ours does not.
    git(repo, "checkout", "-q", "-b", "theirs")
    (repo / "document.svg").write_bytes(edited(1001, b"blue"))
    git(repo, "commit", "-q", "-am", "Blue")
    git(repo, "checkout", "-q", "main")
    (repo / "document.svg").write_bytes(edited(1000, b"red"))
    git(repo, "commit", "-q", "-am", "Red")
    git(repo, "merge", "-q", "--no-edit", "theirs")

    merged = (repo / "document.svg").read_bytes()
    fills = [el.get("fill") for el in etree.fromstring(merged).iter(f"{SVG}rect")]
    assert len(fills) == COUNT
    assert fills[1000:1300:2] == ["red"] * 150 and fills[1001:1301:2] == ["blue"] * 150
    assert fills[:1000] == ["gray"] * 1000 and fills[1300:] == ["gray"] * (COUNT - 1300)
    assert b"<<<<<<<" not in merged and git(repo, "status", "--porcelain") == ""
