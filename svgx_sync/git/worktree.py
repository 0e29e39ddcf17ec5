"""A document's working tree and git's index: the files the user's programs see.

What it guarantees:

- Files are written atomically (:func:`svgx_sync.durable.atomic.write_atomic`) and only
  inside the document: a name passes :func:`~svgx_sync.git.names.validate_file_name`,
  and a symbolic link (or a symlinked folder) is never followed out of it.
- The index is updated only for the paths a commit touched, so ``git status`` shows no
  staged difference afterwards; held locks are waited for (:mod:`svgx_sync.git.locks`).
- Reading the working tree leaves out hidden files and folders, symbolic links and
  ``.git``: what is read is what an editor of the drawing opens.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath

import pygit2
from pygit2.enums import FileMode

from svgx_sync.durable.atomic import write_atomic
from svgx_sync.errors import ClientError, StoreError
from svgx_sync.git.locks import with_lock_retry
from svgx_sync.git.names import validate_file_name

__all__ = ["WorkingTree", "blob_id", "working_tree_svg_files"]


def blob_id(data: bytes) -> pygit2.Oid:
    """The id git gives ``data`` as a blob (``git hash-object``), as ``pygit2.hash`` does,
    hashed without Python's lock: a worker thread hashing a big save does not hold up
    the event loop (6 MB: ``pygit2.hash`` holds it 14 ms)."""
    digest = hashlib.sha1(b"blob %d\x00" % len(data), usedforsecurity=False)
    digest.update(data)
    return pygit2.Oid(raw=digest.digest())


#: What ``git`` is in the middle of, by pygit2's repository state (``repo.state()``).
_GIT_OPERATIONS = (  # first match wins: REBASE_MERGE is a rebase
    ("MAILBOX", "am"),
    ("REBASE", "rebase"),
    ("MERGE", "merge"),
    ("REVERT", "revert"),
    ("CHERRYPICK", "cherry-pick"),
    ("BISECT", "bisect"),
)


class WorkingTree:
    """The working tree at ``path`` and the index of ``repo`` (``name`` for messages)."""

    def __init__(self, repo: pygit2.Repository, name: str, path: Path) -> None:
        self.repo = repo
        self.name = name
        self.path = Path(path)

    # ----------------------------------------------------------------- files

    def svg_files(self) -> dict[str, bytes]:
        """Every ``*.svg`` file, by POSIX path relative to the document."""
        return working_tree_svg_files(self.path, what=repr(self.name))

    def svg_paths(self) -> list[str]:
        """The paths :meth:`svg_files` reads, without reading them."""
        try:
            return [rel for rel, _ in _svg_paths_under(self.path)]
        except OSError as exc:
            raise StoreError(f"cannot read the working tree of {self.name!r}: {exc}") from exc

    def write_file(
        self, name: str, data: bytes, *, may_replace: Callable[[bytes | None], bool] | None = None
    ) -> Path | None:
        """Write one SVG file atomically; returns its path, or None when
        ``may_replace`` refused the bytes the file held (see :func:`write_atomic`)."""
        target = self.file_path(name)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            written = write_atomic(target, data, may_replace=may_replace)
        except OSError as exc:
            raise StoreError(f"cannot write {name!r} in {self.name!r}: {exc}") from exc
        return target if written else None

    def write(self, files: Mapping[str, bytes | None]) -> None:
        """Write each file of ``files``, removing those given as None."""
        for path, data in files.items():
            if data is None:
                target = self.file_path(path)
                try:
                    target.unlink(missing_ok=True)
                except OSError as exc:
                    raise StoreError(f"cannot remove {path!r} in {self.name!r}: {exc}") from exc
            else:
                self.write_file(path, data)

    def file_path(self, name: str) -> Path:
        """Where file ``name`` lives on disk, refused if it would lead outside."""
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

    # ----------------------------------------------------------------- the index

    def index_holds(self, name: str, data: bytes | pygit2.Oid) -> bool:
        """Whether git's index holds exactly ``data`` for ``name``: the bytes git itself
        wrote there (checkout, reset, revert, merge) or staged. ``data`` may be their
        blob id, hashed already (beside the event loop: a large file takes a while)."""
        wanted = data if isinstance(data, pygit2.Oid) else blob_id(data)
        try:
            index = self.repo.index
            index.read(False)
            held: bool = index[name].id == wanted
        except (KeyError, ValueError, pygit2.GitError, OSError):
            return False
        return held

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

    def update_index(self, blobs: Mapping[str, pygit2.Oid | None], *, from_disk: bool) -> None:
        """Make the index hold the committed blobs for ``blobs``' paths (None removes);
        ``from_disk`` reads them from the files just written instead."""

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
            with_lock_retry(update, "index update")
        except (pygit2.GitError, OSError) as exc:
            raise StoreError(f"cannot update the index of {self.name!r}: {exc}") from exc

    def refuse_beside_a_git_operation(self) -> None:
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
