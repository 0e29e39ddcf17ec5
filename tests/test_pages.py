"""The daemon's pages over plain HTTP: which path shows which page, the policy every
page carries, the assets, and the JSON the documents page reads."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest
from browser import Served
from websockets.sync.client import connect

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
    for path in ["/", "/d/plan", "/d/plan@idea", "/d/plan/diff?from=main&to=live"]:
        status, headers, body = get(daemon.url + path)
        assert status == 200, path
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["Content-Security-Policy"] == PAGE_CSP
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "object-src 'none'" in policy
        assert b'<script type="module"' in body and b"onclick" not in body
    status, headers, body = get(daemon.url + "/web/index.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    etag = headers["ETag"]
    assert get(daemon.url + "/web/index.js", {"If-None-Match": etag})[0] == 304
    assert get(daemon.url + "/web/nothing-here.js")[0] == 404
    # "/" is still the editors' WebSocket endpoint.
    with connect(daemon.ws) as ws:
        ws.send(json.dumps({"type": "join", "user_id": "u1", "session_id": "plan"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"


PLAN = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="door" width="4" height="8"/></svg>\n'


def test_the_documents_json_lists_branches_versions_and_who_is_live(served: Any) -> None:
    status, _, body = get(served().url + "/api/documents")
    assert (status, json.loads(body)) == (200, {"documents": []})
    daemon: Served = served(documents={"plan": PLAN})
    subprocess.run(["git", "-C", str(daemon.root / "plan"), "branch", "idea"], check=True)
    status, headers, body = get(daemon.url + "/api/documents")
    assert status == 200 and headers["Content-Type"] == "application/json"
    [doc] = json.loads(body)["documents"]
    assert doc["name"] == "plan" and doc["branch"] == "main"
    assert doc["branches"] == ["idea", "main"]
    assert doc["last_version"]["version_id"] == _head(daemon.root / "plan")
    assert doc["live"] == []
    with connect(daemon.ws) as ws:
        ws.send(
            json.dumps({"type": "join", "user_id": "u1", "username": "Ada", "session_id": "plan"})
        )
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        [doc] = json.loads(get(daemon.url + "/api/documents")[2])["documents"]
        assert [(u["user_id"], u["username"]) for u in doc["live"]] == [("u1", "Ada")]
    assert get(daemon.url + "/api/nothing")[0] == 404


def _head(folder: Any) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_with_tokens_the_json_needs_one_and_shows_only_its_documents(served: Any) -> None:
    daemon: Served = served(tokens=True, documents={"plan-a": PLAN, "other": PLAN})
    assert get(daemon.url + "/api/documents")[0] == 401
    # The pages themselves are code: no token needed to load them.
    assert get(daemon.url + "/")[0] == 200
    token = daemon.token("viewer", "vic", documents=("plan-*",))
    status, _, body = get(daemon.url + "/api/documents", {"Authorization": f"Bearer {token}"})
    assert status == 200
    assert [d["name"] for d in json.loads(body)["documents"]] == ["plan-a"]


def test_the_welcome_says_what_the_connection_may_do(served: Any) -> None:
    """Pages hide the tools a role may not use from the welcome's ``role``."""
    daemon: Served = served(tokens=True, documents={"plan": PLAN})
    for role in ["viewer", "editor", "admin"]:
        with connect(daemon.ws + f"?token={daemon.token(role, 'u-' + role)}") as ws:
            ws.send(json.dumps({"type": "join", "session_id": "plan"}))
            welcome = json.loads(ws.recv(timeout=10))
            assert (welcome["type"], welcome["role"]) == ("welcome", role)
            assert welcome["user_id"] == "u-" + role  # the token's user
    with connect(served(documents={"plan": PLAN}).ws) as ws:  # no tokens: trusted
        ws.send(json.dumps({"type": "join", "user_id": "u1", "session_id": "plan"}))
        assert json.loads(ws.recv(timeout=10))["role"] == "admin"
