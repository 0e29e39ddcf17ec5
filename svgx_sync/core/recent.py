"""What a live session remembers of its recent operations, for clients that come back.

Rules kept here (pure, bounded):

* The last ``size`` entries (numbered operations, as clients are sent them) are kept in
  ``seq`` order, so a client that reconnects with ``last_seq`` is sent just what it
  missed. ``floor`` is the oldest ``last_seq`` that can still be caught up from; below
  it, or after a reset (every file replaced), the client loads the files again.
* The answers to the last ``size`` ``op_id``\\ s are kept, so a resent operation is
  answered as it was the first time and applied at most once. An ``op_id`` is its
  sender's: the answers are kept per ``(user_id, op_id)``, so another user's operation
  with the same ``op_id`` is never taken for a resend (and never swallowed).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import Any

from .protocol import Ack

__all__ = ["Recent"]


class Recent:
    """The recent entries of one session and the answers to recent ``op_id``\\ s."""

    def __init__(self, size: int, seq: int) -> None:
        self.ring: deque[dict[str, Any]] = deque(maxlen=size)
        self.floor = seq  # the oldest last_seq the ring can still catch up from
        self.answers: OrderedDict[tuple[str, str], Ack] = OrderedDict()
        self.size = size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.ring)

    def keep(self, entry: dict[str, Any]) -> None:
        """A numbered entry (it carries its ``seq``), after every one kept so far."""
        self.ring.append(entry)
        if len(self.ring) == self.ring.maxlen:
            self.floor = self.ring[0]["seq"] - 1

    def since(self, last_seq: int, seq: int) -> list[dict[str, Any]] | None:
        """The entries after ``last_seq`` of a session at ``seq``, or None when they are
        no longer all kept."""
        if last_seq > seq or last_seq < self.floor:
            return None
        if last_seq == seq:
            return []
        return [e for e in self.ring if e["seq"] > last_seq]

    def restart(self, seq: int) -> None:
        """Every file was replaced at ``seq``: nothing before it can be caught up from."""
        self.ring.clear()
        self.floor = seq

    def settle(self, seq: int) -> None:
        """After a replay up to ``seq``: catch-up reaches back to the oldest entry kept."""
        self.floor = self.ring[0]["seq"] - 1 if self.ring else seq

    def answer(self, user_id: str, op_id: str | None) -> Ack | None:
        """The first answer to ``user_id``'s ``op_id``, if it is still remembered."""
        return None if op_id is None else self.answers.get((user_id, op_id))

    def remember(self, user_id: str, op_id: str, answer: Ack) -> None:
        key = (user_id, op_id)
        self.answers[key] = answer
        self.answers.move_to_end(key)
        while len(self.answers) > self.size:
            self.answers.popitem(last=False)
