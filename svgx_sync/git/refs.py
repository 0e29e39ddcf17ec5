"""A document's refs: HEAD, branches and tags, and the commits they name.

What it guarantees:

- A commit moves only ``refs/heads/<branch>``, with a compare-and-swap on the old tip
  (:meth:`Refs.create_commit`): a branch that moved under us is an error, not a lost
  update. ``refs/svgx/*`` (:mod:`svgx_sync.git.layout`) is left to the daemon.
- A name given from outside is resolved as a branch, then a tag, then by git's revision
  grammar, and must name a commit; anything else is :class:`NotFound`.
- Branch and tag names pass :mod:`svgx_sync.git.names` before any ref is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pygit2
from pygit2.enums import ObjectType

from svgx_sync.errors import ClientError, NotFound, StoreError
from svgx_sync.git.layout import system_signature, user_signature
from svgx_sync.git.locks import with_lock_retry
from svgx_sync.git.names import validate_branch_name, validate_tag_name

__all__ = ["Refs"]


class Refs:
    """The refs of one document's repository (``name`` is used in messages only)."""

    def __init__(self, repo: pygit2.Repository, name: str) -> None:
        self.repo = repo
        self.name = name

    # ----------------------------------------------------------------- HEAD

    def head_refname(self) -> str | None:
        """``refs/heads/<branch>`` HEAD points at, even when unborn; None if detached."""
        try:
            head = self.repo.references["HEAD"]
        except (KeyError, pygit2.GitError) as exc:
            raise StoreError(f"cannot read HEAD of {self.name!r}: {exc}") from exc
        if head.type != pygit2.enums.ReferenceType.SYMBOLIC:
            return None
        target = head.target
        assert isinstance(target, str)
        return target

    def head_version(self) -> str | None:
        """The commit HEAD points at, or None in a repository without commits."""
        try:
            if self.repo.head_is_unborn:
                return None
            return str(self.repo.head.target)
        except pygit2.GitError as exc:
            raise StoreError(f"cannot read HEAD of {self.name!r}: {exc}") from exc

    def head_branch(self) -> str | None:
        """The short name of the checked-out branch, or None when HEAD is detached."""
        refname = self.head_refname()
        return None if refname is None else refname.removeprefix("refs/heads/")

    def current_branch(self) -> str:
        """The short name of the checked-out branch (which may have no commit yet)."""
        branch = self.head_branch()
        if branch is None:
            raise StoreError(f"HEAD of {self.name!r} is detached; no branch is checked out")
        return branch

    # ----------------------------------------------------------------- commits

    def resolve(self, rev: str) -> str:
        """The full commit id named by a sha, a unique prefix, a branch or a tag."""
        if not isinstance(rev, str) or not rev or rev.startswith("-"):
            raise NotFound(f"unknown version {rev!r}")
        for candidate in (f"refs/heads/{rev}", f"refs/tags/{rev}"):
            # Branch and tag names win over the revparse grammar ("a@{1}", "a^").
            ref = self.repo.references.get(candidate)
            if ref is not None:
                return _peel_to_commit(ref.peel(), rev)
        try:
            obj = self.repo.revparse_single(rev)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise NotFound(f"unknown version {rev!r}") from exc
        return _peel_to_commit(obj, rev)

    def commit(self, rev: str) -> pygit2.Commit:
        """The commit :meth:`resolve` names."""
        commit = self.repo[self.resolve(rev)]
        assert isinstance(commit, pygit2.Commit)
        return commit

    def parents_for(self, refname: str, parents: Sequence[str] | None) -> list[pygit2.Oid]:
        """The parents of a commit on ``refname``: its tip by default; given ones must
        start with the tip (a ref that does not exist yet may start anywhere)."""
        ref = self.repo.references.get(refname)
        tip = None if ref is None else ref.target
        if parents is None:
            return [] if tip is None else [tip]  # type: ignore[list-item]
        resolved = [self.commit(p).id for p in parents]
        first = resolved[0] if resolved else None
        if tip is not None and first != tip:
            raise StoreError(f"{refname} in {self.name!r} moved: its tip is {tip}, not {first}")
        return resolved

    def create_commit(
        self,
        refname: str,
        identity: pygit2.Signature,
        message: str,
        tree_id: pygit2.Oid,
        parents: list[pygit2.Oid],
    ) -> pygit2.Oid:
        """Write a commit and move ``refname`` to it, only if its tip is still
        ``parents[0]`` (or absent for a root commit)."""

        # libgit2 moves the ref only if its tip is still parents[0] (or absent for a
        # root commit), so a concurrent writer is detected, not overwritten.
        def create() -> pygit2.Oid:
            return self.repo.create_commit(refname, identity, identity, message, tree_id, parents)

        try:
            return with_lock_retry(create, f"commit on {refname}")
        except (pygit2.GitError, OSError) as exc:
            raise StoreError(f"cannot commit on {refname} in {self.name!r}: {exc}") from exc

    def _write_ref(self, action: Callable[[], object], what: str) -> None:
        try:
            with_lock_retry(action, what)
        except pygit2.AlreadyExistsError as exc:
            raise ClientError(f"{what} already exists in {self.name!r}") from exc
        except (pygit2.GitError, OSError) as exc:
            raise StoreError(f"cannot update {what} in {self.name!r}: {exc}") from exc

    def _start(self, version_id: str | None, what: str) -> pygit2.Commit:
        start = version_id if version_id is not None else self.head_version()
        if start is None:
            raise ClientError(f"document {self.name!r} has no commit to {what}")
        return self.commit(start)

    # ----------------------------------------------------------------- branches

    def create_branch(self, name: str, from_version: str | None = None) -> str:
        """Create branch ``name`` at ``from_version`` (default HEAD); returns its commit."""
        validate_branch_name(name)
        commit = self._start(from_version, "branch from")
        if f"refs/heads/{name}" in self.repo.references:
            raise ClientError(f"branch {name!r} already exists")
        self._write_ref(lambda: self.repo.branches.local.create(name, commit), f"branch {name}")
        return str(commit.id)

    def list_branches(self) -> list[dict[str, Any]]:
        """Local branches: ``{"name", "version_id", "current"}``, sorted by name."""
        current = self.head_refname()
        result: list[dict[str, Any]] = []
        for name in sorted(self.repo.branches.local):
            ref = self.repo.references[f"refs/heads/{name}"]
            result.append(
                {"name": name, "version_id": str(ref.target), "current": ref.name == current}
            )
        return result

    def delete_branch(self, name: str) -> None:
        """Delete branch ``name``; the checked-out branch cannot be deleted."""
        refname = f"refs/heads/{validate_branch_name(name)}"
        if refname not in self.repo.references:
            raise NotFound(f"no branch named {name!r}")
        if refname == self.head_refname():
            raise ClientError(f"branch {name!r} is checked out and cannot be deleted")
        self._write_ref(lambda: self.repo.references.delete(refname), f"branch {name}")

    # ----------------------------------------------------------------- tags

    def create_tag(
        self,
        name: str,
        version_id: str | None = None,
        *,
        message: str | None = None,
        user_id: str | None = None,
        username: str | None = None,
    ) -> str:
        """Tag ``version_id`` (default HEAD); annotated when ``message`` is given.

        Returns the commit id the tag names.
        """
        validate_tag_name(name)
        commit = self._start(version_id, "tag")
        refname = f"refs/tags/{name}"
        if refname in self.repo.references:
            raise ClientError(f"tag {name!r} already exists")
        if message is None:
            self._write_ref(lambda: self.repo.references.create(refname, commit.id), f"tag {name}")
            return str(commit.id)
        tagger = system_signature() if user_id is None else user_signature(username or "", user_id)
        text = message.strip() + "\n"
        self._write_ref(
            lambda: self.repo.create_tag(name, commit.id, ObjectType.COMMIT, tagger, text),
            f"tag {name}",
        )
        return str(commit.id)

    def list_tags(self) -> list[dict[str, Any]]:
        """Tags: ``{"name", "version_id", "annotated", "message"}``, sorted by name."""
        result: list[dict[str, Any]] = []
        for refname in sorted(self.repo.references):
            if not refname.startswith("refs/tags/"):
                continue
            ref = self.repo.references[refname]
            target = self.repo[ref.target]
            try:
                commit = ref.peel(pygit2.Commit)
            except (pygit2.GitError, ValueError):
                continue  # a tag of a blob or tree is no version of the document
            annotated = isinstance(target, pygit2.Tag)
            result.append(
                {
                    "name": refname.removeprefix("refs/tags/"),
                    "version_id": str(commit.id),
                    "annotated": annotated,
                    "message": target.message if isinstance(target, pygit2.Tag) else None,
                }
            )
        return result

    def delete_tag(self, name: str) -> None:
        """Delete tag ``name``."""
        refname = f"refs/tags/{validate_tag_name(name)}"
        if refname not in self.repo.references:
            raise NotFound(f"no tag named {name!r}")
        self._write_ref(lambda: self.repo.references.delete(refname), f"tag {name}")


def _peel_to_commit(
    obj: pygit2.Object | pygit2.Commit | pygit2.Tree | pygit2.Tag | pygit2.Blob, rev: str
) -> str:
    try:
        commit = obj.peel(pygit2.Commit)
    except (pygit2.GitError, ValueError) as exc:
        raise NotFound(f"{rev!r} does not name a version") from exc
    return str(commit.id)
