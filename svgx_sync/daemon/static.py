"""The files the daemon serves as they are: the client library (``/svgx-client.js``).

They are code, not data: served without a token, with an ``ETag`` so a browser asks
again cheaply (``If-None-Match`` gets 304).
"""

from __future__ import annotations

import dataclasses
import hashlib
from functools import cache
from importlib import resources
from typing import Any

from websockets.asyncio.server import ServerConnection

__all__ = ["STATIC", "static_response"]

STATIC = {"/svgx-client.js": ("svgx-client.js", "text/javascript; charset=utf-8")}
"""Path → (file in ``svgx_sync/web``, content type)."""


@cache
def _load(name: str) -> tuple[bytes, str]:
    body = resources.files("svgx_sync").joinpath("web", name).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def static_response(connection: ServerConnection, path: str, headers: Any) -> Any:
    """The response for a static path: 200 with the file, or 304 when the ETag matches."""
    name, content_type = STATIC[path]
    body, etag = _load(name)
    fresh = etag in (headers.get("If-None-Match") or "")
    response = dataclasses.replace(
        connection.respond(304 if fresh else 200, ""), body=b"" if fresh else body
    )
    for key in ("Content-Type", "Content-Length"):
        del response.headers[key]  # Headers is multi-valued: replace
    if not fresh:
        response.headers["Content-Type"] = content_type
        response.headers["Content-Length"] = str(len(body))
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
