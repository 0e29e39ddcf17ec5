"""The real Inkscape beside a running daemon.

A document is made live through a client (so the daemon wrote the file), then Inkscape
(``inkscape --actions=... --export-overwrite``, no display needed) edits it in place
while another client edits live. Both clients must receive Inkscape's change as
operations, the live edit made meanwhile must stay, the file must stay well-formed with
every prefix declared, and ``git diff`` (our diff driver) and a version must work.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from elements import keys_of
from lxml import etree
from tools import require
from wellformed import assert_wellformed
from wsclient import WsClient

from svgx_sync.config import Settings
from svgx_sync.daemon.server import Daemon

TIMEOUT = 30.0
INKSCAPE_TIMEOUT = 90.0
SVG = "{http://www.w3.org/2000/svg}"
INKSCAPE = "{http://www.inkscape.org/namespaces/inkscape}"


class Client(WsClient):
    timeout = TIMEOUT

    async def join(self, user: str) -> dict[str, Any]:
        await self.send(type="join", user_id=user, username=user.title(), session_id="plan")
        return await self.expect("welcome")

    async def op(
        self, user: str, op_type: str, element: str, data: dict[str, Any], op_id: str
    ) -> dict[str, Any]:
        await self.send(
            type="operation",
            operation_type=op_type,
            user_id=user,
            element_id=element,
            data=data,
            op_id=op_id,
            timestamp=time.time(),
        )
        ack = await self.expect("ack", lambda m: m["op_id"] == op_id)
        assert ack["status"] == "applied", ack
        return ack

    async def external(self, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """The first operation of user ``external`` that passes ``check``."""
        frame = await self.expect(
            "operations",
            lambda m: any(o["user_id"] == "external" and check(o) for o in m["operations"]),
        )
        return next(o for o in frame["operations"] if o["user_id"] == "external" and check(o))


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Wait for a state nobody announces (a file on disk), under a deadline."""
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def run_command(
    *args: str, cwd: Path, timeout: float = TIMEOUT, env: dict[str, str] | None = None
) -> str:
    """A program run off the event loop, so the daemon keeps serving meanwhile."""
    done = await asyncio.to_thread(
        subprocess.run,
        list(args),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
    )
    assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}{done.stdout}"
    return done.stdout


async def inkscape(folder: Path, actions: str) -> None:
    """Inkscape edits document.svg in place, as from a terminal (no display)."""
    program = require("inkscape")
    home = folder.parent / "inkscape-home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    env.pop("DISPLAY", None)
    await run_command(
        program,
        f"--actions={actions}",
        "--export-overwrite",
        "--export-type=svg",
        "document.svg",
        cwd=folder,
        timeout=INKSCAPE_TIMEOUT,
        env=env,
    )


def run(tmp_path: Path, body: Callable[[Daemon, Path], Awaitable[None]]) -> None:
    require("inkscape")
    root = tmp_path / "docs"

    async def main() -> None:
        daemon = Daemon(Settings(root=root, port=0))
        await daemon.start()
        try:
            await body(daemon, root / "plan")
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(main(), 240))


async def drawing(daemon: Daemon) -> tuple[Client, Client]:
    """Two users in a new document ``plan``: three rects drawn live, written, versioned."""
    ada = await Client.connect(daemon)
    bob = await Client.connect(daemon)
    await ada.join("ada")
    await bob.join("bob")
    for n, x in ((1, 10), (2, 40), (3, 70)):
        await ada.op(
            "ada",
            "create",
            f"r{n}",
            {
                "type": "rectangle",
                "position": {"x": x, "y": 10},
                "size": {"width": 20, "height": 20},
                "attributes": {"fill": "gray"},
            },
            f"ada-{n}",
        )
    await ada.send(
        type="version", action="create_version", created_by="ada", description="Three rects"
    )
    await ada.expect("version_created")
    return ada, bob


def document(folder: Path) -> bytes:
    return (folder / "document.svg").read_bytes()


def live(daemon: Daemon) -> bytes:
    return daemon.rooms["plan@main"].live.files["document.svg"].to_bytes()


async def settled(daemon: Daemon, folder: Path) -> bytes:
    """The file once the daemon has written the live state (same elements), checked."""
    await until(
        lambda: keys_of(document(folder)) == keys_of(live(daemon)),
        "the file on disk to hold the live state",
    )
    data = document(folder)
    assert_wellformed(data, "document.svg after Inkscape's save")
    return data


def element(data: bytes, ident: str) -> Any:
    (found,) = etree.fromstring(data).xpath(f"//*[@id='{ident}']")
    return found


def test_inkscapes_first_save_reaches_the_clients_and_keeps_the_live_edit(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        ada, bob = await drawing(daemon)
        await until(lambda: b'id="r3"' in document(folder), "the daemon's write")
        await run_command(sys.executable, "-m", "svgx_sync", "git-setup", cwd=folder)
        # Inkscape runs while bob edits another rect live.
        save = asyncio.create_task(
            inkscape(folder, "select-by-id:r1;object-set-attribute:fill,red")
        )
        await bob.op("bob", "update", "r2", {"attributes": {"fill": "green"}}, "bob-1")
        await save
        for client in (ada, bob):
            op = await client.external(
                lambda o: (
                    o.get("element_id") == "r1"
                    and o.get("data", {}).get("attributes", {}).get("fill") == "red"
                ),
                "Inkscape's fill",
            )
            assert op["operation_type"] == "update"
        data = await settled(daemon, folder)
        assert element(data, "r1").get("fill") == "red"
        assert element(data, "r2").get("fill") == "green"  # the live edit stayed
        assert b"sodipodi:docname" in data  # Inkscape's own additions stayed too
        # git diff runs our driver on the Inkscape-saved file.
        diff = await run_command("git", "diff", cwd=folder)
        assert "rect#r1 fill: gray -> red" in diff and "rect#r2 fill: gray -> green" in diff, diff
        await ada.send(
            type="version", action="create_version", created_by="ada", description="After Inkscape"
        )
        await ada.expect("version_created")
        committed = (
            await asyncio.to_thread(
                subprocess.run,
                ["git", "show", "HEAD:document.svg"],
                cwd=folder,
                capture_output=True,
                check=True,
            )
        ).stdout
        assert_wellformed(committed, "the version after Inkscape's save")
        assert keys_of(committed) == keys_of(live(daemon))

    run(tmp_path, body)


def test_inkscape_moves_relabels_and_makes_a_layer_beside_live_edits(tmp_path: Path) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        ada, bob = await drawing(daemon)
        await until(lambda: b'id="r3"' in document(folder), "the daemon's write")
        # A first save makes it an Inkscape file (namespaces, named view, layout).
        await inkscape(folder, "select-by-id:r3;object-set-attribute:stroke,black")
        await ada.external(lambda o: o.get("element_id") == "r3", "the first save")
        await settled(daemon, folder)
        # The second save moves r1, labels it, and puts r2 in a new layer.
        save = asyncio.create_task(
            inkscape(
                folder,
                "select-by-id:r1;transform-translate:5,7;object-set-attribute:inkscape:label,Door;"
                "select-clear;select-by-id:r2;selection-group;object-set-attribute:id,layer2;"
                "object-set-attribute:inkscape:groupmode,layer;"
                "object-set-attribute:inkscape:label,Layer 2",
            )
        )
        await bob.op("bob", "update", "r3", {"attributes": {"fill": "blue"}}, "bob-1")
        await save
        for client in (ada, bob):
            await client.external(
                lambda o: (
                    o.get("element_id") == "r1"
                    and "inkscape:label" in o.get("data", {}).get("attributes", {})
                ),
                "the label",
            )
        data = await settled(daemon, folder)
        r1, r2, r3 = (element(data, i) for i in ("r1", "r2", "r3"))
        assert r1.get(f"{INKSCAPE}label") == "Door"
        assert (r1.get("x"), r1.get("y")) == ("15", "17") or "translate" in (
            r1.get("transform") or ""
        )
        layer = r2.getparent()
        assert layer.get("id") == "layer2" and layer.get(f"{INKSCAPE}groupmode") == "layer"
        assert layer.get(f"{INKSCAPE}label") == "Layer 2"
        assert r3.get("fill") == "blue" and r3.get("stroke") == "black"
        # Every client sees the same drawing as the file.
        await ada.send(type="join", user_id="ada", username="Ada", session_id="plan")
        welcome = await ada.expect("welcome")
        assert keys_of(welcome["files"]["document.svg"].encode()) == keys_of(data)
        await bob.send(
            type="version", action="create_version", created_by="bob", description="Layer 2"
        )
        await bob.expect("version_created")
        log = await run_command("git", "log", "--format=%s", cwd=folder)
        assert log.splitlines()[0] == "Layer 2"

    run(tmp_path, body)
