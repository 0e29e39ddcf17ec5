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
  journal does not belong on these files, and replay stops with an error, unless the
  journal was found damaged: then the seq jumps the gap, what no longer applies is
  skipped and named, and every client reloads.
* A rotated journal starts with what :func:`retained` returns, so a replay of it gives
  the same session as a replay of the journal it replaces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import NotFound, OperationError
from .conflict_record import ConflictRecord
from .conflicts import ConflictBook, Strategy
from .diff import FILE_ADD, FILE_OPERATIONS
from .journal_records import (
    ConflictsRecord,
    JournalRecord,
    OpRecord,
    ResetRecord,
    StrategyRecord,
)
from .ops import Operation, apply_operation
from .protocol import Ack
from .svgdoc import SvgDocument

if TYPE_CHECKING:
    from .session import LiveDocument

__all__ = ["replay_journal", "retained"]

#: Fields an entry has only as clients are sent it (:mod:`svgx_sync.core.active`).
_SERVED_ONLY = frozenset({"seq", "active_content"})


def replay_journal(
    live: LiveDocument,
    records: Iterable[JournalRecord],
    *,
    after_seq: int,
    unapplied: list[int] | None = None,
) -> int:
    """Re-apply journal ``records`` to ``live``; returns how many operations were applied
    (those past ``after_seq``).

    A gap in the seqs is an error, unless ``unapplied`` is given (the journal was
    damaged and some records could not be read): then the seq jumps over the gap, an
    operation that no longer applies is skipped and its seq added to ``unapplied``, and
    nothing is offered for catch-up (a client may hold what was lost: it reloads)."""
    applied = 0
    for record in records:
        if isinstance(record, OpRecord):
            applied += _replay_op(live, record.entry, after_seq, unapplied)
        elif isinstance(record, ResetRecord):
            if record.seq > after_seq:
                texts = record.files.items()
                live.replace_files({p: t.encode("utf-8", "surrogateescape") for p, t in texts})
            live.seq = max(live.seq, record.seq)
            live.recent.restart(live.seq)
        elif isinstance(record, StrategyRecord):
            live.strategy = Strategy(record.strategy)
        else:
            _replay_conflicts(live.book, record)
    if unapplied is None:
        live.recent.settle(live.seq)
    else:
        live.recent.restart(live.seq)
    return applied


def _replay_op(
    live: LiveDocument, wire: Mapping[str, Any], after_seq: int, unapplied: list[int] | None
) -> int:
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
        if unapplied is None:
            raise OperationError(f"journal gap: expected seq {live.seq + 1}, got {seq}")
        if seq <= live.seq:
            return 0  # out of order after the damage: the seq went on without it
    if fresh and op is None:
        _replay_file(live, wire)
    elif fresh and op is not None:
        file = op.file or live.default_file
        try:
            inverse = apply_operation(live.files[file], op)
        except (OperationError, NotFound, KeyError):
            if unapplied is None:
                raise
            unapplied.append(seq)  # it needed what the damage took
            live.seq = seq
            return 0
        live.book.record(seq, op, inverse)
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


def _replay_conflicts(book: ConflictBook, record: ConflictsRecord) -> None:
    """New or changed conflicts and the book's counts (records of every format so far)."""
    for state in record.records:
        conflict = ConflictRecord.from_state(state)
        book.conflicts[conflict.conflict_id] = conflict
    book.counter = max(book.counter, record.counter)
    book.detected = max(book.detected, record.detected)
    book.resolved = max(book.resolved, record.resolved)


def retained(live: LiveDocument) -> list[JournalRecord]:
    """What a rotated journal must keep: the open conflicts and the counts (so ids are
    never reused), the recent entries (for catch-up and ``op_id`` answers), all at or
    below the current ``seq``, and the session's strategy.

    Settled conflicts are not carried over: after a restart they are gone from the book
    (their ``conflict_id`` is then unknown); the counts still include them.
    """
    out: list[JournalRecord] = [StrategyRecord(live.strategy.value)]
    if live.book.counter:
        out.append(live.conflict_record(live.book.open()))
    out.extend(OpRecord(e) for e in live.recent)
    return out
