"""The daemon's pages over plain HTTP: which path shows which page, the policy every
page carries, the assets, and the JSON the documents page reads."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest
from browser import Served

from svgx_sync.daemon.pages import page_file
from svgx_sync.daemon.static import PAGE_CSP, asset_name


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.mark.parametrize(
    ("path", "page"),
    [
        ("/", "index.html"),
        ("/d/plan", "editor.html"),
        ("/d/plan@idea", "editor.html"),
        ("/d/plan/diff", "diff.html"),
        ("/svgx-client.js", "svgx-client.js"),
        ("/web/index.js", "index.js"),
        ("/web/editor/main.js", "editor/main.js"),
        ("/d/plan/raw", None),
        ("/d/", None),
        ("/web/../cli.py", None),
        ("/web/.hidden.js", None),
        ("/web/package.json", None),
        ("/healthz", None),
    ],
)
def test_each_path_shows_its_page(path: str, page: str | None) -> None:
    assert page_file(path) == page


def test_assets_never_climb_out_of_the_web_folder() -> None:
    for path in ["/web/a/../../x.js", "/web//x.js", "/web/x.py", "/web/a\\..\\b.js", "/web/"]:
        assert asset_name(path) is None, path


def test_every_page_carries_the_policy_and_a_websocket_still_joins(
    served: Any, tmp_path: Any
) -> None:
    daemon: Served = served()
    for path in ["/"]:  # the editor and diff pages join this list as they land
        status, headers, body = get(daemon.url + path)
        assert status == 200, path
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["Content-Security-Policy"] == PAGE_CSP
        assert "script-src 'self'" in PAGE_CSP and "object-src 'none'" in PAGE_CSP
        assert b'<script type="module"' in body and b"onclick" not in body
    status, headers, body = get(daemon.url + "/web/index.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    etag = headers["ETag"]
    assert get(daemon.url + "/web/index.js", {"If-None-Match": etag})[0] == 304
    assert get(daemon.url + "/web/nothing-here.js")[0] == 404
    # "/" is still the editors' WebSocket endpoint.
    node = subprocess.run(
        [sys.executable, "-c", _JOIN, daemon.ws], capture_output=True, text=True, timeout=30
    )
    assert node.returncode == 0, node.stderr
    assert json.loads(node.stdout)["type"] == "welcome"


_JOIN = """
import asyncio, json, sys
from websockets.asyncio.client import connect
async def main():
    async with connect(sys.argv[1]) as ws:
        await ws.send(json.dumps({"type": "join", "user_id": "u1", "session_id": "plan"}))
        print(await ws.recv())
asyncio.run(main())
"""


def test_the_documents_json_lists_branches_versions_and_who_is_live(served: Any) -> None:
    daemon: Served = served()
    status, _, body = get(daemon.url + "/api/documents")
    assert (status, json.loads(body)) == (200, {"documents": []})
    (daemon.root / "plan").mkdir()
    subprocess.run(
        [sys.executable, "-m", "svgx_sync", "init", str(daemon.root / "plan")], check=True
    )
    status, headers, body = get(daemon.url + "/api/documents")
    assert status == 200 and headers["Content-Type"] == "application/json"
    [doc] = json.loads(body)["documents"]
    assert doc["name"] == "plan" and doc["branch"] == "main" and doc["branches"] == ["main"]
    assert doc["last_version"]["description"] == "Create document"
    assert doc["live"] == []
    assert get(daemon.url + "/api/nothing")[0] == 404


def test_with_tokens_the_json_needs_one_and_shows_only_its_documents(served: Any) -> None:
    daemon: Served = served(tokens=True)
    for name in ["plan-a", "other"]:
        subprocess.run(
            [sys.executable, "-m", "svgx_sync", "init", str(daemon.root / name)], check=True
        )
    assert get(daemon.url + "/api/documents")[0] == 401
    # The pages themselves are code: no token needed to load them.
    assert get(daemon.url + "/")[0] == 200
    token = daemon.token("viewer", "vic", documents=("plan-*",))
    status, _, body = get(daemon.url + "/api/documents", {"Authorization": f"Bearer {token}"})
    assert status == 200
    assert [d["name"] for d in json.loads(body)["documents"]] == ["plan-a"]
