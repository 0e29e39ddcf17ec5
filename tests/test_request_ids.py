"""A refused version request is named in its error, so a client with several requests
waiting fails the right one."""

from __future__ import annotations

import json
from typing import Any

from browser import Served
from websockets.sync.client import connect

PLAN = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="door" width="4" height="8"/></svg>\n'


def test_an_error_echoes_the_request_id_of_the_request_it_refuses(served: Any) -> None:
    daemon: Served = served(documents={"plan": PLAN})
    with connect(daemon.ws) as ws:
        ws.send(json.dumps({"type": "join", "user_id": "ada", "session_id": "plan"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        ws.send(
            json.dumps(
                {
                    "type": "version",
                    "action": "revert",
                    "version_id": "0" * 40,
                    "created_by": "ada",
                    "request_id": "r-17",
                }
            )
        )
        ws.send(json.dumps({"type": "version", "action": "list_branches", "request_id": "r-18"}))
        replies: dict[str, dict[str, Any]] = {}
        while len(replies) < 2:
            msg = json.loads(ws.recv(timeout=10))
            if "request_id" in msg:
                replies[msg["request_id"]] = msg
    assert replies["r-17"]["type"] == "error" and replies["r-17"]["code"] == "not_found"
    assert replies["r-18"]["type"] == "branches"
