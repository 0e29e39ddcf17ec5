"""Adopting a plain folder of SVG files as a document.

A folder that holds SVG files but is not a git repository (drawings kept by desktop
tools) becomes a document in place:

- ``git init`` with ``main`` as the first branch, then one commit of every ``*.svg``
  file of the folder (hidden files and folders, symbolic links and non-SVG files are left
  alone) **exactly as the bytes are on disk**: nothing is re-serialised or renamed. A
  ``*.svg`` file that is not an SVG file (:func:`svgx_sync.core.intake.screen_svg`: an HTML
  page, broken XML, entity declarations, or one still being written) is left out and
  untracked, with a warning; it joins the document later, once it is one. The commit
  is authored by svgx_sync and built in memory like every other one.
- The index is made to match, so ``git status`` is clean right after adoption.
- A folder that is already a repository is opened, not touched; a folder without SVG
  files is refused before anything is written (there is nothing to adopt; ``svgx-sync
  init`` makes an empty document instead), and so is one whose ``*.svg`` files are all
  refused: the watcher tries it again at its next change.

:func:`adopt_store` does this for every adoptable sub-folder of a store's root, which
is what the daemon does at start-up.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pygit2

from svgx_sync.core.intake import Verdict, screen_svg
from svgx_sync.errors import ClientError, InvalidName, StoreError
from svgx_sync.git.layout import system_signature
from svgx_sync.git.names import validate_document_name, validate_file_name
from svgx_sync.git.objects import build_tree
from svgx_sync.git.store import DEFAULT_BRANCH, Document, Store, working_tree_svg_files

__all__ = ["adopt_folder", "adopt_store", "adoptable"]

log = logging.getLogger(__name__)


def _holds_svg(folder: Path) -> bool:
    try:
        return any(
            p.suffix == ".svg" and p.is_file() and not p.name.startswith(".")
            for p in folder.iterdir()
        ) or any(
            _holds_svg(p)
            for p in folder.iterdir()
            if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
        )
    except OSError:
        return False


def adoptable(root: Path) -> list[str]:
    """Sub-folders of ``root`` with SVG files that are not repositories yet."""
    names: list[str] = []
    try:
        entries = sorted(Path(root).iterdir())
    except OSError:
        return names
    for entry in entries:
        try:
            validate_document_name(entry.name)
        except InvalidName:
            continue
        if entry.is_dir() and not entry.is_symlink() and not (entry / ".git").exists():
            if _holds_svg(entry):
                names.append(entry.name)
    return names


def adopt_folder(path: Path) -> Document:
    """Make the folder ``path`` a document repository (see the module docstring)."""
    path = Path(path).expanduser().absolute()
    name = validate_document_name(path.name)
    store = Store(path.parent)
    if (path / ".git").exists():
        return store.open(name)
    if not path.is_dir():
        raise ClientError(f"{path} is not a folder")
    if not _holds_svg(path):
        raise ClientError(f"{path} holds no SVG files to adopt")
    files = _svg_files_to_adopt(name, path)  # the working tree, byte for byte
    try:
        repo = pygit2.init_repository(str(path), bare=False, initial_head=DEFAULT_BRANCH)
    except pygit2.GitError as exc:
        raise StoreError(f"cannot initialise a repository in {path}: {exc}") from exc
    document = Document(name, path, repo)
    blobs: dict[str, pygit2.Oid | None] = {}
    try:
        for file, data in files.items():
            try:
                validate_file_name(file)
            except InvalidName as exc:
                log.warning("adopting %s: leaving %s out (%s)", name, file, exc)
                continue
            blobs[file] = repo.create_blob(data)
        tree_id = build_tree(repo, None, blobs)
    except pygit2.GitError as exc:
        raise StoreError(f"cannot write objects in {path}: {exc}") from exc
    identity = system_signature()
    count = len(blobs)
    message = f"Adopt folder: {count} SVG file{'s' if count != 1 else ''} as they were\n"
    document.refs.create_commit(f"refs/heads/{DEFAULT_BRANCH}", identity, message, tree_id, [])
    document.worktree.update_index(blobs, from_disk=True)
    log.info("adopted %s (%d SVG files) at %s", name, count, path)
    return document


def _svg_files_to_adopt(name: str, path: Path) -> dict[str, bytes]:
    """The folder's SVG files that are SVG files indeed; refuses when there are none."""
    files: dict[str, bytes] = {}
    refused: list[str] = []
    for file, data in working_tree_svg_files(path).items():
        screening = screen_svg(data)
        if screening.verdict is Verdict.SVG:
            files[file] = data
            continue
        log.warning("adopting %s: leaving %s out (%s)", name, file, screening.reason)
        refused.append(f"{file}: {screening.reason}")
    if not files:
        raise ClientError(f"{path} holds no SVG file to adopt ({'; '.join(refused)})")
    return files


def adopt_store(store: Store) -> list[Document]:
    """Adopt every adoptable sub-folder of ``store.root``; returns the new documents.

    A folder that cannot be adopted is logged and skipped, so one bad folder does not
    keep the daemon from serving the others.
    """
    adopted: list[Document] = []
    for name in adoptable(store.root):
        try:
            adopted.append(adopt_folder(store.root / name))
        except (ClientError, StoreError) as exc:
            log.warning("cannot adopt %s: %s", store.root / name, exc)
    return adopted
