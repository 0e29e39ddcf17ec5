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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ClientError
from .conflict_record import ConflictRecord
from .diff import FILE_OPERATIONS, diff_documents
from .merge import Versions, merge_documents
from .ops import Operation, coerce_operation

if TYPE_CHECKING:
    from .session import LiveDocument

__all__ = [
    "BranchMerge",
    "abort_merge",
    "author",
    "check_description",
    "merge_branch",
    "revert_deletes",
]

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

    @classmethod
    def start(
        cls,
        branch: str,
        ours: str,
        theirs: str,
        before: Mapping[str, bytes],
        theirs_files: Mapping[str, bytes],
        records: Iterable[ConflictRecord],
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
        )

    @property
    def parents(self) -> list[str]:
        return [self.ours, self.theirs]

    def waiting(self, conflicts: Mapping[str, ConflictRecord]) -> list[str]:
        """The merge's conflicts still open in ``conflicts`` (the session's book)."""
        return [cid for cid in self.conflict_ids if conflicts[cid].status == "open"]

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


def abort_merge(live: LiveDocument, merge: BranchMerge) -> dict[str, Any]:
    """Mark the conflicts ``merge`` waits on ``aborted`` (the merge is given up); returns
    the journal record that keeps them."""
    aborted = [live.book.conflicts[cid] for cid in merge.conflict_ids]
    for conflict in aborted:
        conflict.status = "aborted"
    return live.conflict_record(aborted)
