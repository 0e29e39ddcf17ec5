"""Git objects built in memory: trees from blobs, never through an index.

Every tree svgx_sync writes (a version, a live checkpoint, the first commit of a
document, an adopted folder) is built here from its parent's tree and the blobs that
change, with :class:`pygit2.TreeBuilder`, one builder per folder that changes. Nothing
here reads or writes the repository's index or working tree.

:func:`write_blob` stores a big file's blob without holding the GIL for long: pygit2's
``create_blob`` hashes and compresses in one call that holds it (about 200 ms for a
50 MB drawing), so from a worker thread it still stops the event loop. Python's own
``hashlib`` and ``zlib`` let go of the GIL while they work, so a big blob is written
here as git stores any loose object (the zlib of ``blob <size>\\0`` and the bytes,
under ``objects/xx/``, written to a temporary file, synced and renamed).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from svgx_sync.durable.atomic import write_atomic
from svgx_sync.errors import ClientError

__all__ = [
    "OFF_GIL_FROM",
    "build_tree",
    "svg_entry_paths",
    "tree_svg_files",
    "write_blob",
]

OFF_GIL_FROM = 256 * 1024
"""Blobs from this size on are hashed and compressed with the GIL let go
(:func:`write_blob`); below it pygit2's own call takes under a millisecond."""

LOOSE_LEVEL = 1
"""zlib's level for a loose object: git's and libgit2's default (fastest)."""


def _blob_id(header: bytes, data: bytes) -> pygit2.Oid:
    """The id git gives a blob (hashlib lets go of the GIL for big data)."""
    digest = hashlib.sha1(header)
    digest.update(data)
    return pygit2.Oid(hex=digest.hexdigest())


def write_blob(repo: pygit2.Repository, data: bytes, known: pygit2.Oid | None = None) -> pygit2.Oid:
    """Store ``data`` as a blob of ``repo`` and return its id. A big one (from
    :data:`OFF_GIL_FROM`) is written as a loose object with the GIL let go while it is
    hashed, compressed and synced, so a worker thread may call this while the event
    loop goes on; nothing is written when its id is ``known`` or already stored."""
    if len(data) < OFF_GIL_FROM or _object_format(repo) != "sha1":
        return repo.create_blob(data)
    header = b"blob %d\0" % len(data)
    oid = _blob_id(header, data)
    if oid == known or oid in repo:
        return oid
    packer = zlib.compressobj(LOOSE_LEVEL)
    packed = packer.compress(header) + packer.compress(data) + packer.flush()
    hexsha = str(oid)
    path = Path(repo.path, "objects", hexsha[:2], hexsha[2:])
    path.parent.mkdir(exist_ok=True)
    write_atomic(path, packed)
    path.chmod(0o444)  # as git leaves its objects
    return oid


def _object_format(repo: pygit2.Repository) -> str:
    """``sha1`` unless the repository says otherwise (``extensions.objectformat``)."""
    try:
        return str(repo.config["extensions.objectformat"]).lower()
    except KeyError:
        return "sha1"


def build_tree(
    repo: pygit2.Repository, base: pygit2.Tree | None, blobs: Mapping[str, pygit2.Oid | None]
) -> pygit2.Oid:
    """Write ``base`` with ``blobs`` (POSIX path -> blob id) replaced, None removing the
    path, and return the new tree's id. Folders that end up empty are left out, since git
    stores no empty folders; an existing file keeps the executable bit git recorded."""
    nested: dict[str, dict[str, pygit2.Oid | None]] = {}
    leaves: dict[str, pygit2.Oid | None] = {}
    for path, oid in blobs.items():
        head, sep, rest = path.partition("/")
        if sep:
            nested.setdefault(head, {})[rest] = oid
        else:
            leaves[head] = oid
    builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
    for name, oid in leaves.items():
        existing = builder.get(name)
        if oid is None:
            if existing is not None:
                builder.remove(name)
            continue
        if existing is not None and existing.filemode == FileMode.TREE:
            raise ClientError(f"{name!r} is a folder in this document, not a file")
        mode = (
            FileMode.BLOB_EXECUTABLE
            if existing is not None and existing.filemode == FileMode.BLOB_EXECUTABLE
            else FileMode.BLOB
        )
        builder.insert(name, oid, mode)
    for name, sub in nested.items():
        existing = builder.get(name)
        sub_base: pygit2.Tree | None = None
        if existing is not None:
            if existing.filemode != FileMode.TREE:
                raise ClientError(f"{name!r} is a file in this document, not a folder")
            sub_base = repo[existing.id].peel(pygit2.Tree)
        sub_id = build_tree(repo, sub_base, sub)
        if len(repo[sub_id].peel(pygit2.Tree)) == 0:
            if existing is not None:
                builder.remove(name)
        else:
            builder.insert(name, sub_id, FileMode.TREE)
    return builder.write()


def svg_entry_paths(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = "") -> Iterator[str]:
    """The POSIX path of every entry of ``tree`` (at any depth) named ``*.svg`` that is
    not a folder; no blob is read."""
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if entry.filemode == FileMode.TREE:
            yield from svg_entry_paths(repo, repo[entry.id].peel(pygit2.Tree), path + "/")
        elif path.endswith(".svg"):
            yield path


def tree_svg_files(
    repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = ""
) -> Iterator[tuple[str, bytes]]:
    """Each ``*.svg`` file of ``tree`` (at any depth) and its bytes; no other blob is
    read. Symbolic links and submodules are not drawings and are left out."""
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if entry.filemode == FileMode.TREE:
            yield from tree_svg_files(repo, repo[entry.id].peel(pygit2.Tree), path + "/")
        elif path.endswith(".svg") and entry.filemode in (
            FileMode.BLOB,
            FileMode.BLOB_EXECUTABLE,
        ):
            blob = repo[entry.id]
            assert isinstance(blob, pygit2.Blob)
            yield path, blob.data
