"""The wire protocol: JSON text frames, client messages in, server messages out.

Guarantees:

* A client frame is parsed once (orjson) and validated once by one reused
  :class:`~pydantic.TypeAdapter` over a union discriminated on ``type``; what it built
  is handed on as it is (an operation message becomes an :class:`Operation` without a
  second validation or a dump). Unknown fields are refused, except where the seed's own
  messages need latitude (documented per model). A bad frame becomes a :class:`ProtocolError` or :class:`OperationError` whose
  ``code`` goes back to the sender in an ``error`` message.
* An ``op_id`` is 1 to :data:`OP_ID_MAX` of the characters of :data:`OP_ID_PATTERN`
  (letters, digits and ``. _ : @ / + = ~ # -``: UUIDs, ULIDs, base64url and
  ``user:counter`` ids fit), because it goes into the ``Svgx-Operation`` trailers of a
  version's commit message: no whitespace or control character can break a trailer or
  make it say something else. An operation's ``base_seq`` is a ``seq`` the session has
  reached: a later one cannot have been seen, and judging against it would skip
  conflict detection (:func:`check_client_operation`).
* Server messages are built here by small functions returning plain dicts, and encoded
  once with orjson (:func:`encode`); the daemon never re-encodes per client.

The full description, with examples, is ``docs/protocol.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ..errors import OperationError, ProtocolError, validation_problems
from .conflict_record import ConflictRecord
from .ops import Operation, OperationType, built

if TYPE_CHECKING:
    from .external import GitConflict, Loss

__all__ = [
    "Ack",
    "Activity",
    "ClientMessage",
    "Join",
    "Leave",
    "OperationMessage",
    "ResolveConflict",
    "VersionRequest",
    "check_client_operation",
    "encode",
    "parse_message",
]

_ID = Annotated[str, Field(min_length=1, max_length=256)]

OP_ID_MAX = 128
_OP_ID_CHARS = r"[A-Za-z0-9._:@/+=~#-]"
OP_ID_PATTERN = f"^{_OP_ID_CHARS}+$"
_OP_ID = re.compile(f"{_OP_ID_CHARS}+")
_OpId = Annotated[str, Field(min_length=1, max_length=OP_ID_MAX, pattern=OP_ID_PATTERN)]


def check_client_operation(op_id: str | None, base_seq: int | None, *, seq: int) -> None:
    """Refuse a client's operation whose ``op_id`` could not go into a commit trailer, or
    whose ``base_seq`` is past ``seq``, the session's (see the module's guarantees)."""
    if op_id is not None and (len(op_id) > OP_ID_MAX or not _OP_ID.fullmatch(op_id)):
        raise OperationError(
            f"invalid op_id {op_id!r}: 1 to {OP_ID_MAX} letters, digits or . _ : @ / + = ~ # -"
        )
    if base_seq is not None and base_seq > seq:
        raise OperationError(
            f"base_seq {base_seq} is ahead of the session, which is at seq {seq}: "
            "an operation can only be based on what was sent; join again to catch up"
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Join(_Strict):
    """Enter a session; ``session_id`` names a document, optionally ``name@branch``.
    ``user_id`` may be left out when the connection's token names the user."""

    type: Literal["join"]
    user_id: _ID | None = None
    username: Annotated[str, Field(max_length=256)] | None = None
    session_id: Annotated[str, Field(min_length=1, max_length=400)]
    last_seq: Annotated[int, Field(ge=0)] | None = None
    token: Annotated[str, Field(max_length=1024)] | None = None


class OperationMessage(_Strict):
    """The seed's ``operation`` message (its fields are those of :class:`Operation`)."""

    type: Literal["operation"]
    operation_type: OperationType
    user_id: _ID
    session_id: Annotated[str, Field(max_length=400)] | None = None
    element_id: Annotated[str, Field(min_length=1, max_length=1024)]
    data: dict[str, Any] = Field(default_factory=dict)
    op_id: _OpId | None = None
    base_seq: Annotated[int, Field(ge=0)] | None = None
    timestamp: float | None = None
    file: Annotated[str, Field(max_length=1024)] | None = None

    def to_operation(self) -> Operation:
        fields = dict(self.__dict__)
        del fields["type"]
        return built(Operation, fields)


class Activity(_Strict):
    """Presence. The seed's message carries no ``session_id``; one may be given."""

    type: Literal["activity"]
    user_id: _ID
    status: Literal["online", "away", "editing", "offline"] = "online"
    current_element: Annotated[str, Field(max_length=1024)] | None = None
    cursor_position: dict[str, float] | None = None
    selected_elements: Annotated[list[str], Field(max_length=10_000)] | None = None
    session_id: Annotated[str, Field(max_length=400)] | None = None


VersionAction = Literal[
    "create_version",
    "revert",
    "history",
    "create_branch",
    "switch_branch",
    "list_branches",
    "diff",
    "merge_branch",
    "complete_merge",
    "abort_merge",
]


class VersionRequest(_Strict):
    """Version control over the protocol, with the seed's field names."""

    type: Literal["version"]
    action: VersionAction
    created_by: Annotated[str, Field(max_length=256)] | None = None
    user_id: Annotated[str, Field(max_length=256)] | None = None
    session_id: Annotated[str, Field(max_length=400)] | None = None
    description: Annotated[str, Field(max_length=10_000)] | None = None
    version_id: Annotated[str, Field(max_length=256)] | None = None
    branch: Annotated[str, Field(max_length=256)] | None = None
    from_version: Annotated[str, Field(max_length=256)] | None = None
    to_version: Annotated[str, Field(max_length=256)] | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] | None = None
    request_id: Annotated[str, Field(max_length=256)] | None = None


class ResolveConflict(_Strict):
    type: Literal["resolve_conflict"]
    conflict_id: _ID
    resolution: str | dict[str, Any]
    resolved_by: _ID
    session_id: Annotated[str, Field(max_length=400)] | None = None


class Leave(_Strict):
    type: Literal["leave"]
    user_id: Annotated[str, Field(max_length=256)] | None = None
    session_id: Annotated[str, Field(max_length=400)] | None = None


class Status(_Strict):
    """Ask the daemon for its counters (used by ``svgx-sync status``)."""

    type: Literal["status"]


class Configure(_Strict):
    """Set the session's conflict strategy (it applies to operations from then on)."""

    type: Literal["configure"]
    strategy: Literal["automatic", "manual", "last_write_wins", "merge", "reject"]
    user_id: Annotated[str, Field(max_length=256)] | None = None
    session_id: Annotated[str, Field(max_length=400)] | None = None


ClientMessage = Annotated[
    Join
    | OperationMessage
    | Activity
    | VersionRequest
    | ResolveConflict
    | Leave
    | Status
    | Configure,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(ClientMessage)
MESSAGE_TYPES = (
    "join",
    "operation",
    "activity",
    "version",
    "resolve_conflict",
    "leave",
    "status",
    "configure",
)


def _problems(exc: ValidationError) -> str:
    # The first location part is the union's tag (the message type).
    return validation_problems(exc, whole="message", skip=1, limit=5)


def parse_message(frame: str | bytes) -> Any:
    """Decode and validate one client frame; returns one of the message models."""
    try:
        raw = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"malformed JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ProtocolError("a message must be a JSON object")
    kind = raw.get("type")
    if kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {kind!r}; expected one of {MESSAGE_TYPES}")
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        if kind == "operation":
            error = OperationError(f"invalid operation: {_problems(exc)}")
            error.op_id = raw.get("op_id") if isinstance(raw.get("op_id"), str) else None  # type: ignore[attr-defined]
            raise error from None
        raise ProtocolError(f"invalid {kind} message: {_problems(exc)}") from None


def encode(message: dict[str, Any]) -> str:
    """One server message as the text of a frame (encoded once, sent to many)."""
    return orjson.dumps(message).decode()


# -- server messages ---------------------------------------------------------------------


# What orjson writes otherwise than pydantic's JSON mode, it is told to refuse.
_PLAIN_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def op_wire(seq: int, op: Operation) -> dict[str, Any]:
    """An accepted operation as it is broadcast: the operation plus its ``seq``.

    As ``op.model_dump(mode="json", exclude_none=True)`` makes it, its ``data`` a copy
    in JSON types, made by orjson (a round trip costs about a microsecond, the dump
    several); data orjson cannot write as pydantic would goes through pydantic."""
    out: dict[str, Any] = {}
    for name, value in op.__dict__.items():
        if value is not None:
            out[name] = value
    out["operation_type"] = op.operation_type._value_
    try:
        out["data"] = orjson.loads(orjson.dumps(op.data, option=_PLAIN_JSON))
    except TypeError:  # not plain JSON (a set, a date, a key not a string, a huge int)
        out = op.model_dump(mode="json", exclude_none=True)
    out["seq"] = seq
    return out


def welcome(
    *,
    session_id: str,
    document: str,
    branch: str,
    version_id: str | None,
    seq: int,
    files: dict[str, str] | None,
    users: list[dict[str, Any]],
    conflicts: Sequence[ConflictRecord],
    missed: list[dict[str, Any]] | None = None,
    strategy: str,
    active_content: dict[str, list[dict[str, Any]]] | None = None,
    file_urls: dict[str, str] | None = None,
    role: str = "admin",
    user_id: str | None = None,
) -> dict[str, Any]:
    """``files`` are sent as clients get them, inert; ``file_urls`` name the files too
    large to come inline (:func:`inline_split`); ``active_content`` says, per file, what
    was made inert (``docs/security.md``), and is left out when nothing was."""
    out: dict[str, Any] = {
        "type": "welcome",
        "session_id": session_id,
        "document": document,
        "branch": branch,
        "version_id": version_id,
        "seq": seq,
        "strategy": strategy,
        "role": role,
        "user_id": user_id,
        "users": users,
        "conflicts": [c.to_wire() for c in conflicts],
        "catch_up": missed is not None,
    }
    if missed is not None:
        out["operations"] = missed
    else:
        out["files"] = files or {}
        out["svg"] = (files or {}).get("document.svg") if files else None
        if file_urls:
            out["file_urls"] = file_urls
    if active_content and missed is None:
        out["active_content"] = active_content
    return out


def inline_split(sizes: Mapping[str, int], limit: int) -> tuple[list[str], list[str]]:
    """Which files a welcome carries inline and which it names by URL: the smallest
    first, while the inline ones together stay within ``limit`` bytes."""
    inline: list[str] = []
    total = 0
    for path in sorted(sizes, key=lambda p: (sizes[p], p)):
        if total + sizes[path] > limit:
            break
        inline.append(path)
        total += sizes[path]
    return sorted(inline), sorted(set(sizes) - set(inline))


def operations(ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "operations", "operations": ops}


def addressed(
    entries: list[dict[str, Any]], limit: int, url_of: Callable[[str], str]
) -> list[dict[str, Any]]:
    """``entries`` as they go on the wire: a ``file_add`` whose markup is over ``limit``
    characters names the file (``data.markup_url``, fetched as a welcome's ``file_urls``)
    instead of carrying it. Another program that replaces a big drawing whole would
    otherwise send every editor one frame as large as the file, and a client with the
    usual 1 MiB message limit would be closed (1009)."""
    if all(e.get("operation_type") != "file_add" for e in entries):
        return entries
    out = []
    for entry in entries:
        data = entry.get("data")
        if entry.get("operation_type") == "file_add" and isinstance(data, dict):
            markup = data.get("markup")
            if isinstance(markup, str) and len(markup) > limit:
                named = {k: v for k, v in data.items() if k != "markup"}
                named["markup_url"] = url_of(str(entry["file"]))
                entry = {**entry, "data": named}
        out.append(entry)
    return out


@dataclass(frozen=True, slots=True)
class Ack:
    """The answer to one submitted operation; a resent ``op_id`` gets it again."""

    op_id: str | None
    seq: int | None  # the seq it was given; None: not numbered (pending, rejected, presence)
    status: str  # applied, pending or rejected
    reason: str | None = None
    current_state: Any = None  # a rejected operation's element as it is now
    conflict_ids: tuple[str, ...] = ()


def ack(answer: Ack) -> dict[str, Any]:
    """The ``ack`` message that carries ``answer`` (the one place acks are built)."""
    out: dict[str, Any] = {
        "type": "ack",
        "op_id": answer.op_id,
        "seq": answer.seq,
        "status": answer.status,
    }
    if answer.reason is not None:
        out["reason"] = answer.reason
    if answer.current_state is not None:
        out["current_state"] = answer.current_state
    if answer.conflict_ids:
        out["conflict_ids"] = list(answer.conflict_ids)
    return out


def conflict_detected(conflicts: Sequence[ConflictRecord]) -> dict[str, Any]:
    return {"type": "conflict_detected", "conflicts": [c.to_wire() for c in conflicts]}


def conflict_resolved(conflict: ConflictRecord, seq: int | None) -> dict[str, Any]:
    return {
        "type": "conflict_resolved",
        "conflict_id": conflict.conflict_id,
        "resolution": conflict.resolution,
        "resolved_by": conflict.resolved_by,
        "seq": seq,
        "conflict": conflict.to_wire(),
    }


def presence_update(users: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "presence_update", "users": users}


def version_created(
    version_id: str,
    description: str,
    created_by: str,
    seq: int | None,
    *,
    auto: bool = False,
    source: str | None = None,
) -> dict[str, Any]:
    """A version was made: by a user, by svgx_sync itself (``auto``: after a quiet
    period, or before an outside save that drops ids), or with git (``source``)."""
    out: dict[str, Any] = {
        "type": "version_created",
        "version_id": version_id,
        "description": description,
        "created_by": created_by,
        "seq": seq,
    }
    if auto:
        out["auto"] = True
    if source is not None:
        out["source"] = source
    return out


def error(
    code: str, message: str, op_id: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if op_id is not None:
        out["op_id"] = op_id
    if request_id is not None:
        out["request_id"] = request_id
    return out


def file_rejected(document: str, file: str, reason: str, seq: int | None) -> dict[str, Any]:
    """A file in the working tree is not an SVG file; it was not taken in."""
    return {
        "type": "file_rejected",
        "document": document,
        "file": file,
        "reason": reason,
        "seq": seq,
    }


def file_write_failed(document: str, file: str, reason: str, seq: int | None) -> dict[str, Any]:
    """The live state of ``file`` could not be written to the working tree (a read-only
    or immutable file or folder); it is kept live and the write is retried."""
    return {
        "type": "file_write_failed",
        "document": document,
        "file": file,
        "reason": reason,
        "seq": seq,
    }


def file_written(document: str, file: str, seq: int | None) -> dict[str, Any]:
    """A write of ``file`` that had failed went through: the file holds the live state."""
    return {"type": "file_written", "document": document, "file": file, "seq": seq}


def journal_damaged(
    document: str,
    branch: str,
    *,
    lost_seqs: list[int],
    lost_after_seq: int | None,
    not_applied: list[int],
    kept_as: str,
    found_at: str,
) -> dict[str, Any]:
    """The session's journal was found damaged: the acknowledged records in
    ``lost_seqs`` (and, with ``lost_after_seq``, any after that seq) could not be read,
    those in ``not_applied`` no longer applied without them; the damaged file is kept
    at ``kept_as``. Told to everyone who joins until an operator removes that copy."""
    lost = ", ".join(map(str, lost_seqs)) or "none known"
    later = "" if lost_after_seq is None else f", and any after seq {lost_after_seq}"
    return {
        "type": "journal_damaged",
        "document": document,
        "branch": branch,
        "lost_seqs": lost_seqs,
        "lost_after_seq": lost_after_seq,
        "not_applied": not_applied,
        "kept_as": kept_as,
        "found_at": found_at,
        "message": (
            f"the journal of {document}@{branch} was damaged; operations lost: {lost}{later}."
            " Check the document and redo what is missing; the damaged file is kept as"
            f" {kept_as}"
        ),
    }


def lock_held(
    document: str, branch: str, folder: str, path: str, age_s: float, holders: list[str]
) -> dict[str, Any]:
    """A git lock file of the document's repository has been held for ``age_s`` s:
    versions wait for it. ``holders`` are the processes seen using it (none: most likely
    left by a process that was killed)."""
    by = f" by {'; '.join(holders)}" if holders else ", by no running process we can see"
    return {
        "type": "lock_held",
        "document": document,
        "branch": branch,
        "path": path,
        "age_s": age_s,
        "holders": holders,
        "message": (
            f"{path} has been held for {age_s:.0f} s{by}; versions of {document} wait for it."
            f" If no git command is working there, remove it with `svgx-sync unlock {folder}`"
        ),
    }


def external_loss(
    document: str, file: str, loss: Loss, version_id: str | None, seq: int | None
) -> dict[str, Any]:
    """An outside save dropped ids or the model; ``version_id`` keeps the state before."""
    return {
        "type": "external_loss",
        "document": document,
        "file": file,
        "version_id": version_id,
        "ids_stripped": list(loss.ids_stripped),
        "ids_removed": list(loss.ids_removed),
        "metadata_dropped": list(loss.metadata_dropped),
        "live_edits_replaced": loss.live_edits_replaced,
        "seq": seq,
    }


# -- what the watcher tells the clients ------------------------------------------------------


def git_conflict_pending(
    document: str, file: str, found: GitConflict, seq: int | None
) -> dict[str, Any]:
    """git stopped on a merge conflict in ``file``: it is held until settled."""
    return {
        "type": "git_conflict_pending",
        "document": document,
        "file": file,
        "reason": found.reason,
        "conflicts": list(found.conflicts),
        "seq": seq,
        "source": "git",
    }


def git_conflict_resolved(document: str, file: str, seq: int | None) -> dict[str, Any]:
    """The file holds no conflict any more; it is merged next."""
    return {
        "type": "git_conflict_resolved",
        "document": document,
        "file": file,
        "seq": seq,
        "source": "git",
    }


# -- what the daemon answers and announces: sessions, versions, branches ---------------------


def left() -> dict[str, Any]:
    """The answer to ``leave``."""
    return {"type": "left"}


def status(health: dict[str, Any]) -> dict[str, Any]:
    """The answer to ``status``: the daemon's health and counters (as ``/healthz``)."""
    return {"type": "status", **health}


def session_configured(strategy: str, changed_by: str | None) -> dict[str, Any]:
    """The session's conflict strategy changed (to everyone in it)."""
    return {"type": "session_configured", "strategy": strategy, "changed_by": changed_by}


def head_detached(document: str, branch: str, version_id: str | None, seq: int) -> dict[str, Any]:
    """git detached HEAD: the session of ``branch`` is parked and writes nothing."""
    return {
        "type": "head_detached",
        "document": document,
        "branch": branch,
        "version_id": version_id,
        "seq": seq,
        "source": "git",
    }


def reload(
    message: dict[str, Any],
    seq: int,
    files: dict[str, str],
    active_content: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """``message`` for clients that reload every file: after a revert or an aborted merge
    the live files were replaced at ``seq``. Like :func:`welcome`'s, ``files`` are inert
    and ``active_content`` says what was made inert."""
    out = {**message, "seq": seq, "files": files}
    if active_content:
        out["active_content"] = active_content
    return out


def version_reverted(version_id: str, reverted_to: str, created_by: str) -> dict[str, Any]:
    """A revert made ``version_id``, with the files of ``reverted_to`` (see :func:`reload`)."""
    return {
        "type": "version_reverted",
        "version_id": version_id,
        "reverted_to": reverted_to,
        "created_by": created_by,
    }


def history(branch: str, versions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "history", "branch": branch, "versions": versions}


def branch_created(branch: str, version_id: str) -> dict[str, Any]:
    return {"type": "branch_created", "branch": branch, "version_id": version_id}


def branches(listed: list[dict[str, Any]]) -> dict[str, Any]:
    """The branches: each ``{"name", "version_id", "current"}``."""
    return {"type": "branches", "branches": listed}


def diff(
    from_version: str, to_version: str | None, changes: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "diff",
        "from_version": from_version,
        "to_version": to_version,
        "changes": changes,
    }


def branch_merged(
    branch: str,
    *,
    version_id: str | None = None,
    up_to_date: bool = False,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """``branch`` is merged: by the two-parent commit ``version_id``, or nothing was to
    merge (``up_to_date``); ``notes`` say what the merge left as it was."""
    out: dict[str, Any] = {"type": "branch_merged", "branch": branch}
    if up_to_date:
        out["up_to_date"] = True
    else:
        out["version_id"] = version_id
    if notes is not None:
        out["notes"] = notes
    return out


def merge_in_progress(
    branch: str, conflicts: Sequence[ConflictRecord], notes: list[str]
) -> dict[str, Any]:
    """The merge of ``branch`` waits on ``conflicts``: resolve them, then complete it."""
    return {
        "type": "merge_in_progress",
        "branch": branch,
        "conflicts": [c.to_wire() for c in conflicts],
        "notes": notes,
    }


def merge_aborted(branch: str) -> dict[str, Any]:
    """The merge of ``branch`` was given up; the live state is what it was before."""
    return {"type": "merge_aborted", "branch": branch}
