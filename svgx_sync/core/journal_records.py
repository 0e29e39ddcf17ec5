"""The journal's records as typed values, and their JSON form.

A live session returns what must be durable before anyone hears of it as these values
(:class:`svgx_sync.core.session.Outcome` ``journal``) and replays them after a restart;
:mod:`svgx_sync.durable.journal` frames their JSON form on disk. The JSON form is the
one journals have always held, so a journal written before the records were typed reads
the same.

* :class:`OpRecord`: a numbered entry (an operation, or a whole file added or deleted),
  as it was taken in, before anything in it was made inert for serving.
* :class:`ResetRecord`: every file replaced at one ``seq`` (a revert, an aborted merge).
* :class:`StrategyRecord`: the session's conflict strategy changed.
* :class:`ConflictsRecord`: conflict records, new or changed, and the book's counts.

Only op and reset records carry a ``seq``; :func:`from_json` refuses anything that is
not one of the four with :class:`ValueError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConflictsRecord",
    "JournalRecord",
    "OpRecord",
    "ResetRecord",
    "StrategyRecord",
    "from_json",
    "to_json",
]


@dataclass(frozen=True, slots=True)
class OpRecord:
    """A numbered entry, its wire form (``seq``, ``op_id``, ``operation_type`` ...)."""

    entry: dict[str, Any]

    @property
    def seq(self) -> int:
        return int(self.entry["seq"])


@dataclass(frozen=True, slots=True)
class ResetRecord:
    """Every file replaced at ``seq``; ``files`` are texts (surrogate-escaped bytes)."""

    seq: int
    reason: str
    files: dict[str, str]


@dataclass(frozen=True, slots=True)
class StrategyRecord:
    strategy: str

    @property
    def seq(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ConflictsRecord:
    """Conflict records (new or changed) and the counts, so ids are never reused."""

    records: list[dict[str, Any]]
    counter: int
    detected: int
    resolved: int

    @property
    def seq(self) -> None:
        return None


JournalRecord = OpRecord | ResetRecord | StrategyRecord | ConflictsRecord


def to_json(record: JournalRecord) -> dict[str, Any]:
    """The JSON object that stands for ``record`` in a journal."""
    if isinstance(record, OpRecord):
        return {"kind": "op", "op": record.entry}
    if isinstance(record, ResetRecord):
        return {"kind": "reset", "seq": record.seq, "reason": record.reason, "files": record.files}
    if isinstance(record, StrategyRecord):
        return {"kind": "strategy", "strategy": record.strategy}
    return {
        "kind": "conflicts",
        "records": record.records,
        "counter": record.counter,
        "detected": record.detected,
        "resolved": record.resolved,
    }


def from_json(value: object) -> JournalRecord:
    """The record a journal's JSON object stands for; ValueError when it is none."""
    if not isinstance(value, Mapping):
        raise ValueError("a journal record is a JSON object")
    try:
        kind = value["kind"]
        if kind == "op":
            entry = value["op"]
            if not isinstance(entry, dict) or not isinstance(entry.get("seq"), int):
                raise ValueError("an op record needs an entry with a seq")
            return OpRecord(entry)
        if kind == "reset":
            files = value["files"]
            if not isinstance(files, dict):
                raise ValueError("a reset record needs its files")
            return ResetRecord(int(value["seq"]), str(value.get("reason", "")), files)
        if kind == "strategy":
            return StrategyRecord(str(value["strategy"]))
        if kind == "conflicts":
            return ConflictsRecord(
                list(value["records"]),
                int(value.get("counter", 0)),
                int(value.get("detected", 0)),
                int(value.get("resolved", 0)),
            )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"an incomplete journal record: {exc}") from exc
    raise ValueError(f"an unknown journal record kind {kind!r}")
