"""A document's history as svgx_sync shows it: versions, newest first.

A version is a commit read back through :mod:`svgx_sync.git.layout`: its author, its
description without our trailers, and the session and operations the trailers name.
Commits made with the git command read the same way, with no session and no operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2
from pygit2.enums import SortMode

from svgx_sync.errors import StoreError
from svgx_sync.git.layout import parse_message

__all__ = ["Version", "version_of", "walk"]


@dataclass(frozen=True)
class Version:
    """One commit as svgx_sync shows it: who, when, what, and from which session."""

    version_id: str
    author_name: str
    author_email: str
    timestamp: int
    description: str
    session_id: str | None
    op_ids: tuple[str, ...]
    parents: tuple[str, ...]


def version_of(commit: pygit2.Commit) -> Version:
    """``commit`` as a :class:`Version`."""
    description, session_id, op_ids = parse_message(commit.message)
    return Version(
        version_id=str(commit.id),
        author_name=commit.author.name,
        author_email=commit.author.email,
        timestamp=int(commit.author.time),
        description=description,
        session_id=session_id,
        op_ids=op_ids,
        parents=tuple(str(p) for p in commit.parent_ids),
    )


def walk(
    repo: pygit2.Repository, start: pygit2.Oid, *, limit: int | None, what: str
) -> list[Version]:
    """The versions reachable from ``start``, newest first (parents after children),
    at most ``limit``; ``what`` names the document in errors."""
    versions: list[Version] = []
    try:
        for commit in repo.walk(start, SortMode.TOPOLOGICAL | SortMode.TIME):
            if limit is not None and len(versions) >= limit:
                break
            versions.append(version_of(commit))
    except pygit2.GitError as exc:
        raise StoreError(f"cannot walk the history of {what}: {exc}") from exc
    return versions
