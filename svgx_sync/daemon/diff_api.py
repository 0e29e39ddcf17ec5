"""``GET /api/d/<document>/diff?from=<rev>&to=<rev>``: the data of the visual diff page.

A shell: it reads the two sides (git objects at a version or branch, or the live state)
and hands them to :func:`svgx_sync.core.changes.element_changes`, which decides what
changed. A side's ``rev`` is

* a version id (full or a unique abbreviation of at least 4 hex digits), a branch or a
  tag: the files of that commit;
* ``live``: the live state of the session of the checked-out branch when one is loaded
  (unversioned edits included), else the files of the working tree.

``from`` defaults to the checked-out branch and ``to`` to ``live``. The files are sent as
clients are sent them, with active content made inert (:mod:`svgx_sync.core.active`);
the changes are those of the files as they are. Errors: a document, version or branch
that does not exist is 404 ``not_found``; a name that cannot be one is 400; with tokens
configured, a token that may not open the document is 403 ``forbidden``.

The live texts are taken on the event loop, where the session cannot change under them;
the rest (git, parsing, comparing) runs in a worker thread with a repository object of
its own, so a large drawing does not hold up the live sessions.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from ..core import active
from ..core.changes import changes_from_text, element_changes
from ..core.svgdoc import SvgDocument
from ..errors import InvalidName
from ..git.history import version_of
from ..git.names import validate_branch_name, validate_document_name, validate_tag_name
from ..git.store import Document, Store
from . import memory

if TYPE_CHECKING:
    from .pages import ApiRequest, ApiResponse

__all__ = ["ANSWER_WITHIN_S", "LIVE", "ROUTE", "Comparisons", "diff"]

LIVE = "live"
ROUTE = re.compile(r"/api/d/(?P<document>[^/]+)/diff")
"""The route :data:`svgx_sync.daemon.pages.API` maps to :func:`diff`."""

_HEX = re.compile(r"[0-9a-fA-F]{4,40}")
HISTORY_CHOICES = 50
"""How many versions of the checked-out branch the answer offers to pick from."""


@dataclass
class Side:
    """One side of the diff: what was asked, which commit it is, its files' bytes, their
    texts as clients are sent them, and the parse of each file that differs."""

    rev: str
    version_id: str | None
    label: str
    data: dict[str, bytes]
    served: dict[str, str] = field(default_factory=dict)
    files: dict[str, SvgDocument] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The side as the answer gives it: its files as clients are sent them."""
        told = {name: getattr(self, name) for name in ("rev", "version_id", "label")}
        return {**told, "files": self.served}


async def diff(request: ApiRequest) -> ApiResponse:
    """The two sides' files and the changed elements between them; 503 with ``retry``
    when they are not ready within :data:`ANSWER_WITHIN_S` (the comparison goes on)."""
    from .pages import ApiResponse

    name = validate_document_name(request.params["document"])
    if not request.may_open(name):
        return ApiResponse(403, {"error": "forbidden", "message": f"may not open {name!r}"})
    live = _live_texts(request, name)  # on the loop: the session cannot change meanwhile
    store, query = request.daemon.store, dict(request.query)
    key = (name, tuple(sorted(query.items())), None if live is None else live.label)
    # Reading git, parsing and comparing a large drawing takes a while: not on the loop.
    body = await request.daemon.comparisons.answer(
        key, lambda: asyncio.to_thread(_released, store, name, query, live)
    )
    if isinstance(body, str):
        return ApiResponse(503, {"error": "comparing", "message": body, "retry": True})
    return ApiResponse(200, body)


ANSWER_WITHIN_S = 8.0
"""How long a diff request waits for its answer. websockets ends a connection whose
HTTP answer has not begun within its opening handshake's timeout (10 s), so a longer
comparison (two very different versions of a 50 MB drawing) is answered 503 with
``retry`` instead, and goes on; asking again gets its answer."""

KEPT_S = 120.0
"""How long an answer nobody was waiting for is kept for the request that asks again."""


@dataclass
class _Comparison:
    document: str
    future: asyncio.Future[bytes]
    forget: asyncio.TimerHandle | None = None  # lets an answer nobody took go


class Comparisons:
    """The diffs being computed, each once: the same request while its comparison runs
    waits for that one, and one whose wait ran out gets its answer when it asks again.
    One comparison per document at a time: each may hold two parses of a big drawing."""

    def __init__(self) -> None:
        self._running: dict[Any, _Comparison] = {}

    async def answer(self, key: Any, start: Callable[[], Awaitable[bytes]]) -> bytes | str:
        """The answer's JSON, or why there is none yet (a message for the asker)."""
        loop = asyncio.get_running_loop()
        job = self._running.get(key)
        if job is None:
            document = key[0]
            if any(j.document == document and not j.future.done() for j in self._running.values()):
                return f"another comparison of {document!r} is under way: ask again in a while"
            job = self._running[key] = _Comparison(document, asyncio.ensure_future(start()))
            job.future.add_done_callback(lambda _f: self._finished(key, job, loop))
        try:
            body = await asyncio.wait_for(asyncio.shield(job.future), ANSWER_WITHIN_S)
        except TimeoutError:
            return (
                f"comparing these versions of {job.document!r} takes more than"
                f" {ANSWER_WITHIN_S:.0f} s; it goes on: ask again in a while"
            )
        finally:
            if job.future.done():
                self._drop(key, job)  # answered (or failed): the next asks afresh
        return body

    def _finished(self, key: Any, job: _Comparison, loop: asyncio.AbstractEventLoop) -> None:
        if job.future.cancelled() or job.future.exception() is not None:
            self._drop(key, job)
        elif self._running.get(key) is job:
            job.forget = loop.call_later(KEPT_S, self._drop, key, job)

    def _drop(self, key: Any, job: _Comparison) -> None:
        """Let ``job`` and its answer go (the timer too: it would hold the answer, 130 MB
        of JSON for a 50 MB drawing, for :data:`KEPT_S` more)."""
        if job.forget is not None:
            job.forget.cancel()
            job.forget = None
        if self._running.get(key) is job:
            del self._running[key]


def _released(store: Store, name: str, query: Mapping[str, str], live: LiveTexts | None) -> bytes:
    """:func:`_answer` as JSON, then the memory its trees took is given back (also when
    the request was given up meanwhile: the thread runs to its end). Encoded here: the
    answer holds both sides' files, 130 MB of JSON for a 50 MB drawing."""
    try:
        return orjson.dumps(_answer(store, name, query, live), option=orjson.OPT_APPEND_NEWLINE)
    finally:
        memory.release_soon()


@dataclass(frozen=True)
class LiveTexts:
    """What the live session of the checked-out branch holds, taken on the loop: its
    texts, and those it has served as they are now (:meth:`LiveDocument.served_known`)."""

    label: str
    texts: dict[str, str]
    served: dict[str, str] = field(default_factory=dict)


def _live_texts(request: ApiRequest, name: str) -> LiveTexts | None:
    room = request.daemon.loader.working_tree_room(name)
    if room is None:
        return None
    live = room.live
    texts = live.texts()
    return LiveTexts(f"live ({live.branch}, seq {live.seq})", texts, live.served_known(texts))


def _answer(
    store: Store, name: str, query: Mapping[str, str], live: LiveTexts | None
) -> dict[str, Any]:
    document = store.open(name)  # a repository object of this thread's own
    start = query.get("from") or _default_from(document)
    end = query.get("to") or LIVE
    old = _side(document, start, live)
    new = _side(document, end, live)
    known = _read(old, new)
    return {
        "document": name,
        "branch": document.head_branch(),
        "from": old.to_json(),
        "to": new.to_json(),
        "changes": element_changes(old.files, new.files, known),
        "choices": _choices(document),
    }


def _read(old: Side, new: Side) -> dict[str, list[dict[str, Any]]]:
    """Compare the files that differ between the sides, and serve every file; the
    entries of the files told from their text (the others are parsed into the sides).

    A file in both versions is compared from its text where it can be
    (:func:`~svgx_sync.core.changes.changes_from_text`): neither side is built. A file
    with the same bytes on both sides has no change: it is not compared. A file is
    parsed at most once: not at all when the live session has served it as it is, and
    its tree is not kept if nothing in it can be active
    (:func:`~svgx_sync.core.active.served_text_read`): a diff after a version, or after
    a few edits, does not hold a big drawing twice."""
    differ = {p for p in old.data.keys() | new.data.keys() if old.data.get(p) != new.data.get(p)}
    known: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(differ & old.data.keys() & new.data.keys()):
        told = changes_from_text(old.data[path], new.data[path], path)
        if told is not None:
            known[path] = told
    for side, other in ((old, new), (new, old)):
        for path, content in sorted(side.data.items()):
            if path in differ and path not in known:
                doc = side.files[path] = SvgDocument(content, name=path)
                if path not in side.served:
                    side.served[path] = active.served_text(doc)[0]
            elif path not in side.served:
                served = None if path in differ else other.served.get(path)
                if served is None:
                    served = active.served_text_read(content)
                if served is None:
                    served = active.served_text(SvgDocument(content, name=path))[0]
                side.served[path] = served
    return known


def _default_from(document: Document) -> str:
    return document.head_branch() or (document.head_version() or LIVE)


def check_rev(rev: str) -> str:
    """``rev`` if it can name a side (``live``, hex digits, a branch or tag name), else
    :class:`~svgx_sync.errors.InvalidName`."""
    if rev == LIVE or _HEX.fullmatch(rev):
        return rev
    try:
        return validate_branch_name(rev)
    except InvalidName:
        try:
            return validate_tag_name(rev)
        except InvalidName:
            raise InvalidName(
                f"invalid rev {rev!r}: not a version id, a branch, a tag or {LIVE!r}"
            ) from None


def _side(document: Document, rev: str, live: LiveTexts | None) -> Side:
    """The side ``rev`` names, with its files' bytes (parsed later, by :func:`_read`)."""
    check_rev(rev)
    if rev == LIVE:
        return _live(document, live)
    version_id = document.resolve(rev)
    data = document.svg_files(version_id)
    short = version_id[:7]
    if rev.lower() == version_id[: len(rev)].lower() and _HEX.fullmatch(rev):
        lines = version_of(document.refs.commit(version_id)).description.strip().splitlines()
        label = f"{short} {lines[0] if lines else ''}".strip()
    else:
        label = f"{rev} ({short})"
    return Side(rev, version_id, label, dict(data))


def _live(document: Document, live: LiveTexts | None) -> Side:
    if live is not None:
        data = {path: text.encode() for path, text in live.texts.items()}
        return Side(LIVE, None, live.label, data, dict(live.served))
    branch = document.head_branch()
    label = f"working tree ({branch})" if branch else "working tree"
    return Side(LIVE, None, label, dict(document.svg_files(None)))


def _choices(document: Document) -> dict[str, Any]:
    """What the page's pickers offer: the branches, and the checked-out branch's latest
    versions (newest first)."""
    return {
        "branches": [b["name"] for b in document.list_branches()],
        "versions": [
            {
                "version_id": v.version_id,
                "description": v.description,
                "author_name": v.author_name,
                "timestamp": v.timestamp,
            }
            for v in document.history(limit=HISTORY_CHOICES)
        ],
    }
