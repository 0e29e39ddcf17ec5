"""A live session rebuilt from its journal, and what a rotated journal keeps of it.

Rules kept here (pure: the records come in as values, already read):

* Replaying the journal records on top of the files they started from rebuilds exactly
  the same session: the same files, ``seq``, recent entries, answers (per sender and
  ``op_id``: every entry carries its ``user_id``),
  conflicts and strategy. An ``op`` record carries the *effective* operation (what was
  applied and broadcast), which is re-applied as it is, never judged again.
* ``op`` records up to ``after_seq`` are in the files already (a checkpoint was made
  after them): they only rebuild the recent entries and the answers.
* Operations past the checkpoint must follow each other without a gap; a gap means the
  journal does not belong on these files, and replay stops with an error.
* A rotated journal starts with what :func:`retained` returns, so a replay of it gives
  the same session as a replay of the journal it replaces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import OperationError
from .conflict_record import ConflictRecord
from .conflicts import ConflictBook, Strategy
from .diff import FILE_ADD, FILE_OPERATIONS
from .ops import Operation, apply_operation
from .protocol import Ack
from .svgdoc import SvgDocument

if TYPE_CHECKING:
    from .session import LiveDocument

__all__ = ["replay_journal", "retained"]

#: Fields an entry has only as clients are sent it (:mod:`svgx_sync.core.active`).
_SERVED_ONLY = frozenset({"seq", "active_content"})


def replay_journal(
    live: LiveDocument, records: Iterable[Mapping[str, Any]], *, after_seq: int
) -> int:
    """Re-apply journal ``records`` to ``live``; returns how many operations were applied
    (those past ``after_seq``)."""
    applied = 0
    for record in records:
        kind = record.get("kind")
        if kind == "op":
            applied += _replay_op(live, record["op"], after_seq)
        elif kind == "reset":
            seq = int(record["seq"])
            if seq > after_seq:
                texts = record["files"].items()
                live.replace_files({p: t.encode("utf-8", "surrogateescape") for p, t in texts})
            live.seq = max(live.seq, seq)
            live.recent.restart(live.seq)
        elif kind == "strategy":
            live.strategy = Strategy(record["strategy"])
        elif kind == "conflicts":
            _replay_conflicts(live.book, record)
    live.recent.settle(live.seq)
    return applied


def _replay_op(live: LiveDocument, wire: Mapping[str, Any], after_seq: int) -> int:
    """One numbered entry: applied when it is past ``after_seq`` (1, else 0), kept for
    catch-up and its ``op_id`` answered as applied either way."""
    seq = int(wire["seq"])
    if wire.get("operation_type") in FILE_OPERATIONS:
        op_id, user_id = wire["op_id"], wire["user_id"]
        op = None
    else:
        # A rotated journal keeps the recent entries as clients were sent them, which
        # may say what was made inert (``active_content``): not part of the operation.
        fields = {k: v for k, v in wire.items() if k not in _SERVED_ONLY}
        op = Operation.model_validate(fields)
        op_id, user_id = op.op_id, op.user_id
    fresh = seq > after_seq
    if fresh and seq != live.seq + 1:
        raise OperationError(f"journal gap: expected seq {live.seq + 1}, got {seq}")
    if fresh and op is None:
        _replay_file(live, wire)
    elif fresh and op is not None:
        file = op.file or live.default_file
        live.book.record(seq, op, apply_operation(live.files[file], op))
        live.dirty.add(file)
    live.seq = max(live.seq, seq)
    live.recent.keep(live.served_entry(dict(wire)))
    if op_id is not None:
        live.recent.remember(user_id, op_id, Ack(op_id, seq, "applied"))
    return int(fresh)


def _replay_file(live: LiveDocument, wire: Mapping[str, Any]) -> None:
    file = wire["file"]
    if wire["operation_type"] == FILE_ADD:
        data = wire["data"]["markup"].encode("utf-8", "surrogateescape")
        live.files[file] = SvgDocument(data, name=file)
        live.dirty.add(file)
    else:
        live.files.pop(file, None)
        live.dirty.discard(file)


def _replay_conflicts(book: ConflictBook, record: Mapping[str, Any]) -> None:
    """New or changed conflicts and the book's counts (records of every format so far)."""
    for state in record["records"]:
        conflict = ConflictRecord.from_state(state)
        book.conflicts[conflict.conflict_id] = conflict
    book.counter = int(record.get("counter", book.counter))
    book.detected = int(record.get("detected", book.detected))
    book.resolved = int(record.get("resolved", book.resolved))


def retained(live: LiveDocument) -> list[dict[str, Any]]:
    """What a rotated journal must keep: the open conflicts and the counts (so ids are
    never reused), the recent entries (for catch-up and ``op_id`` answers), all at or
    below the current ``seq``, and the session's strategy.

    Settled conflicts are not carried over: after a restart they are gone from the book
    (their ``conflict_id`` is then unknown); the counts still include them.
    """
    out: list[dict[str, Any]] = [{"kind": "strategy", "strategy": live.strategy.value}]
    if live.book.counter:
        out.append(live.conflict_record(live.book.open()))
    out.extend({"kind": "op", "op": e} for e in live.recent)
    return out
