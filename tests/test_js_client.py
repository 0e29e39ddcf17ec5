"""The JavaScript client library (svgx_sync/web/svgx-client.js), run by Node's own test
runner against a real daemon on 127.0.0.1.

The daemon runs here, in pytest; the Node tests under tests/js/ reach it at
``SVGX_URL`` and steer it through a line-based control socket (``SVGX_CONTROL``):
``drop USER`` closes that user's connections from the server's side, ``stop`` and
``start`` stop the daemon and start a new one on the same port and root. Each Node test
writes its model of the document to ``SVGX_OUT``; this side compares it with the file the
daemon wrote.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.request
from pathlib import Path
from typing import Any

from lxml import etree
from tools import ROOT, node_with_websocket

from svgx_sync.config import Settings
from svgx_sync.daemon.server import Daemon

JS = ROOT / "tests" / "js"
DEADLINE_S = 120


class Harness:
    """A daemon and the control socket the Node tests steer it with."""

    def __init__(self, root: Path, **settings: Any) -> None:
        self.root = root
        self.settings = settings
        self.daemon: Daemon | None = None
        self.port = 0

    async def start(self) -> None:
        self.daemon = Daemon(
            Settings(root=self.root, host="127.0.0.1", port=self.port, **self.settings)
        )
        await self.daemon.start()
        assert self.daemon.port is not None
        self.port = self.daemon.port

    async def stop(self) -> None:
        if self.daemon is not None:
            await self.daemon.stop()
            self.daemon = None

    async def command(self, line: str) -> str:
        word, _, arg = line.partition(" ")
        if word == "drop" and self.daemon is not None:
            dropped = [c for c in self.daemon.conns if c.user_id == arg]
            for conn in dropped:
                conn.transport.close(1012, "dropped by the test")
            return f"dropped {len(dropped)}"
        if word == "stop":
            await self.stop()
            return "stopped"
        if word == "start":
            await self.start()
            return "started"
        return f"unknown command {line!r}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := (await reader.readline()).decode().strip():
            writer.write((await self.command(line) + "\n").encode())
            await writer.drain()
        writer.close()


def run_node_test(tmp_path: Path, name: str, **settings: Any) -> tuple[int, str]:
    """Run ``node --test tests/js/NAME`` against a fresh daemon; its exit code and output."""
    return run_node(tmp_path, ["--test", str(JS / name)], **settings)


def run_node(
    tmp_path: Path, args: list[str], before: Any = None, **settings: Any
) -> tuple[int, str]:
    """Run Node with ``args`` against a fresh daemon (``before(port)`` first, if given)."""
    node = node_with_websocket(why="the JavaScript client library's tests need Node 20+")
    harness = Harness(tmp_path / "docs", **settings)
    out = tmp_path / "out"
    out.mkdir()

    async def main() -> tuple[int, str]:
        await harness.start()
        if before is not None:
            await asyncio.to_thread(before, harness.port)
        control = await asyncio.start_server(harness.serve, "127.0.0.1", 0)
        env = {
            **os.environ,
            "SVGX_URL": f"ws://127.0.0.1:{harness.port}",
            "SVGX_CONTROL": str(control.sockets[0].getsockname()[1]),
            "SVGX_OUT": str(out),
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                *node,
                *args,
                cwd=tmp_path,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                text, _ = await asyncio.wait_for(proc.communicate(), DEADLINE_S)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            return proc.returncode or 0, text.decode()
        finally:
            control.close()
            await harness.stop()  # everything is on disk once it has stopped

    return asyncio.run(main())


def on_disk(path: Path) -> dict[str, Any]:
    """``{id: {tag, attributes}}`` of the file, as the client's ``model.snapshot()``."""
    out: dict[str, Any] = {}
    for el in etree.parse(str(path)).iter():
        if not isinstance(el.tag, str) or el.get("id") is None:
            continue
        attributes = {k: v for k, v in el.attrib.items() if not k.startswith("{")}
        out[el.get("id")] = {"tag": etree.QName(el).localname, "attributes": attributes}
    return out


def models(tmp_path: Path) -> dict[str, Any]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((tmp_path / "out").glob("*.json"))}


def assert_models_match_disk(tmp_path: Path) -> dict[str, Any]:
    written = models(tmp_path)
    assert written, "the Node tests wrote their models"
    for document, model in written.items():
        assert model == on_disk(tmp_path / "docs" / document / "document.svg"), document
    return written


def test_client_connects_edits_and_its_model_is_the_daemons_file(tmp_path):
    """Welcome, every operation type acked and seen by a second client, versions and
    presence events, the served /svgx-client.js is the module; the model is the file."""
    code, out = run_node_test(tmp_path, "client.test.mjs")
    assert code == 0, out
    written = assert_models_match_disk(tmp_path)
    assert {"r1", "c1", "g1", "door", "svgx-model"} <= set(written["plan"])


def test_client_reconnects_catches_up_and_resends_exactly_once(tmp_path):
    """A connection the daemon drops comes back and catches up with last_seq; the outbox
    is resent with the same op_id after a restart and after a reload, applied once."""
    code, out = run_node_test(tmp_path, "reconnect.test.mjs")
    assert code == 0, out
    written = assert_models_match_disk(tmp_path)
    # moved by dx 10 once, then 5 while offline, then 1 from a reloaded page: never twice
    assert written["resend"]["r1"]["attributes"]["x"] == "16"


def test_a_welcome_that_names_its_files_is_fetched_and_caught_up_once(tmp_path):
    """With every file fetched over HTTP (a large drawing's welcome), a client that joins
    while edits go on ends with the daemon's file: nothing applied twice or missed."""
    code, out = run_node_test(tmp_path, "bigjoin.test.mjs", inline_files_bytes=0)
    assert code == 0, out
    written = assert_models_match_disk(tmp_path)
    assert written["plan"]["r3"]["attributes"]["x"] == "17"


def test_a_file_added_whole_and_named_by_its_address_is_fetched_and_applied_once(tmp_path):
    """Another program adds a file too large to come inline: the operations name it, the
    client fetches it while edits of it go on, and ends with the daemon's file."""
    code, out = run_node_test(tmp_path, "fileadd.test.mjs", inline_files_bytes=1024)
    assert code == 0, out
    assert models(tmp_path)["annex"] == on_disk(tmp_path / "docs" / "plan" / "annex.svg")


def test_the_documented_example_runs_with_the_served_module(tmp_path):
    """docs/js-client.md's example, with the module fetched from the daemon as it says."""
    doc = (ROOT / "docs" / "js-client.md").read_text()
    example = re.search(r"`example.mjs`:\n\n```js\n(.*?)```", doc, re.S)
    assert example is not None, "docs/js-client.md has the example"
    (tmp_path / "example.mjs").write_text(example.group(1))

    def fetch_module(port: int) -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/svgx-client.js") as response:
            (tmp_path / "svgx-client.mjs").write_bytes(response.read())

    code, out = run_node(tmp_path, ["example.mjs"], before=fetch_module)
    assert code == 0, out
    assert "connection: live" in out and "joined plan@main at seq 0" in out, out
    assert "version " in out and " by ada" in out, out
    assert '"x":"15"' in out and '"style":"fill:peru"' in out, out
