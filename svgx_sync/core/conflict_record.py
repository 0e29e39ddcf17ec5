"""One live conflict as a typed value: what clients are sent and what the journal keeps.

A conflict record is made by :mod:`svgx_sync.core.conflicts` (two operations that
overlap), by the branch merge (:func:`svgx_sync.core.versions.merge_branch`)
and by the rules for outside edits (:func:`svgx_sync.core.external.delete_conflict`).
It goes to clients as :meth:`ConflictRecord.to_wire` (in ``conflict_detected``,
``conflict_resolved``, ``welcome`` and ``merge_in_progress``) and into the journal's
``conflicts`` records in that same form; :meth:`ConflictRecord.from_state` reads it back
after a restart, also from journals written before the record was typed.

Guarantees:

* The wire form is exactly the dict the clients have always been sent: the fields every
  record has are always there (``attribute``, ``base``, ``ours`` and ``theirs`` may be
  null), the others only when the record has them.
* Nothing persisted is dropped: a field this version does not know (a newer journal's)
  is kept aside and written back as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from .merge import Conflict

__all__ = ["ConflictRecord", "ConflictStatus", "OpRef", "Scalar", "Winner"]

ConflictStatus = Literal["open", "auto_resolved", "resolved", "rejected", "merged", "aborted"]
"""``open`` waits for someone; ``auto_resolved`` was settled by the strategy and can still
be overridden; ``resolved``, ``rejected`` and ``merged`` are settled; ``aborted`` belonged
to a branch merge that was given up."""

Winner = Literal["earlier", "later"]
"""Whose change the live state holds: the earlier operation's or the later one's."""

Scalar = str | int | float | bool | None
"""A conflicting value as it is sent (attribute values and text are strings)."""


@dataclass(frozen=True, slots=True)
class OpRef:
    """Which operation took part in a conflict: its sender, its ``op_id`` and (for the
    earlier one, which was numbered) its ``seq``."""

    op_id: str | None
    user_id: str
    seq: int | None = None

    def to_wire(self) -> dict[str, Any]:
        if self.seq is None:
            return {"op_id": self.op_id, "user_id": self.user_id}
        return {"seq": self.seq, "op_id": self.op_id, "user_id": self.user_id}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> OpRef:
        seq = state.get("seq")
        return cls(state.get("op_id"), str(state.get("user_id")), None if seq is None else int(seq))


# The fields written only when set, in the order they are written.
_OPTIONAL = (
    "earlier",
    "later",
    "strategy",
    "recreate",
    "parent",
    "reason",
    "status",
    "winner",
    "later_operation",
    "held_operation",
    "later_inverse",
    "resolution",
    "resolved_by",
    "resolved_at",
)
_MERGE_FIELDS = ("blocking", "parent", "detail", "mark_id")


@dataclass(slots=True)
class ConflictRecord:
    """One conflict of a live session.

    ``key`` says what overlapped: ``@name`` an attribute, ``#text``/``#tail`` text,
    ``#place`` the element's parent, ``#exists`` the element itself (a delete against an
    edit), ``#file`` a whole file. ``later_operation`` is the later operation as sent
    (JSON); ``held_operation`` the one held under ``manual``; ``later_inverse`` what
    undoes the later operation's effect; ``recreate`` the create that brings back an
    element deleted meanwhile. A branch merge's conflicts carry ``merge`` (the branch)
    and the merge engine's ``blocking``, ``parent``, ``detail`` and ``mark_id``.

    It is mutable on purpose: the session's book keeps one record per conflict, and a
    resolution or an aborted merge settles that record in place.
    """

    kind: str
    file: str
    element_id: str
    key: str
    users: list[str]
    strategy: str
    status: ConflictStatus = "open"
    winner: Winner = "later"
    conflict_id: str = ""  # given by the book when the record is filed
    attribute: str | None = None
    base: Scalar = None
    ours: Scalar = None
    theirs: Scalar = None
    earlier: OpRef | None = None
    later: OpRef | None = None
    reason: str | None = None
    recreate: dict[str, Any] | None = None
    parent: str | None = None
    later_operation: dict[str, Any] | None = None
    held_operation: dict[str, Any] | None = None
    later_inverse: list[dict[str, Any]] | None = None
    resolution: str | dict[str, Any] | None = None
    resolved_by: str | None = None
    resolved_at: float | None = None
    merge: str | None = None
    blocking: bool | None = None
    detail: str | None = None
    mark_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # persisted fields not known here

    @property
    def settled(self) -> bool:
        """Nobody needs to act on it any more (it is neither open nor auto-resolved)."""
        return self.status not in ("open", "auto_resolved")

    def to_wire(self) -> dict[str, Any]:
        """The JSON clients are sent, which is also what the journal keeps."""
        out: dict[str, Any] = {
            "conflict_id": self.conflict_id,
            "kind": self.kind,
            "file": self.file,
            "element_id": self.element_id,
            "attribute": self.attribute,
            "base": self.base,
            "ours": self.ours,
            "theirs": self.theirs,
        }
        if self.merge is not None:  # the merge engine's fields, each always there
            for name in _MERGE_FIELDS:
                out[name] = getattr(self, name)
        out["key"] = self.key
        out["users"] = list(self.users)
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None and name not in out:
                out[name] = value.to_wire() if isinstance(value, OpRef) else value
        if self.merge is not None:
            out["merge"] = self.merge
        out.update(self.extra)
        return out

    @classmethod
    def of_branch_merge(cls, conflict: Conflict, *, branch: str, user_id: str) -> ConflictRecord:
        """A blocking conflict of the merge of ``branch`` into the live files by
        ``user_id``: open, and the live state (ours) holds the earlier side."""
        return cls(
            kind=str(conflict.kind),
            file=conflict.file,
            element_id=conflict.element_id,
            attribute=conflict.attribute,
            base=conflict.base,
            ours=conflict.ours,
            theirs=conflict.theirs,
            blocking=conflict.blocking,
            parent=conflict.parent,
            detail=conflict.detail,
            mark_id=conflict.mark_id,
            key=("@" + conflict.attribute) if conflict.attribute else "#" + conflict.kind,
            users=[user_id],
            strategy="merge_branch",
            status="open",
            winner="earlier",
            merge=branch,
        )

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ConflictRecord:
        """A record as :meth:`to_wire` wrote it (or as the journal kept it before records
        were typed: then a missing ``key`` is empty and a missing ``winner`` ``later``)."""
        known = cls.__dataclass_fields__.keys() - {"extra"}
        earlier, later = state.get("earlier"), state.get("later")
        return cls(
            kind=str(state.get("kind", "")),
            file=str(state.get("file", "")),
            element_id=str(state.get("element_id", "")),
            key=str(state.get("key") or ""),
            users=[str(u) for u in state.get("users") or []],
            strategy=str(state.get("strategy", "")),
            status=cast(ConflictStatus, state.get("status", "open")),
            winner=cast(Winner, state.get("winner", "later")),
            conflict_id=str(state.get("conflict_id", "")),
            attribute=state.get("attribute"),
            base=state.get("base"),
            ours=state.get("ours"),
            theirs=state.get("theirs"),
            earlier=None if earlier is None else OpRef.from_state(earlier),
            later=None if later is None else OpRef.from_state(later),
            reason=state.get("reason"),
            recreate=state.get("recreate"),
            parent=state.get("parent"),
            later_operation=state.get("later_operation"),
            held_operation=state.get("held_operation"),
            later_inverse=state.get("later_inverse"),
            resolution=state.get("resolution"),
            resolved_by=state.get("resolved_by"),
            resolved_at=state.get("resolved_at"),
            merge=state.get("merge"),
            blocking=state.get("blocking"),
            detail=state.get("detail"),
            mark_id=state.get("mark_id"),
            extra={k: v for k, v in state.items() if k not in known},
        )
