"""Joining a big drawing: the welcome fits a client's default 1 MiB message limit, and
files too large to come inline are fetched over HTTP, once, gzipped when asked."""

from __future__ import annotations

import asyncio
import gzip
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from browser import Served
from samples import big_drawing
from test_server import Client, run_with_daemon
from websockets.sync.client import connect

from svgx_sync.core.protocol import inline_split
from svgx_sync.daemon.server import Daemon

BIG = big_drawing(60_000)
SMALL = big_drawing(10)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def join(ws: Any, user: str, session: str, **extra: Any) -> dict[str, Any]:
    ws.send(json.dumps({"type": "join", "user_id": user, "session_id": session, **extra}))
    while True:
        msg = json.loads(ws.recv(timeout=60))
        if msg["type"] == "welcome":
            return msg


def test_inline_split_keeps_the_smallest_files_within_the_limit() -> None:
    assert inline_split({"a.svg": 10, "b.svg": 50, "c.svg": 30}, 45) == (
        ["a.svg", "c.svg"],
        ["b.svg"],
    )
    assert inline_split({"a.svg": 10}, 0) == ([], ["a.svg"])
    assert inline_split({}, 100) == ([], [])


def test_a_60k_element_drawing_joins_under_a_clients_default_message_limit(
    served: Any,
) -> None:
    daemon: Served = served(documents={"big": BIG})
    with connect(daemon.ws) as ws:  # websockets' default max_size: 1 MiB
        welcome = join(ws, "ada", "big")
        assert len(json.dumps(welcome)) < 1024 * 1024
        assert welcome["files"] == {} and welcome["svg"] is None
        url = welcome["file_urls"]["document.svg"]
        assert url == "/d/big/raw/document.svg"
        status, headers, body = get(daemon.url + url, {"Accept-Encoding": "gzip"})
        assert status == 200 and headers["Content-Encoding"] == "gzip"
        assert len(body) < len(BIG) / 4
        assert gzip.decompress(body) == BIG
        first_etag = headers["ETag"]
        assert headers["Content-Type"] == "image/svg+xml; charset=utf-8"
        assert int(headers["X-Svgx-Seq"]) == welcome["seq"]
        assert "sandbox" in headers["Content-Security-Policy"]
        assert (
            get(daemon.url + url, {"If-None-Match": headers["ETag"], "Accept-Encoding": "gzip"})[0]
            == 304
        )
        # An edit after the welcome: the file now holds it, and says so by its seq.
        op = {"type": "operation", "operation_type": "update", "op_id": "o1", "user_id": "ada",
              "session_id": "big", "element_id": "r7", "data": {"style": {"fill": "red"}}}  # fmt: skip
        ws.send(json.dumps(op))
        while json.loads(ws.recv(timeout=30)).get("type") != "ack":
            pass
        status, headers, body = get(daemon.url + url)
        assert status == 200 and "Content-Encoding" not in headers
        assert int(headers["X-Svgx-Seq"]) == welcome["seq"] + 1
        assert b'id="r7"' in body and b"fill:red" in body.replace(b" ", b"")
        # Gzipped again: the bytes kept from the first fetch are not served for this seq.
        status, again, zipped = get(daemon.url + url, {"Accept-Encoding": "gzip"})
        assert status == 200 and int(again["X-Svgx-Seq"]) == welcome["seq"] + 1
        assert gzip.decompress(zipped) == body and again["ETag"] != first_etag


def test_a_small_drawing_still_comes_inline(served: Any) -> None:
    daemon: Served = served(documents={"small": SMALL})
    with connect(daemon.ws) as ws:
        welcome = join(ws, "ada", "small")
    assert welcome["files"] == {"document.svg": SMALL.decode()}
    assert welcome["svg"] == SMALL.decode()
    assert "file_urls" not in welcome


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/d/small/raw/nothing.svg", 404),  # no such file
        ("/d/ghost/raw/document.svg", 404),  # not live (and never created by a fetch)
        ("/d/small@nobranch/raw/document.svg", 404),
    ],
)
def test_a_file_that_is_not_live_is_not_found(served: Any, path: str, status: int) -> None:
    daemon: Served = served(documents={"small": SMALL})
    with connect(daemon.ws) as ws:
        join(ws, "ada", "small")
        code, _, body = get(daemon.url + path)
    assert code == status and json.loads(body)["error"] == "not_found"
    assert not (daemon.root / "ghost").exists()


def test_with_tokens_a_file_needs_a_token_for_its_document(served: Any) -> None:
    daemon: Served = served(tokens=True, documents={"small": SMALL})
    token = daemon.token("viewer", "vic")
    with connect(daemon.ws + f"?token={token}") as ws:
        join(ws, "vic", "small")
        url = daemon.url + "/d/small/raw/document.svg"
        assert get(url)[0] == 401
        other = daemon.token("viewer", "olga", documents=("plans-*",))
        assert get(url, {"Authorization": f"Bearer {other}"})[0] == 403
        status, _, body = get(url + f"?token={token}")
        assert status == 200 and body == SMALL


def test_a_file_fetched_by_its_address_is_served_inert_as_a_welcome_serves_it(
    served: Any,
) -> None:
    """A file too big to come inline that another program saved with a handler in it:
    the address the welcome names serves it without the handler (the file keeps it)."""
    active = BIG.replace(b'<rect id="r7"', b'<rect id="r7" onclick="alert(1)"', 1)
    assert active != BIG
    daemon: Served = served(documents={"big": active})
    with connect(daemon.ws) as ws:
        welcome = join(ws, "ada", "big")
        url = daemon.url + welcome["file_urls"]["document.svg"]
        for headers in ({}, {"Accept-Encoding": "gzip"}):
            status, got, body = get(url, headers)
            text = gzip.decompress(body) if got["Content-Encoding"] == "gzip" else body
            assert status == 200 and b'id="r7"' in text and b"onclick" not in text, headers
    assert b'onclick="alert(1)"' in (daemon.root / "big" / "document.svg").read_bytes()


def test_a_small_file_edited_many_times_since_its_last_write_still_comes_inline(
    tmp_path: Path,
) -> None:
    """The size a file is known by grows with every edit until it is written; a welcome
    measures a file that bound alone would send by URL (the flood of one attribute that
    left a 300-byte drawing named by URL)."""

    async def body(daemon: Daemon) -> None:
        ada = await Client.connect(daemon)
        await ada.join("ada")
        await ada.op("ada", "create", "r1", {"type": "rectangle"}, "c1")
        for i in range(100):
            await ada.op("ada", "update", "r1", {"attributes": {"x": str(i)}}, f"u{i}")
        bob = await Client.connect(daemon)
        welcome = await bob.join("bob")
        assert "file_urls" not in welcome
        assert 'x="99"' in welcome["files"]["document.svg"] == welcome["svg"]
        for client in (ada, bob):
            await client.close()

    # no write in between: nothing measures the file but the welcome
    run_with_daemon(tmp_path, body, inline_files_bytes=8192, write_debounce_ms=600_000)


def test_a_file_added_whole_too_large_to_come_inline_is_named_also_in_a_catch_up(
    tmp_path: Path,
) -> None:
    """Another program adds a file larger than the inline limit: the entry names it by
    its address, to a live client and to one that catches up after it, and the address
    serves the file with the seq it holds."""
    annex = big_drawing(40)
    assert len(annex) > 1024

    async def body(daemon: Daemon) -> None:
        ada, bob = await Client.connect(daemon), await Client.connect(daemon)
        await ada.join("ada")
        welcome = await bob.join("bob")
        await bob.close()  # away while the file comes
        (daemon.settings.root / "doc" / "annex.svg").write_bytes(annex)
        live = await ada.expect("operations", lambda m: m["operations"][0]["file"] == "annex.svg")
        (entry,) = live["operations"]
        assert entry["operation_type"] == "file_add"
        assert entry["data"] == {"markup_url": "/d/doc@main/raw/annex.svg"}
        bob = await Client.connect(daemon)
        caught = await bob.join("bob", last_seq=welcome["seq"])
        assert caught["catch_up"] and caught["operations"] == [entry]
        status, headers, served = await asyncio.to_thread(
            get, f"http://127.0.0.1:{daemon.port}{entry['data']['markup_url']}"
        )
        assert (status, served) == (200, annex) and int(headers["X-Svgx-Seq"]) >= entry["seq"]
        for client in (ada, bob):
            await client.close()

    run_with_daemon(tmp_path, body, inline_files_bytes=1024)


def test_only_file_adds_over_the_limit_are_named() -> None:
    from svgx_sync.core.protocol import addressed

    def url(path: str) -> str:
        return f"/raw/{path}"

    small = {"operation_type": "file_add", "file": "a.svg", "seq": 1, "data": {"markup": "x" * 10}}
    big = {**small, "file": "b.svg", "seq": 2, "data": {"markup": "x" * 11}}
    edit = {"operation_type": "update", "element_id": "r", "seq": 3, "data": {"markup": "x" * 99}}
    edits = [edit]
    assert addressed(edits, 10, url) is edits  # no file added: the same list
    assert addressed([small, edit], 10, url) == [small, edit]
    assert addressed([small, big, edit], 10, url) == [
        small,
        {**big, "data": {"markup_url": "/raw/b.svg"}},
        edit,
    ]
    assert big["data"] == {"markup": "x" * 11}  # the kept entry is not changed
