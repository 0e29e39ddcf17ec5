"""Our refs and trailers in a real repository: live checkpoints and who made a commit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

from svgx_sync.git.layout import (
    CHECKPOINT_REF_PREFIX,
    KEPT_REF_PREFIX,
    checkpoint_seq,
    made_by_daemon,
    write_checkpoint,
)
from svgx_sync.git.objects import OFF_GIL_FROM
from svgx_sync.git.store import EMPTY_SVG, Store

Git = Callable[..., str]

RED = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="r" fill="red"/></svg>\n'


def test_a_checkpoint_is_the_head_tree_with_the_live_files(store: Store, git: Git) -> None:
    doc = store.create("logo")
    doc.commit(
        {"icons/a.svg": RED, "icons/b.svg": RED},
        user_id="u-1",
        username="Ada",
        description="Icons",
        update_workdir=True,
    )
    head = doc.head_version()
    status_before = git(doc.path, "status", "--porcelain")
    blobs: dict[str, tuple[bytes | None, pygit2.Oid]] = {}
    # icons/a.svg and icons/b.svg were deleted live, document.svg changed, new.svg added.
    commit_id = write_checkpoint(
        doc, "main", {"document.svg": RED, "new.svg": EMPTY_SVG}, 7, blobs=blobs
    )
    assert git(doc.path, "rev-parse", CHECKPOINT_REF_PREFIX + "main").strip() == commit_id
    listed = git(doc.path, "ls-tree", "-r", "--name-only", commit_id).split()
    # The non-SVG file of the head stays; the emptied folder goes, as git keeps no folders.
    assert listed == [".gitattributes", "document.svg", "new.svg"]
    assert git(doc.path, "rev-parse", f"{commit_id}^").strip() == head
    message = git(doc.path, "log", "-1", "--format=%B", commit_id)
    assert checkpoint_seq(message) == 7
    assert git(doc.path, "rev-parse", "main").strip() == head
    assert git(doc.path, "status", "--porcelain") == status_before
    assert set(blobs) == {"document.svg", "new.svg"}
    git(doc.path, "fsck", "--strict")

    # Unchanged files keep their blobs; the kept-state ref has the same shape.
    again = write_checkpoint(
        doc, "main", {"document.svg": RED, "new.svg": EMPTY_SVG}, 8, ref=KEPT_REF_PREFIX + "main"
    )
    assert git(doc.path, "rev-parse", f"{again}^{{tree}}") == git(
        doc.path, "rev-parse", f"{commit_id}^{{tree}}"
    )
    assert checkpoint_seq(git(doc.path, "log", "-1", "--format=%B", again)) == 8


def test_made_by_daemon_tells_our_commits_from_the_git_commands(store: Store, git: Git) -> None:
    doc = store.create("logo")
    ours = doc.commit({"document.svg": RED}, user_id="u-1", username="Ada", description="Red")
    git(doc.path, "commit", "--allow-empty", "-m", "by hand")
    theirs = git(doc.path, "rev-parse", "HEAD").strip()
    first = doc.history()[-1].version_id
    by_id = {c: doc.repo[c].peel(pygit2.Commit) for c in (ours, theirs, first)}
    assert made_by_daemon(by_id[ours]) and made_by_daemon(by_id[first])
    assert not made_by_daemon(by_id[theirs])


def test_a_big_files_blob_is_written_as_git_writes_it_and_kept_by_its_id(
    store: Store, git: Git, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = store.create("plan")
    rects = "".join(f'<rect id="r{i}" x="{i}" width="9"/>\n' for i in range(12_000))
    big = f'<svg xmlns="http://www.w3.org/2000/svg">\n{rects}</svg>\n'.encode()
    assert len(big) >= OFF_GIL_FROM
    # pygit2's own blob writer is not used for it (it holds the GIL while it works).
    real_create_blob = pygit2.Repository.create_blob
    sizes: list[int] = []
    monkeypatch.setattr(
        pygit2.Repository,
        "create_blob",
        lambda repo, data: sizes.append(len(data)) or real_create_blob(repo, data),
    )
    blobs: dict[str, tuple[bytes | None, pygit2.Oid]] = {}
    commit_id = write_checkpoint(
        doc, "main", {"document.svg": big, "small.svg": RED}, 3, blobs=blobs
    )
    assert sizes == [len(RED)]
    oid = blobs["document.svg"][1]
    assert blobs["document.svg"][0] is None  # a big file's bytes are not held twice
    assert blobs["small.svg"][0] == RED
    (doc.path.parent / "big.svg").write_bytes(big)
    assert str(oid) == git(doc.path, "hash-object", str(doc.path.parent / "big.svg")).strip()
    assert git(doc.path, "show", f"{commit_id}:document.svg").encode() == big
    git(doc.path, "fsck", "--strict", "--full")
    # Unchanged: told by its hash, nothing written again; changed: a new blob.
    objects = sorted(Path(doc.repo.path, "objects").rglob("*"))
    write_checkpoint(doc, "main", {"document.svg": big, "small.svg": RED}, 4, blobs=blobs)
    assert blobs["document.svg"][1] == oid
    changed = big.replace(b'id="r5" x="5"', b'id="r5" x="6"')
    write_checkpoint(doc, "main", {"document.svg": changed, "small.svg": RED}, 5, blobs=blobs)
    assert blobs["document.svg"][1] != oid
    assert doc.repo[blobs["document.svg"][1]].data == changed
    assert len(objects) < len(sorted(Path(doc.repo.path, "objects").rglob("*")))
    git(doc.path, "fsck", "--strict", "--full")
