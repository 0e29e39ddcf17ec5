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
  short backoff, never removed (:mod:`svgx_sync.git.locks`).

A :class:`Document` is put together from the pieces that do the work, each in its own
module: :class:`~svgx_sync.git.refs.Refs` (HEAD, branches, tags, commits on a ref),
:class:`~svgx_sync.git.worktree.WorkingTree` (the files and git's index),
:mod:`svgx_sync.git.objects` (trees from blobs) and :mod:`svgx_sync.git.history`
(versions read back).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pygit2

from svgx_sync.core.svgdoc import DEFAULT_FILE
from svgx_sync.durable.atomic import write_atomic
from svgx_sync.errors import ClientError, NotFound, StoreError
from svgx_sync.git.history import Version, walk
from svgx_sync.git.layout import compose_message, system_signature, user_signature
from svgx_sync.git.names import validate_branch_name, validate_document_name, validate_file_name
from svgx_sync.git.objects import build_tree, tree_svg_files
from svgx_sync.git.refs import Refs
from svgx_sync.git.worktree import WorkingTree, working_tree_svg_files

__all__ = [
    "DEFAULT_BRANCH",
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


# --------------------------------------------------------------------------------------
# The store


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
        _create_initial_commit(document)
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


def _create_initial_commit(document: Document) -> None:
    # The first commit carries .gitattributes so that `git merge` and `git diff` use
    # svgx_sync for SVG files in every clone; the driver commands themselves live in
    # this repository's config (set up here, and by `svgx-sync git-setup`).
    from .drivers import ATTRIBUTES_LINE, setup_repository

    repo = document.repo
    attributes = (ATTRIBUTES_LINE + "\n").encode()
    document.write_file(DEFAULT_FILE, EMPTY_SVG)
    write_atomic(document.path / ".gitattributes", attributes)
    try:
        blobs = {
            ".gitattributes": repo.create_blob(attributes),
            DEFAULT_FILE: repo.create_blob(EMPTY_SVG),
        }
        tree_id = build_tree(repo, None, blobs)
    except pygit2.GitError as exc:
        raise StoreError(f"cannot write objects in {document.name!r}: {exc}") from exc
    document.refs.create_commit(
        f"refs/heads/{DEFAULT_BRANCH}", system_signature(), "Create document\n", tree_id, []
    )
    document.worktree.update_index(blobs, from_disk=True)
    setup_repository(document.path)


# --------------------------------------------------------------------------------------
# One document


class Document:
    """One document: a git repository whose ``*.svg`` files are the drawing.

    ``refs`` and ``worktree`` do the work; the methods here are what callers use, and
    :meth:`commit` is where the pieces meet.
    """

    def __init__(self, name: str, path: Path, repo: pygit2.Repository) -> None:
        self.name = name
        self.path = Path(path)
        self.repo = repo
        self.refs = Refs(repo, name)
        self.worktree = WorkingTree(repo, name, self.path)

    def __repr__(self) -> str:
        return f"Document({self.name!r}, {str(self.path)!r})"

    # ----------------------------------------------------------------- reading

    def head_version(self) -> str | None:
        """The commit HEAD points at, or None in a repository without commits."""
        return self.refs.head_version()

    def current_branch(self) -> str:
        """The short name of the checked-out branch (which may have no commit yet)."""
        return self.refs.current_branch()

    def head_branch(self) -> str | None:
        """The short name of the checked-out branch, or None when HEAD is detached."""
        return self.refs.head_branch()

    def resolve(self, rev: str) -> str:
        """The full commit id named by a sha, a unique prefix, a branch or a tag."""
        return self.refs.resolve(rev)

    def svg_files(self, version: str | None = None) -> dict[str, bytes]:
        """Every ``*.svg`` file, by POSIX path relative to the document.

        With ``version`` None this reads the working tree (what the user's editor sees);
        otherwise the tree of that commit.
        """
        if version is None:
            return self.worktree.svg_files()
        return dict(tree_svg_files(self.repo, self.refs.commit(version).tree))

    def svg_paths(self) -> list[str]:
        """The paths of the working tree's ``*.svg`` files, the ones :meth:`svg_files`
        reads, without reading them."""
        return self.worktree.svg_paths()

    def unmerged_paths(self) -> set[str]:
        """The paths git's index holds with conflict stages, read afresh."""
        return self.worktree.unmerged_paths()

    def index_holds(self, name: str, data: bytes | pygit2.Oid) -> bool:
        """Whether git's index holds exactly ``data`` (or the blob of that id) for
        ``name``."""
        return self.worktree.index_holds(name, data)

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
        assert isinstance(start, pygit2.Oid)
        return walk(self.repo, start, limit=limit, what=repr(self.name))

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
        return self.worktree.write_file(name, data, may_replace=may_replace)

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
        checked_out = refname == self.refs.head_refname()
        if checked_out:
            self.worktree.refuse_beside_a_git_operation()
        parent_ids = self.refs.parents_for(refname, parents)
        tree_id, blobs = self._tree_with(parent_ids, files)
        identity = system_signature() if by_system else user_signature(username, user_id)
        message = compose_message(description, session_id, op_ids)
        oid = self.refs.create_commit(refname, identity, message, tree_id, parent_ids)
        if refname == self.refs.head_refname():
            self._follow(oid, files, blobs, update_workdir=update_workdir)
        log.info("committed %s on %s in %s", oid, refname, self.name)
        return str(oid)

    def _tree_with(
        self, parent_ids: list[pygit2.Oid], files: Mapping[str, bytes | None]
    ) -> tuple[pygit2.Oid, dict[str, pygit2.Oid | None]]:
        """The first parent's tree with ``files`` replaced, and the blob of each file."""
        base = self.repo[parent_ids[0]].peel(pygit2.Tree) if parent_ids else None
        blobs: dict[str, pygit2.Oid | None] = {}
        try:
            for path, data in files.items():
                blobs[path] = None if data is None else self.repo.create_blob(data)
            return build_tree(self.repo, base, blobs), blobs
        except pygit2.GitError as exc:
            raise StoreError(f"cannot write objects in {self.name!r}: {exc}") from exc

    def _follow(
        self,
        oid: pygit2.Oid,
        files: Mapping[str, bytes | None],
        blobs: Mapping[str, pygit2.Oid | None],
        *,
        update_workdir: bool,
    ) -> None:
        """The checked-out branch moved to ``oid``: the index (and, with
        ``update_workdir``, the files) follow it for the paths it touched."""
        try:
            if update_workdir:
                self.worktree.write(files)
            self.worktree.update_index(blobs, from_disk=update_workdir)
        except StoreError as exc:
            # The commit is durable once the ref moved; failing here would make the
            # caller retry an edit that is already in history. The index catches
            # up on the next commit of these paths (or `git reset`).
            log.warning("committed %s in %s but the checkout lags: %s", oid, self.name, exc)

    # ----------------------------------------------------------------- branches and tags

    def create_branch(self, name: str, from_version: str | None = None) -> str:
        """Create branch ``name`` at ``from_version`` (default HEAD); returns its commit."""
        return self.refs.create_branch(name, from_version)

    def list_branches(self) -> list[dict[str, Any]]:
        """Local branches: ``{"name", "version_id", "current"}``, sorted by name."""
        return self.refs.list_branches()

    def delete_branch(self, name: str) -> None:
        """Delete branch ``name``; the checked-out branch cannot be deleted."""
        self.refs.delete_branch(name)

    def create_tag(self, name: str, version_id: str | None = None, **annotation: str | None) -> str:
        """Tag ``version_id`` (default HEAD), annotated with ``message=`` by ``user_id=``
        and ``username=`` (see :meth:`Refs.create_tag`); returns the commit id."""
        return self.refs.create_tag(name, version_id, **annotation)

    def list_tags(self) -> list[dict[str, Any]]:
        """Tags: ``{"name", "version_id", "annotated", "message"}``, sorted by name."""
        return self.refs.list_tags()

    def delete_tag(self, name: str) -> None:
        """Delete tag ``name``."""
        self.refs.delete_tag(name)
