"""Limits on what live operations may build, from the user's side: a daemon on 127.0.0.1
port 0, real websockets clients, the real file written beside it, and the daemon started
again on the same folder.

No sequence of accepted operations may build a document that the daemon would refuse to
load: an operation that would nest elements deeper, or make the file larger, than a file
may be is refused with ``limit_exceeded`` and nothing of it is applied. No number an
operation computes is written as ``inf`` or ``nan`` (docs/security.md, "Limits").
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import websockets
from test_watcher import Client, clients, serve, setup_root, until

from svgx_sync.config import Settings
from svgx_sync.core.svgdoc import MAX_BYTES, MAX_DEPTH, MAX_VALUE, SvgDocument
from svgx_sync.daemon.server import Daemon

DOC = "document.svg"


def nested(prefix: str, depth: int) -> str:
    """``depth`` groups, each inside the one before; the innermost is ``{prefix}-{depth}``."""
    opening = "".join(f'<g id="{prefix}-{n}">' for n in range(1, depth + 1))
    return opening + "</g>" * depth


async def create(client: Client, element: str, data: dict[str, Any], op_id: str) -> dict[str, Any]:
    return await send_op(client, "create", element, data, op_id)


async def answer(client: Client, op_id: str) -> dict[str, Any]:
    """The ack or the error the daemon gave the operation ``op_id``."""

    def match(m: dict[str, Any]) -> bool:
        return m.get("op_id") == op_id

    while True:
        for message in client.unclaimed:
            if message["type"] in ("ack", "error") and match(message):
                client.unclaimed.remove(message)
                return message
        message = json.loads(await asyncio.wait_for(client.ws.recv(), 60))
        client.seen.append(message)
        client.unclaimed.append(message)


async def send_op(
    client: Client, kind: str, element: str, data: dict[str, Any], op_id: str
) -> dict[str, Any]:
    """Send one operation of alice's; the ack, or the error that refused it."""
    await client.send(
        type="operation",
        operation_type=kind,
        user_id="alice",
        element_id=element,
        data=data,
        op_id=op_id,
    )
    return await answer(client, op_id)


def start_again(root: Path, folder: Path) -> str:
    """Start a new daemon on the same root; the document's text a joining client gets."""
    served: list[str] = []

    async def body(daemon: Daemon, folder: Path) -> None:
        ws = await websockets.connect(f"ws://127.0.0.1:{daemon.port}", compression=None)
        bob = Client(ws)
        welcome = await bob.join("bob")
        if DOC in welcome["files"]:
            served.append(welcome["files"][DOC])
        else:  # a large file (64 MiB) does not come inline: the welcome names it
            url = f"http://127.0.0.1:{daemon.port}{welcome['file_urls'][DOC]}"
            body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=60).read())
            served.append(body.decode())
        await bob.close()

    serve(root, folder, body)
    return served[0]


def test_a_create_nested_deeper_than_a_file_may_be_is_refused(tmp_path: Path) -> None:
    root, folder = setup_root(tmp_path)

    async def body(daemon: Daemon, folder: Path) -> None:
        alice, carol = await clients(daemon, "alice", "carol")
        first = await create(
            alice, "a-0", {"markup": f'<g id="a-0">{nested("a", 200)}</g>'}, "deep-1"
        )
        assert first["type"] == "ack" and first["status"] == "applied"
        second = await create(
            alice,
            "b-0",
            {"markup": f'<g id="b-0">{nested("b", 200)}</g>', "parent": "a-200"},
            "deep-2",
        )
        assert second["type"] == "error", second
        assert second["code"] == "limit_exceeded"
        assert str(MAX_DEPTH) in second["message"] and "deep" in second["message"]
        # Nothing of it was applied, and the session goes on for everyone.
        live = daemon.rooms["doc@main"].live
        assert "b-0" not in live.files[DOC].ids and live.seq == 1
        ack = await carol.op("carol", "r", {"fill": "blue"}, "after-1")
        assert ack["status"] == "applied" and ack["seq"] == 2
        await until(lambda: b'fill="blue"' in (folder / DOC).read_bytes(), "the file written")

    serve(root, folder, body)
    on_disk = (folder / DOC).read_bytes()
    SvgDocument(on_disk)  # a file the daemon can read again
    served = start_again(root, folder)
    assert 'id="a-200"' in served and 'id="b-1"' not in served and 'fill="blue"' in served


def test_a_move_that_would_nest_too_deep_is_refused(tmp_path: Path) -> None:
    root, folder = setup_root(tmp_path)

    async def body(daemon: Daemon, folder: Path) -> None:
        (alice,) = await clients(daemon, "alice")
        for prefix in ("a", "b"):
            made = await create(
                alice,
                f"{prefix}-0",
                {"markup": f'<g id="{prefix}-0">{nested(prefix, 200)}</g>'},
                f"make-{prefix}",
            )
            assert made["status"] == "applied", made
        moved = await send_op(alice, "move", "b-0", {"parent": "a-200"}, "move-1")
        assert moved["type"] == "error" and moved["code"] == "limit_exceeded", moved
        live = daemon.rooms["doc@main"].live
        assert live.files[DOC].ids["b-0"].getparent() is live.files[DOC].root

    serve(root, folder, body)
    SvgDocument((folder / DOC).read_bytes())
    served = start_again(root, folder)
    assert 'id="a-200"' in served and 'id="b-200"' in served


def test_creates_that_would_make_the_file_too_large_are_refused(tmp_path: Path) -> None:
    root, folder = setup_root(tmp_path)
    value = "a" * 900_000
    acks: list[dict[str, Any]] = []

    async def body(daemon: Daemon, folder: Path) -> None:
        (alice,) = await clients(daemon, "alice")
        for n in range(75):
            got = await create(
                alice, f"big-{n}", {"type": "rect", "attributes": {"class": value}}, f"big-{n}"
            )
            acks.append(got)
            if got["type"] == "error":
                break

    async def main() -> None:
        # The file is written once, when the daemon stops: 75 writes of a file growing to
        # 64 MiB would only make the test slow. 64 MiB through the socket, the journal
        # and the file take a while on a busy machine: a longer deadline than serve()'s.
        daemon = Daemon(Settings(root=root, port=0, write_debounce_ms=600_000))
        await daemon.start()
        try:
            await body(daemon, folder)
        finally:
            await daemon.stop()

    asyncio.run(asyncio.wait_for(main(), 300))
    refused = acks[-1]
    assert refused["type"] == "error", [a.get("status") for a in acks[-3:]]
    assert refused["code"] == "limit_exceeded"
    assert str(MAX_BYTES) in refused["message"] and "larger" in refused["message"]
    assert all(a["status"] == "applied" for a in acks[:-1]) and len(acks) > 60
    on_disk = (folder / DOC).read_bytes()
    assert len(on_disk) <= MAX_BYTES
    SvgDocument(on_disk)
    served = start_again(root, folder)
    assert f'id="big-{len(acks) - 2}"' in served and f'id="big-{len(acks) - 1}"' not in served


def test_a_value_longer_than_a_file_may_hold_is_refused(tmp_path: Path) -> None:
    root, folder = setup_root(tmp_path)
    answers: list[dict[str, Any]] = []

    async def body(daemon: Daemon, folder: Path) -> None:
        (alice,) = await clients(daemon, "alice")
        # Each update adds one declaration of 900 kB to the same style attribute.
        for n in range(12):
            style = {"style": {f"--p{n}": "a" * 900_000}}
            answers.append(await send_op(alice, "update", "r", style, f"style-{n}"))
        await until(lambda: b"--p10" in (folder / DOC).read_bytes(), "the file written")

    serve(root, folder, body)
    assert all(a["type"] == "ack" and a["status"] == "applied" for a in answers[:11])
    refused = answers[11]
    assert refused["type"] == "error" and refused["code"] == "limit_exceeded", refused
    assert str(MAX_VALUE) in refused["message"] and "style" in refused["message"]
    on_disk = (folder / DOC).read_bytes()
    assert b"--p11" not in on_disk
    SvgDocument(on_disk)
    served = start_again(root, folder)
    assert "--p10" in served and "--p11" not in served


def test_a_move_whose_result_is_not_finite_is_refused(tmp_path: Path) -> None:
    root, folder = setup_root(tmp_path)

    async def body(daemon: Daemon, folder: Path) -> None:
        (alice,) = await clients(daemon, "alice")
        far = {"dx": 1.7e308, "dy": 0}
        assert (await send_op(alice, "move", "r", far, "far-0"))["status"] == "applied"
        refused = await send_op(alice, "move", "r", far, "far-1")
        assert refused["type"] == "error" and refused["code"] == "invalid_operation"
        assert "finite" in refused["message"], refused["message"]
        # A resize whose result overflows is refused the same way.
        line = {"type": "line", "attributes": {"x1": 1.7e308, "y1": 0, "x2": 1, "y2": 1}}
        assert (await create(alice, "l", line, "line-1"))["status"] == "applied"
        wide = {"width": 1.7e308, "height": 1}
        refused = await send_op(alice, "resize", "l", wide, "wide-1")
        assert refused["type"] == "error" and "finite" in refused["message"], refused
        # And so is a number attribute given as text that is not a finite number.
        text = {"attributes": {"x": "inf", "y": "NaN"}}
        refused = await send_op(alice, "update", "r", text, "text-inf")
        assert refused["type"] == "error" and "finite" in refused["message"], refused
        live = daemon.rooms["doc@main"].live
        assert live.seq == 2
        await until(lambda: b'id="l"' in (folder / DOC).read_bytes(), "the file written")

    serve(root, folder, body)
    text = (folder / DOC).read_bytes()
    assert b'x="1"' not in text  # the first move is there
    for word in (b"inf", b"nan", b"NaN"):
        assert word not in text
