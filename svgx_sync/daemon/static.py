"""The files the daemon serves as they are, from ``svgx_sync/web``: the client library,
the pages and their assets.

They are code, not data: served without a token, with an ``ETag`` so a browser asks
again cheaply (``If-None-Match`` gets 304). Pages carry the Content-Security-Policy
that keeps a drawing's active content from ever running (``docs/web.md``).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from functools import cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

from websockets.asyncio.server import ServerConnection

__all__ = [
    "CONTENT_TYPES",
    "PAGE_CSP",
    "RAW_CSP",
    "STATIC",
    "asset_name",
    "packed",
    "raw_response",
    "static_response",
    "tagged_response",
]

STATIC = {"/svgx-client.js": "svgx-client.js", "/favicon.ico": "favicon.svg"}
"""Fixed paths → file in ``svgx_sync/web``."""

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
"""What ``/web/<path>`` serves, by extension; anything else is not found."""

PAGE_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        # Drawings carry style attributes and <style>; styles cannot run code.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "frame-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""The policy of every page: only the daemon's own scripts run, never inline ones."""

RAW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
"""A drawing opened by its own address runs nothing and loads nothing."""


def asset_name(path: str) -> str | None:
    """The file under ``svgx_sync/web`` that ``/web/<path>`` names, or None: no
    climbing out, no hidden files, only the extensions of :data:`CONTENT_TYPES`."""
    if not path.startswith("/web/"):
        return None
    parts = path[len("/web/") :].split("/")
    if any(p in ("", ".", "..") or p.startswith(".") or "\\" in p for p in parts):
        return None
    if PurePosixPath(parts[-1]).suffix not in CONTENT_TYPES:
        return None
    return "/".join(parts)


@cache
def _load(name: str) -> tuple[bytes, str] | None:
    file = resources.files("svgx_sync").joinpath("web", *name.split("/"))
    if not file.is_file():
        return None
    body = file.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def static_response(connection: ServerConnection, name: str, headers: Any) -> Any:
    """The response for file ``name`` of ``svgx_sync/web``: 200 with the file, 304 when
    the ETag matches, 404 when there is no such file."""
    loaded = _load(name)
    if loaded is None:
        return connection.respond(404, "not found\n")
    body, etag = loaded
    response = tagged_response(
        connection, body, etag, CONTENT_TYPES[PurePosixPath(name).suffix], headers
    )
    if name.endswith(".html"):
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


def tagged_response(
    connection: ServerConnection, body: bytes, etag: str, content_type: str, headers: Any
) -> Any:
    """200 with ``body``, or an empty 304 when the request's ``If-None-Match`` holds
    ``etag``; asked again every time (``no-cache``), never sniffed."""
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


def packed(body: bytes, *, gzipped: bool) -> tuple[str, bytes]:
    """``body``'s ETag and what goes on the wire (gzip at level 5: a 50 MB drawing in
    about a second of a worker thread, to a tenth of its size)."""
    digest = hashlib.sha256(body).hexdigest()[:32]
    if not gzipped:
        return f'"{digest}"', body
    return f'"{digest}-gzip"', gzip.compress(body, compresslevel=5, mtime=0)


def raw_response(
    connection: ServerConnection,
    payload: bytes,
    etag: str,
    seq: int,
    headers: Any,
    *,
    gzipped: bool,
) -> Any:
    """A live file: 200 with ``payload`` (or 304 when the ETag matches), its ``seq``."""
    response = tagged_response(connection, payload, etag, "image/svg+xml; charset=utf-8", headers)
    if gzipped and response.status_code == 200:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["X-Svgx-Seq"] = str(seq)
    response.headers["Content-Security-Policy"] = RAW_CSP
    origin = headers.get("Origin")
    if origin:  # judged already: refused origins never get this far
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "X-Svgx-Seq, ETag"
    return response
