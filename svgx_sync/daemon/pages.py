"""The daemon's face in a browser: which page a path shows, and the JSON the pages read.

* Pages and their assets are code (``static``): served without a token, each page with
  the strict Content-Security-Policy.
* ``/api/...`` is data: it passes the same gate as ``/healthz`` (a token whose
  documents include what is asked for, when tokens are configured), and answers JSON
  with an ``error`` code and a ``message`` when it cannot.

The routes are tables (:data:`PAGES`, :data:`API`), so the whole face reads at a glance;
``docs/web.md`` describes each page.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from ..core.access import Principal
from ..core.session import document_key
from ..errors import ClientError, NotFound, StoreError, SvgxError
from . import diff_api
from .static import STATIC, asset_name

if TYPE_CHECKING:
    from .room import Room
    from .server import Daemon

__all__ = [
    "API",
    "PAGES",
    "RAW",
    "ApiRequest",
    "ApiResponse",
    "RawFile",
    "api_route",
    "call",
    "page_file",
    "raw_file",
    "raw_url",
]

log = logging.getLogger(__name__)

PAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/"), "index.html"),
    (re.compile(r"/d/[^/]+/diff"), "diff.html"),
    (re.compile(r"/d/[^/]+"), "editor.html"),
)
"""Path → the page's file in ``svgx_sync/web``; the page reads the rest from its URL."""


def page_file(path: str) -> str | None:
    """The file of ``svgx_sync/web`` that ``path`` (without its query) shows, or None."""
    if path in STATIC:
        return STATIC[path]
    for pattern, name in PAGES:
        if pattern.fullmatch(path):
            return name
    return asset_name(path)


@dataclass(frozen=True)
class ApiRequest:
    """One call of the JSON API: the route's named parts, the query, who asks."""

    daemon: Daemon
    params: Mapping[str, str]
    query: Mapping[str, str]
    principal: Principal | None
    """None when no tokens are configured: everyone is trusted."""

    def may_open(self, document: str) -> bool:
        return self.principal is None or self.principal.may_open(document)


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict[str, Any] | bytes
    """The answer, or its JSON already encoded: a handler whose answer can be large (a
    diff of a big drawing holds its files) encodes it in its worker thread, off the loop
    and without a text copy beside the bytes."""


Handler = Callable[[ApiRequest], ApiResponse | Awaitable[ApiResponse]]
"""A handler that reads much (git, large drawings) is a coroutine and does it in a thread."""


def _documents(request: ApiRequest) -> ApiResponse:
    """``GET /api/documents``: every document one may open, with its branches, its last
    version and who is live in it."""
    daemon = request.daemon
    live: dict[str, list[dict[str, Any]]] = {}
    for room in daemon.rooms.values():
        for user in room.presence.snapshot():
            live.setdefault(room.live.name, []).append(
                {
                    "user_id": user["user_id"],
                    "username": user["username"],
                    "status": user["status"],
                    "session_id": room.key,
                }
            )
    documents = []
    for name in daemon.store.names():
        if not request.may_open(name):
            continue
        try:
            documents.append(_document_summary(daemon, name, live.get(name, [])))
        except (StoreError, NotFound):
            continue  # removed or unreadable since names() listed it
    return ApiResponse(200, {"documents": documents})


def _document_summary(daemon: Daemon, name: str, live: list[dict[str, Any]]) -> dict[str, Any]:
    document = daemon.store.open(name)
    last = document.history(limit=1)
    return {
        "name": name,
        "branch": document.current_branch(),
        "branches": [b["name"] for b in document.list_branches()],
        "last_version": None
        if not last
        else {
            "version_id": last[0].version_id,
            "description": last[0].description,
            "author_name": last[0].author_name,
            "timestamp": last[0].timestamp,
        },
        "live": live,
    }


API: dict[re.Pattern[str], Handler] = {
    re.compile(r"/api/documents"): _documents,
    diff_api.ROUTE: diff_api.diff,
}
"""Route (named groups are the request's ``params``) → handler."""


def api_route(path: str) -> tuple[Handler, dict[str, str]] | None:
    """The handler for ``path`` and its named parts (URL-decoded), or None."""
    for pattern, handler in API.items():
        match = pattern.fullmatch(path)
        if match is not None:
            return handler, {k: unquote(v) for k, v in match.groupdict().items()}
    return None


async def call(handler: Handler, request: ApiRequest) -> ApiResponse:
    """Run ``handler``; the project's errors become their JSON answer."""
    try:
        answer = handler(request)
        return await answer if inspect.isawaitable(answer) else answer
    except NotFound as exc:
        return ApiResponse(404, {"error": "not_found", "message": str(exc)})
    except ClientError as exc:
        return ApiResponse(400, {"error": exc.code, "message": str(exc)})
    except SvgxError as exc:
        log.warning("%s failed: %s", handler.__name__, exc)
        return ApiResponse(500, {"error": exc.code, "message": str(exc)})


RAW = re.compile(r"/d/(?P<session>[^/]+)/raw/(?P<file>.+)")
"""A file of a live session, as its welcome names it (:func:`raw_url`)."""


def raw_url(session_id: str, path: str) -> str:
    """Where a welcome says a file too large to come inline is fetched (``GET``)."""
    return f"/d/{quote(session_id, safe='@')}/raw/{quote(path, safe='/')}"


@dataclass(frozen=True)
class RawFile:
    """A live file, its room and the ``seq`` it holds, or why there is none."""

    status: int
    room: Room | None = None
    path: str = ""  # the file's path in the session (the URL's, unquoted)
    seq: int = 0
    error: str = ""
    message: str = ""


def raw_file(daemon: Daemon, session: str, path: str, principal: Principal | None) -> RawFile:
    """File ``path`` of the live session ``session`` (``name`` or ``name@branch``), as
    the session holds it now. Only a loaded session is served: the one who fetches has
    just been welcomed into it, and a fetch never loads or creates a document."""
    name, _, branch = unquote(session).partition("@")
    path = unquote(path)
    if principal is not None and not principal.may_open(name):
        return RawFile(403, error="forbidden", message=f"{principal.user_id} may not open {name!r}")
    if branch:
        room = daemon.rooms.get(document_key(name, branch))
    else:
        room = daemon.loader.working_tree_room(name)
    if room is None:
        return RawFile(404, error="not_found", message=f"{session!r} is not live: join it first")
    if path not in room.live.files:
        return RawFile(404, error="not_found", message=f"{session!r} has no file {path!r}")
    return RawFile(200, room=room, path=path, seq=room.live.seq)
