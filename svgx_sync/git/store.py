"""The git store: a folder of documents, each one an ordinary non-bare git repository.

This is a shell over pygit2. It decides nothing about SVG; it turns "these files now
have these bytes" into git objects and refs, and reads them back. What it guarantees:

- Commits are built in memory (blobs, trees from :func:`svgx_sync.git.objects.build_tree`,
  ``create_commit``) on top of the branch tip, never by staging through the index, so a
  commit contains exactly the files it was given on top of its parent's tree.
- A commit moves only ``refs/heads/<branch>`` (and ``refs/tags/<name>`` when a tag is
  asked for), with a compare-and-swap on the old tip: a branch that moved under us is
  an error, not a lost update. ``refs/svgx/*`` is left to the daemon.
- When the branch committed to is the checked-out one, the index follows the commit for
  the paths it touched, so ``git status`` shows no staged difference afterwards.
- History is never rewritten.
- Author identities and trailers are ones ``git fsck --strict`` and
  ``git interpret-trailers`` accept; they, and every ref we write, are named in
  :mod:`svgx_sync.git.layout` (told for users in ``docs/git-layout.md``).
- pygit2 errors are wrapped at this boundary as :class:`StoreError` (our or the
  machine's fault) or :class:`NotFound` / :class:`ClientError` (the caller's).
  A lock held by the git command (``index.lock``, ``<ref>.lock``) is waited for with a
  short backoff, never removed: libgit2 fails at once where git would wait.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import pygit2
from pygit2.enums import FileMode, ObjectType, SortMode

from svgx_sync.durable.atomic import write_atomic
from svgx_sync.errors import ClientError, NotFound, StoreError
from svgx_sync.git.layout import (
    compose_message,
    parse_message,
    system_signature,
    user_signature,
)
from svgx_sync.git.names import (
    validate_branch_name,
    validate_document_name,
    validate_file_name,
    validate_tag_name,
)
from svgx_sync.git.objects import build_tree

__all__ = [
    "DEFAULT_BRANCH",
    "DEFAULT_FILE",
    "EMPTY_SVG",
    "Document",
    "Store",
    "Version",
    "working_tree_svg_files",
]

log = logging.getLogger(__name__)

EMPTY_SVG: bytes = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="800" height="600"'
    b' viewBox="0 0 800 600">\n'
    b"</svg>\n"
)

DEFAULT_BRANCH = "main"
DEFAULT_FILE = "document.svg"

# How long to wait for a lock held by someone else (the git command, another process).
_LOCK_WAIT_SECONDS = 2.0
_LOCK_FIRST_DELAY = 0.005
_LOCK_MAX_DELAY = 0.2

_T = TypeVar("_T")


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


# --------------------------------------------------------------------------------------
# Small pure helpers


def _is_lock_error(exc: BaseException) -> bool:
    # libgit2 reports a held index.lock as GitError ("the index is locked") and a held
    # ref lock as OSError ("failed to lock file ... for writing").
    text = str(exc).lower()
    return "lock" in text and ("failed" in text or "locked" in text or "exists" in text)


_sleep = time.sleep  # the one place the lock wait touches the clock


def _with_lock_retry(action: Callable[[], _T], what: str) -> _T:
    """Run ``action``, waiting with backoff while git holds a lock it needs.

    libgit2 fails at once on ``index.lock`` or ``<ref>.lock``; git itself would wait a
    little. The lock is never removed: it belongs to whoever took it.
    """
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    delay = _LOCK_FIRST_DELAY
    while True:
        try:
            return action()
        except (pygit2.GitError, OSError) as exc:
            if not _is_lock_error(exc) or time.monotonic() >= deadline:
                raise
            log.debug("%s: lock held, retrying in %.3fs (%s)", what, delay, exc)
            _sleep(delay)
            delay = min(delay * 2, _LOCK_MAX_DELAY)


# --------------------------------------------------------------------------------------
# The store


#: What ``git`` is in the middle of, by pygit2's repository state (``repo.state()``).
_GIT_OPERATIONS = (  # first match wins: REBASE_MERGE is a rebase
    ("MAILBOX", "am"),
    ("REBASE", "rebase"),
    ("MERGE", "merge"),
    ("REVERT", "revert"),
    ("CHERRYPICK", "cherry-pick"),
    ("BISECT", "bisect"),
)


class Store:
    """A folder whose sub-folders are documents, each a git repository."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store folder {self.root}: {exc}") from exc

    def path_of(self, name: str) -> Path:
        """The folder of document ``name`` (validated; it need not exist)."""
        return self.root / validate_document_name(name)

    def names(self) -> list[str]:
        """Names of the documents in the store: sub-folders that are git repositories."""
        found: list[str] = []
        try:
            entries = sorted(self.root.iterdir())
        except OSError as exc:
            raise StoreError(f"cannot list {self.root}: {exc}") from exc
        for entry in entries:
            try:
                validate_document_name(entry.name)
            except ClientError:
                continue
            if entry.is_dir() and (entry / ".git").exists():
                found.append(entry.name)
        return found

    def create(self, name: str) -> Document:
        """Create document ``name``: a new repository with one empty SVG, on ``main``.

        A folder that already holds files is never clobbered: an existing repository is
        a ``ClientError`` (the name is taken), and a plain folder with content is refused
        until it is adopted explicitly.
        """
        path = self.path_of(name)
        if (path / ".git").exists():
            raise ClientError(f"document {name!r} already exists")
        try:
            path.mkdir()
        except FileExistsError:
            if not path.is_dir():
                raise ClientError(f"{path} exists and is not a folder") from None
            if any(path.iterdir()):
                raise ClientError(
                    f"{path} already holds files but is not a git repository;"
                    " it must be adopted, not created"
                ) from None
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc}") from exc
        try:
            repo = pygit2.init_repository(str(path), bare=False, initial_head=DEFAULT_BRANCH)
        except pygit2.GitError as exc:
            raise StoreError(f"cannot initialise a repository in {path}: {exc}") from exc
        document = Document(name, path, repo)
        document._create_initial_commit()
        log.info("created document %s at %s", name, path)
        return document

    def open(self, name: str, *, create: bool = False) -> Document:
        """Open document ``name``; create it first when ``create`` is true."""
        path = self.path_of(name)
        if not (path / ".git").exists():
            if create:
                return self.create(name)
            raise NotFound(f"no document named {name!r}")
        try:
            # NO_SEARCH: never climb to a repository that merely contains the store.
            repo = pygit2.Repository(str(path), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
        except pygit2.GitError as exc:
            raise StoreError(f"cannot open the repository of {name!r}: {exc}") from exc
        if repo.is_bare:
            raise StoreError(f"the repository of {name!r} is bare; a working tree is needed")
        return Document(name, path, repo)


# --------------------------------------------------------------------------------------
# One document


class Document:
    """One document: a git repository whose ``*.svg`` files are the drawing."""

    def __init__(self, name: str, path: Path, repo: pygit2.Repository) -> None:
        self.name = name
        self.path = Path(path)
        self.repo = repo

    def __repr__(self) -> str:
        return f"Document({self.name!r}, {str(self.path)!r})"

    # ----------------------------------------------------------------- reading

    def head_version(self) -> str | None:
        """The commit HEAD points at, or None in a repository without commits."""
        try:
            if self.repo.head_is_unborn:
                return None
            return str(self.repo.head.target)
        except pygit2.GitError as exc:
            raise StoreError(f"cannot read HEAD of {self.name!r}: {exc}") from exc

    def current_branch(self) -> str:
        """The short name of the checked-out branch (which may have no commit yet)."""
        branch = self.head_branch()
        if branch is None:
            raise StoreError(f"HEAD of {self.name!r} is detached; no branch is checked out")
        return branch

    def head_branch(self) -> str | None:
        """The short name of the checked-out branch, or None when HEAD is detached."""
        refname = self._head_refname()
        return None if refname is None else refname.removeprefix("refs/heads/")

    def resolve(self, rev: str) -> str:
        """The full commit id named by a sha, a unique prefix, a branch or a tag."""
        if not isinstance(rev, str) or not rev or rev.startswith("-"):
            raise NotFound(f"unknown version {rev!r}")
        for candidate in (f"refs/heads/{rev}", f"refs/tags/{rev}"):
            # Branch and tag names win over the revparse grammar ("a@{1}", "a^").
            ref = self.repo.references.get(candidate)
            if ref is not None:
                return self._peel_to_commit(ref.peel(), rev)
        try:
            obj = self.repo.revparse_single(rev)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise NotFound(f"unknown version {rev!r}") from exc
        return self._peel_to_commit(obj, rev)

    def svg_files(self, version: str | None = None) -> dict[str, bytes]:
        """Every ``*.svg`` file, by POSIX path relative to the document.

        With ``version`` None this reads the working tree (what the user's editor sees);
        otherwise the tree of that commit.
        """
        if version is None:
            return self._workdir_svg_files()
        commit = self._commit(version)
        return dict(self._tree_svg_files(commit.tree))

    def svg_paths(self) -> list[str]:
        """The paths of the working tree's ``*.svg`` files, the ones :meth:`svg_files`
        reads, without reading them."""
        try:
            return [rel for rel, _ in self._workdir_svg_paths()]
        except OSError as exc:
            raise StoreError(f"cannot read the working tree of {self.name!r}: {exc}") from exc

    def unmerged_paths(self) -> set[str]:
        """The paths git's index holds with conflict stages (a ``git merge`` or ``git
        pull`` stopped on them and nobody ran ``git add`` yet), read afresh."""
        try:
            index = self.repo.index
            index.read(False)
            conflicts = index.conflicts
            if conflicts is None:
                return set()
            return {entry.path for stages in conflicts for entry in stages if entry is not None}
        except (pygit2.GitError, OSError) as exc:
            raise StoreError(f"cannot read the index of {self.name!r}: {exc}") from exc

    def history(self, *, branch: str | None = None, limit: int | None = None) -> list[Version]:
        """Commits reachable from ``branch`` (default HEAD), newest first."""
        if branch is None:
            if self.repo.head_is_unborn:
                return []
            start = self.repo.head.target
        else:
            ref = self.repo.references.get(f"refs/heads/{validate_branch_name(branch)}")
            if ref is None:
                raise NotFound(f"no branch named {branch!r}")
            start = ref.target
        versions: list[Version] = []
        try:
            walker = self.repo.walk(start, SortMode.TOPOLOGICAL | SortMode.TIME)
            for commit in walker:
                if limit is not None and len(versions) >= limit:
                    break
                versions.append(self._version(commit))
        except pygit2.GitError as exc:
            raise StoreError(f"cannot walk the history of {self.name!r}: {exc}") from exc
        return versions

    def diff(self, a: str, b: str | None = None) -> list[dict[str, Any]]:
        """Element-level changes from version ``a`` to version ``b`` (default: working tree).

        Files are compared by bytes first so unchanged files cost nothing; each changed
        file is handed to the diff rules of :mod:`svgx_sync.core.diff`.
        """
        from svgx_sync.core.diff import diff_documents

        old = self.svg_files(a)
        new = self.svg_files(b)
        changes: list[dict[str, Any]] = []
        for path in sorted(old.keys() | new.keys()):
            before, after = old.get(path), new.get(path)
            if before != after:
                changes.extend(diff_documents(before, after, path))
        return changes

    # ----------------------------------------------------------------- writing

    def write_file(
        self, name: str, data: bytes, *, may_replace: Callable[[bytes | None], bool] | None = None
    ) -> Path | None:
        """Write one SVG file into the working tree atomically; returns its path, or None
        when ``may_replace`` refused the bytes the file held (see :func:`write_atomic`)."""
        target = self._workdir_path(name)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            written = write_atomic(target, data, may_replace=may_replace)
        except OSError as exc:
            raise StoreError(f"cannot write {name!r} in {self.name!r}: {exc}") from exc
        return target if written else None

    def commit(
        self,
        files: Mapping[str, bytes | None],
        *,
        user_id: str,
        username: str,
        description: str,
        session_id: str | None = None,
        op_ids: Sequence[str] = (),
        branch: str | None = None,
        parents: Sequence[str] | None = None,
        update_workdir: bool = False,
        by_system: bool = False,
    ) -> str:
        """Commit ``files`` (path to new bytes, None to delete) on top of a branch.

        The author is ``username`` with an address made from ``user_id``, or, with
        ``by_system``, svgx_sync itself (:data:`~svgx_sync.git.layout.SYSTEM_NAME`): a
        version nobody asked for, made for safety.

        The tree is the first parent's tree with just these files replaced, so edits
        never pick up whatever else happens to be in the working tree or index.
        ``parents`` defaults to the branch tip; when given, the first parent must still
        be the tip (the branch is updated with a compare-and-swap). Returns the new id.

        On the checked-out branch the index takes the committed blobs for these paths;
        with ``update_workdir`` the files are also written to (or removed from) disk.
        Once the branch has moved the commit counts as done: if the index or working
        tree cannot follow (a lock held too long), that is logged, not raised.
        """
        for path in files:
            validate_file_name(path)
        refname = f"refs/heads/{validate_branch_name(branch or self.current_branch())}"
        if refname == self._head_refname():
            self._refuse_beside_a_git_operation()
        parent_ids = self._parents_for(refname, parents)
        base_tree = self.repo[parent_ids[0]].peel(pygit2.Tree) if parent_ids else None
        blobs: dict[str, pygit2.Oid | None] = {}
        try:
            for path, data in files.items():
                blobs[path] = None if data is None else self.repo.create_blob(data)
            tree_id = build_tree(self.repo, base_tree, blobs)
        except pygit2.GitError as exc:
            raise StoreError(f"cannot write objects in {self.name!r}: {exc}") from exc
        identity = system_signature() if by_system else user_signature(username, user_id)
        message = compose_message(description, session_id, op_ids)
        oid = self._create_commit(refname, identity, message, tree_id, parent_ids)
        if refname == self._head_refname():
            try:
                if update_workdir:
                    self._write_workdir(files)
                self._update_index(blobs, from_disk=update_workdir)
            except StoreError as exc:
                # The commit is durable once the ref moved; failing here would make the
                # caller retry an edit that is already in history. The index catches
                # up on the next commit of these paths (or `git reset`).
                log.warning("committed %s in %s but the checkout lags: %s", oid, self.name, exc)
        log.info("committed %s on %s in %s", oid, refname, self.name)
        return str(oid)

    def _refuse_beside_a_git_operation(self) -> None:
        """git stopped in the middle of a merge, revert, cherry-pick or rebase in the
        working tree: a commit of ours on the checked-out branch would take the conflicted
        paths out of git's index and land beside that operation. It is the user's to
        conclude or abort first."""
        state = self.repo.state()
        if state == pygit2.enums.RepositoryState.NONE:
            return
        what = next((w for key, w in _GIT_OPERATIONS if key in state.name), state.name.lower())
        raise ClientError(
            f"{self.name}: git {what} in progress in the working tree; conclude it"
            f" (git commit) or abort it (git {what} --abort) first"
        )

    # ----------------------------------------------------------------- branches

    def create_branch(self, name: str, from_version: str | None = None) -> str:
        """Create branch ``name`` at ``from_version`` (default HEAD); returns its commit."""
        validate_branch_name(name)
        start = from_version if from_version is not None else self.head_version()
        if start is None:
            raise ClientError(f"document {self.name!r} has no commit to branch from")
        commit = self._commit(start)
        if f"refs/heads/{name}" in self.repo.references:
            raise ClientError(f"branch {name!r} already exists")
        self._write_ref(lambda: self.repo.branches.local.create(name, commit), f"branch {name}")
        return str(commit.id)

    def list_branches(self) -> list[dict[str, Any]]:
        """Local branches: ``{"name", "version_id", "current"}``, sorted by name."""
        current = self._head_refname()
        result: list[dict[str, Any]] = []
        for name in sorted(self.repo.branches.local):
            ref = self.repo.references[f"refs/heads/{name}"]
            result.append(
                {
                    "name": name,
                    "version_id": str(ref.target),
                    "current": ref.name == current,
                }
            )
        return result

    def delete_branch(self, name: str) -> None:
        """Delete branch ``name``; the checked-out branch cannot be deleted."""
        refname = f"refs/heads/{validate_branch_name(name)}"
        if refname not in self.repo.references:
            raise NotFound(f"no branch named {name!r}")
        if refname == self._head_refname():
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
        start = version_id if version_id is not None else self.head_version()
        if start is None:
            raise ClientError(f"document {self.name!r} has no commit to tag")
        commit = self._commit(start)
        refname = f"refs/tags/{name}"
        if refname in self.repo.references:
            raise ClientError(f"tag {name!r} already exists")
        if message is None:
            self._write_ref(lambda: self.repo.references.create(refname, commit.id), f"tag {name}")
        else:
            if user_id is None:
                tagger = system_signature()
            else:
                tagger = user_signature(username or "", user_id)
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
            annotated = isinstance(target, pygit2.Tag)
            try:
                commit = ref.peel(pygit2.Commit)
            except (pygit2.GitError, ValueError):
                continue  # a tag of a blob or tree is no version of the document
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

    # ----------------------------------------------------------------- internals

    def _create_initial_commit(self) -> None:
        # The first commit carries .gitattributes so that `git merge` and `git diff` use
        # svgx_sync for SVG files in every clone; the driver commands themselves live in
        # this repository's config (set up here, and by `svgx-sync git-setup`).
        from .drivers import ATTRIBUTES_LINE, setup_repository

        attributes = (ATTRIBUTES_LINE + "\n").encode()
        self.write_file(DEFAULT_FILE, EMPTY_SVG)
        write_atomic(self.path / ".gitattributes", attributes)
        identity = system_signature()
        try:
            blobs = {
                ".gitattributes": self.repo.create_blob(attributes),
                DEFAULT_FILE: self.repo.create_blob(EMPTY_SVG),
            }
            tree_id = build_tree(self.repo, None, blobs)
        except pygit2.GitError as exc:
            raise StoreError(f"cannot write objects in {self.name!r}: {exc}") from exc
        self._create_commit(
            f"refs/heads/{DEFAULT_BRANCH}", identity, "Create document\n", tree_id, []
        )
        self._update_index(blobs, from_disk=True)
        setup_repository(self.path)

    def _head_refname(self) -> str | None:
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

    def _commit(self, rev: str) -> pygit2.Commit:
        commit = self.repo[self.resolve(rev)]
        assert isinstance(commit, pygit2.Commit)
        return commit

    def _peel_to_commit(
        self,
        obj: pygit2.Object | pygit2.Commit | pygit2.Tree | pygit2.Tag | pygit2.Blob,
        rev: str,
    ) -> str:
        try:
            commit = obj.peel(pygit2.Commit)
        except (pygit2.GitError, ValueError) as exc:
            raise NotFound(f"{rev!r} does not name a version") from exc
        return str(commit.id)

    def _version(self, commit: pygit2.Commit) -> Version:
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

    def _parents_for(self, refname: str, parents: Sequence[str] | None) -> list[pygit2.Oid]:
        ref = self.repo.references.get(refname)
        tip = None if ref is None else ref.target
        if parents is None:
            return [] if tip is None else [tip]  # type: ignore[list-item]
        resolved = [self._commit(p).id for p in parents]
        first = resolved[0] if resolved else None
        # A branch that does not exist yet may start anywhere.
        if tip is not None and first != tip:
            raise StoreError(f"{refname} in {self.name!r} moved: its tip is {tip}, not {first}")
        return resolved

    def _create_commit(
        self,
        refname: str,
        identity: pygit2.Signature,
        message: str,
        tree_id: pygit2.Oid,
        parents: list[pygit2.Oid],
    ) -> pygit2.Oid:
        # libgit2 moves the ref only if its tip is still parents[0] (or absent for a
        # root commit), so a concurrent writer is detected, not overwritten.
        def create() -> pygit2.Oid:
            return self.repo.create_commit(refname, identity, identity, message, tree_id, parents)

        try:
            return _with_lock_retry(create, f"commit on {refname}")
        except (pygit2.GitError, OSError) as exc:
            raise StoreError(f"cannot commit on {refname} in {self.name!r}: {exc}") from exc

    def _write_ref(self, action: Callable[[], object], what: str) -> None:
        try:
            _with_lock_retry(action, what)
        except pygit2.AlreadyExistsError as exc:
            raise ClientError(f"{what} already exists in {self.name!r}") from exc
        except (pygit2.GitError, OSError) as exc:
            raise StoreError(f"cannot update {what} in {self.name!r}: {exc}") from exc

    def index_holds(self, name: str, data: bytes) -> bool:
        """Whether git's index holds exactly ``data`` for ``name``: the bytes git itself
        wrote there (checkout, reset, revert, merge) or staged."""
        try:
            index = self.repo.index
            index.read(False)
            return bool(index[name].id == pygit2.hash(data))
        except (KeyError, ValueError, pygit2.GitError, OSError):
            return False

    def _update_index(self, blobs: Mapping[str, pygit2.Oid | None], *, from_disk: bool) -> None:
        """Make the index hold the committed blobs for ``blobs``' paths."""

        def update() -> None:
            index = self.repo.index
            index.read(force=True)
            for path, oid in blobs.items():
                if oid is None:
                    if path in index:
                        index.remove(path)
                elif from_disk:
                    # Records the file's stat data, so git status need not rehash it.
                    index.add(path)
                else:
                    index.add(pygit2.IndexEntry(path, oid, FileMode.BLOB))
            index.write()

        try:
            _with_lock_retry(update, "index update")
        except (pygit2.GitError, OSError) as exc:
            raise StoreError(f"cannot update the index of {self.name!r}: {exc}") from exc

    def _write_workdir(self, files: Mapping[str, bytes | None]) -> None:
        for path, data in files.items():
            if data is None:
                target = self._workdir_path(path)
                try:
                    target.unlink(missing_ok=True)
                except OSError as exc:
                    raise StoreError(f"cannot remove {path!r} in {self.name!r}: {exc}") from exc
            else:
                self.write_file(path, data)

    def _workdir_path(self, name: str) -> Path:
        validate_file_name(name)
        target = self.path.joinpath(*PurePosixPath(name).parts)
        # A symlinked folder inside the document could lead anywhere; stay inside.
        root = self.path.resolve()
        parent = target.parent.resolve()
        if parent != root and root not in parent.parents:
            raise ClientError(f"{name!r} leads outside document {self.name!r}")
        if target.is_symlink():
            raise ClientError(f"{name!r} is a symbolic link in document {self.name!r}")
        return target

    def _tree_svg_files(self, tree: pygit2.Tree, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """Each ``*.svg`` file of ``tree`` and its bytes; no other blob is read."""
        for entry in tree:
            path = f"{prefix}{entry.name}"
            if entry.filemode == FileMode.TREE:
                yield from self._tree_svg_files(self.repo[entry.id].peel(pygit2.Tree), path + "/")
            elif path.endswith(".svg") and entry.filemode in (
                FileMode.BLOB,
                FileMode.BLOB_EXECUTABLE,
            ):
                # Symlinks and submodules are not drawings.
                blob = self.repo[entry.id]
                assert isinstance(blob, pygit2.Blob)
                yield path, blob.data

    def _workdir_svg_files(self) -> dict[str, bytes]:
        return working_tree_svg_files(self.path, what=repr(self.name))

    def _workdir_svg_paths(self) -> Iterator[tuple[str, str]]:
        return _svg_paths_under(self.path)


def working_tree_svg_files(folder: Path, *, what: str | None = None) -> dict[str, bytes]:
    """Every ``*.svg`` file under ``folder`` as a working tree holds them (hidden files
    and folders, symbolic links and ``.git`` left out), by POSIX path relative to it."""
    found: dict[str, bytes] = {}
    try:
        for rel, full in _svg_paths_under(folder):
            with open(full, "rb") as handle:
                found[rel] = handle.read()
    except OSError as exc:
        raise StoreError(f"cannot read the working tree of {what or folder}: {exc}") from exc
    return found


def _svg_paths_under(top: Path) -> Iterator[tuple[str, str]]:
    """(POSIX path relative to ``top``, full path) of each working-tree SVG file."""
    for folder, dirs, names in os.walk(top):
        # Never descend into git's own folder or hidden/symlinked folders.
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(folder, d))
        )
        for name in sorted(names):
            if not name.endswith(".svg") or name.startswith("."):
                continue
            full = os.path.join(folder, name)
            if stat.S_ISREG(os.lstat(full).st_mode):
                yield Path(full).relative_to(top).as_posix(), full
