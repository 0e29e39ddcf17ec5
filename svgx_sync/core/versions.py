"""The rules of version actions on a live session (no git here: values in, values out).

* A description (of a version, revert or merge) holds no NUL character: git ends a
  commit message there, so the rest would be lost (:func:`check_description`).
* A version is authored by who the request names (``created_by``, else ``user_id``),
  else by the connection's user; the display name is the connection's only when the
  author is that user (:func:`author`).
* A revert makes the target version's files the live files: a live file the target
  lacks is deleted in the revert's commit (:func:`revert_deletes`).
* A branch is merged into the live files element by element (:func:`merge_branch`):
  what merges cleanly becomes operations, what blocks becomes open conflicts.
* A branch merge that waits on conflicts is a :class:`BranchMerge`: what it merges, the
  two heads its commit will have as parents, the live files before it (what an abort
  puts back) and the conflicts it waits on. It completes only when none of those is
  still open, with a commit of the live files plus the files only the other branch has.
  A conflict no longer in the book (settled, then dropped by a journal rotation and a
  restart) does not hold it up.
* A branch merge is kept on disk while it runs (:meth:`BranchMerge.to_state`), in one
  of three phases, so that a crash never leaves it half done
  (:func:`merge_recovery`): ``applying`` (its operations may be only partly journaled:
  the live state goes back to ``before`` and the merge is applied again), ``applied``
  (it waits for ``complete_merge`` or ``abort_merge``) and ``aborting`` (the abort is
  finished). A merge whose commit is made (the session's branch holds ``theirs``) is
  over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ClientError
from .conflict_record import ConflictRecord
from .diff import FILE_OPERATIONS, diff_documents
from .journal_records import ConflictsRecord
from .merge import Versions, merge_documents
from .ops import Operation, coerce_operation

if TYPE_CHECKING:
    from .session import LiveDocument

__all__ = [
    "MERGE_PHASES",
    "BranchMerge",
    "MergePhase",
    "abort_merge",
    "author",
    "check_description",
    "merge_branch",
    "merge_recovery",
    "revert_deletes",
]

MergePhase = Literal["applying", "applied", "aborting"]
MERGE_PHASES: tuple[MergePhase, ...] = ("applying", "applied", "aborting")

DEFAULT_DESCRIPTION = "Version"


def author(
    created_by: str | None,
    user_id: str | None,
    conn_user_id: str | None,
    conn_username: str | None,
) -> tuple[str, str]:
    """The ``(user_id, username)`` a version request is made by."""
    made_by = created_by or user_id or conn_user_id or "user"
    username = conn_username if made_by == conn_user_id and conn_username else made_by
    return made_by, username


def check_description(given: str | None) -> str | None:
    """``given`` when it may be a commit message's description; refused otherwise."""
    if given is not None and "\x00" in given:
        raise ClientError("a description must not contain a NUL character")
    return given


def version_description(given: str | None) -> str:
    return given or DEFAULT_DESCRIPTION


def revert_description(given: str | None, target: str) -> str:
    return given or f"Revert to {target[:12]}"


def revert_deletes(live: Iterable[str], target: Mapping[str, bytes]) -> dict[str, bytes | None]:
    """The live files a revert to ``target`` deletes (each mapped to None)."""
    return {path: None for path in live if path not in target}


@dataclass(frozen=True, slots=True)
class BranchMerge:
    """A merge of ``branch`` into the session's branch, waiting on its conflicts."""

    branch: str
    ours: str  # the session's branch head when the merge started: the first parent
    theirs: str  # the merged branch's head: the second parent
    before: Mapping[str, bytes]  # the live files before the merge: what an abort restores
    theirs_only: Mapping[str, bytes]  # files only the merged branch has: kept in the commit
    conflict_ids: tuple[str, ...]  # the blocking conflicts recorded by the merge
    user_id: str = ""  # who started it: the author of its operations, also when reapplied

    @classmethod
    def start(
        cls,
        branch: str,
        ours: str,
        theirs: str,
        before: Mapping[str, bytes],
        theirs_files: Mapping[str, bytes],
        records: Iterable[ConflictRecord],
        user_id: str = "",
    ) -> BranchMerge:
        """The merge of ``branch`` (its files ``theirs_files``) into ``before``, with the
        conflict ``records`` it found."""
        return cls(
            branch=branch,
            ours=ours,
            theirs=theirs,
            before=dict(before),
            theirs_only={p: d for p, d in theirs_files.items() if p not in before},
            conflict_ids=tuple(r.conflict_id for r in records),
            user_id=user_id,
        )

    def to_state(self, phase: MergePhase) -> dict[str, Any]:
        """What is kept on disk while the merge runs, in ``phase``."""
        return {
            "phase": phase,
            "branch": self.branch,
            "ours": self.ours,
            "theirs": self.theirs,
            "user_id": self.user_id,
            "conflict_ids": list(self.conflict_ids),
            "before": {p: _text(d) for p, d in self.before.items()},
            "theirs_only": {p: _text(d) for p, d in self.theirs_only.items()},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> tuple[BranchMerge, MergePhase]:
        """The merge :meth:`to_state` kept, and its phase; ValueError when damaged."""
        try:
            phase = state["phase"]
            if phase not in MERGE_PHASES:
                raise ValueError(f"unknown merge phase {phase!r}")
            merge = cls(
                branch=str(state["branch"]),
                ours=str(state["ours"]),
                theirs=str(state["theirs"]),
                before={p: _bytes(t) for p, t in state["before"].items()},
                theirs_only={p: _bytes(t) for p, t in state["theirs_only"].items()},
                conflict_ids=tuple(str(c) for c in state["conflict_ids"]),
                user_id=str(state.get("user_id", "")),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"a damaged merge record: {exc!r}") from exc
        return merge, phase

    @property
    def parents(self) -> list[str]:
        return [self.ours, self.theirs]

    def waiting(self, conflicts: Mapping[str, ConflictRecord]) -> list[str]:
        """The merge's conflicts still open in ``conflicts`` (the session's book)."""
        return [
            cid for cid in self.conflict_ids if cid in conflicts and conflicts[cid].status == "open"
        ]

    def recorded(self, conflicts: Mapping[str, ConflictRecord]) -> list[str]:
        """The merge's conflicts that ``conflicts`` (the session's book) still holds."""
        return [cid for cid in self.conflict_ids if cid in conflicts]

    def files(self, live: Mapping[str, bytes]) -> dict[str, bytes]:
        """What the merge commit holds: the live files and those only theirs has."""
        return {**self.theirs_only, **live}

    def description(self, given: str | None, into: str) -> str:
        return given or f"Merge branch '{self.branch}' into {into}"

    def abort_reason(self) -> str:
        return f"abort merge of {self.branch}"


def merge_branch(
    live: LiveDocument,
    base: Mapping[str, bytes],
    ours: Mapping[str, bytes],
    theirs: Mapping[str, bytes],
    *,
    branch: str,
    user_id: str,
) -> tuple[list[tuple[str, list[Operation]]], list[ConflictRecord], list[str]]:
    """Merge branch ``branch`` into the live files with the element merge engine.

    ``ours`` is the live state (``live.contents()``), ``base`` the merge base's files,
    ``theirs`` the other branch's. Blocking conflicts become open conflict records in
    the book. Returns, per file of ours, the ``user_id`` operations that carry
    what merged cleanly (for ``live.apply_external``, one file at a time), the new
    records (not yet journaled) and notes about what the merge left as it was.
    """
    changes: list[tuple[str, list[Operation]]] = []
    records: list[ConflictRecord] = []
    notes: list[str] = []
    for path in sorted(set(base) | set(ours) | set(theirs)):
        result = merge_documents(
            Versions(base.get(path), ours.get(path), theirs.get(path)), file=path
        )
        notes.extend(result.notes)
        if path in ours and result.merged not in (None, ours[path]):
            ops = [
                coerce_operation({**change, "user_id": user_id, "session_id": live.key})
                for change in diff_documents(ours[path], result.merged, path)
                if change["operation_type"] not in FILE_OPERATIONS
            ]
            changes.append((path, ops))
        elif path not in ours and result.merged is not None:
            notes.append(f"{path} exists only on {branch}; it is kept in the commit")
        for conflict in result.conflicts:
            if not conflict.blocking:
                notes.append(conflict.detail or f"{conflict.kind} on {conflict.element_id}")
                continue
            record = ConflictRecord.of_branch_merge(conflict, branch=branch, user_id=user_id)
            records.append(live.book.add(record))
    return changes, records, notes


def abort_merge(live: LiveDocument, merge: BranchMerge) -> ConflictsRecord:
    """Mark the conflicts ``merge`` waits on ``aborted`` (the merge is given up); returns
    the journal record that keeps them."""
    aborted = [live.book.conflicts[cid] for cid in merge.recorded(live.book.conflicts)]
    for conflict in aborted:
        conflict.status = "aborted"
    return live.conflict_record(aborted)


MergeStep = Literal["over", "reapply", "wait", "finish_abort"]


def merge_recovery(phase: MergePhase, *, committed: bool) -> MergeStep:
    """What a merge kept in ``phase`` needs when its session is loaded again:
    ``committed`` says the session's branch holds the merged branch's head already."""
    if committed and phase != "aborting":
        return "over"  # the crash came after the two-parent commit
    if phase == "applying":
        return "reapply"
    if phase == "aborting":
        return "finish_abort"
    return "wait"


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")
