"""The git store, checked against real repositories and the real git command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from svgx_sync.errors import ClientError, InvalidName, NotFound, StoreError
from svgx_sync.git import locks
from svgx_sync.git.store import EMPTY_SVG, Document, Store, Version
from svgx_sync.git.worktree import blob_id

Git = Callable[..., str]

RED = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="r" fill="red"/></svg>\n'
BLUE = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="r" fill="blue"/></svg>\n'
GREEN = b'<svg xmlns="http://www.w3.org/2000/svg"><rect id="r" fill="green"/></svg>\n'


def edit(doc: Document, files: dict[str, bytes | None], text: str = "Edit", **kw: object) -> str:
    return doc.commit(
        files,
        user_id=str(kw.pop("user_id", "u-1")),
        username=str(kw.pop("username", "Ada Lovelace")),
        description=text,
        update_workdir=True,
        **kw,  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------ the store


def test_create_makes_a_repository_git_recognises(store: Store, git: Git) -> None:
    doc = store.create("logo")
    assert doc.path == store.root / "logo"
    assert (doc.path / "document.svg").read_bytes() == EMPTY_SVG
    assert git(doc.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    log = git(doc.path, "log", "--format=%an|%ae|%s")
    assert log == "svgx_sync|svgx-sync@localhost|Create document\n"
    assert git(doc.path, "show", "HEAD:document.svg").encode() == EMPTY_SVG
    assert git(doc.path, "status", "--porcelain") == ""
    git(doc.path, "fsck", "--strict")
    assert doc.svg_files() == {"document.svg": EMPTY_SVG}
    assert doc.current_branch() == "main"


def test_create_open_and_list(store: Store) -> None:
    assert store.names() == []
    store.create("b")
    store.create("a")
    (store.root / "plain-folder").mkdir()
    assert store.names() == ["a", "b"]
    assert store.open("a").name == "a"
    with pytest.raises(NotFound):
        store.open("missing")
    with pytest.raises(NotFound):
        store.open("plain-folder")
    assert store.open("c", create=True).head_version() is not None
    assert store.names() == ["a", "b", "c"]


def test_create_refuses_taken_and_bad_names(store: Store) -> None:
    store.create("a")
    with pytest.raises(ClientError, match="already exists"):
        store.create("a")
    with pytest.raises(InvalidName):
        store.create("../escape")
    with pytest.raises(InvalidName):
        store.open(".git")


def test_create_never_clobbers_a_folder_with_files(store: Store) -> None:
    folder = store.root / "drawings"
    folder.mkdir()
    (folder / "mine.svg").write_bytes(RED)
    with pytest.raises(ClientError, match="adopted"):
        store.create("drawings")
    assert (folder / "mine.svg").read_bytes() == RED
    assert not (folder / ".git").exists()


def test_open_does_not_climb_to_an_enclosing_repository(tmp_path: Path, git: Git) -> None:
    git(tmp_path, "init", "-q")
    store = Store(tmp_path / "docs")
    (store.root / "x").mkdir()
    with pytest.raises(NotFound):
        store.open("x")


# ------------------------------------------------------------------ commits


def test_commit_author_message_and_trailers(store: Store, git: Git) -> None:
    doc = store.create("logo")
    sha = doc.commit(
        {"document.svg": RED},
        user_id="github|42 <evil>",
        username="Ada <Lovelace>",
        description="Make it red",
        session_id="s-1",
        op_ids=["op-1", "op-2"],
        update_workdir=True,
    )
    assert git(doc.path, "rev-parse", "HEAD").strip() == sha
    fields = git(doc.path, "log", "-1", "--format=%an|%ae|%cn|%ce|%s|%b").split("|")
    name, email, committer, committer_email, subject, body = fields
    assert name == committer == "Ada Lovelace"
    assert email == committer_email
    assert email.endswith("@users.svgx-sync.invalid")
    assert "<" not in email and " " not in email and "|" not in email
    assert subject == "Make it red"
    assert body == "Svgx-Session: s-1\nSvgx-Operation: op-1\nSvgx-Operation: op-2\n\n"
    trailers = git(doc.path, "log", "-1", "--format=%(trailers:only)")
    assert "Svgx-Session: s-1" in trailers and "Svgx-Operation: op-2" in trailers
    git(doc.path, "fsck", "--strict")
    assert git(doc.path, "status", "--porcelain") == ""
    assert (doc.path / "document.svg").read_bytes() == RED


def test_commit_without_trailers_has_a_plain_message(store: Store, git: Git) -> None:
    doc = store.create("logo")
    edit(doc, {"document.svg": RED}, "Just this")
    assert git(doc.path, "log", "-1", "--format=%B") == "Just this\n\n"
    assert doc.history(limit=1)[0].session_id is None


def test_commit_nested_paths_and_deletions(store: Store, git: Git) -> None:
    doc = store.create("logo")
    edit(doc, {"icons/a.svg": RED, "icons/deep/b.svg": BLUE})
    assert git(doc.path, "ls-tree", "-r", "--name-only", "HEAD").split() == [
        ".gitattributes",
        "document.svg",
        "icons/a.svg",
        "icons/deep/b.svg",
    ]
    edit(doc, {"icons/deep/b.svg": None, "document.svg": None})
    assert git(doc.path, "ls-tree", "-r", "--name-only", "HEAD").split() == [
        ".gitattributes",
        "icons/a.svg",
    ]
    assert doc.svg_files() == {"icons/a.svg": RED}
    assert doc.svg_files(doc.head_version()) == {"icons/a.svg": RED}
    assert git(doc.path, "status", "--porcelain") == ""
    git(doc.path, "fsck", "--strict")


def test_commit_takes_only_the_given_files(store: Store, git: Git) -> None:
    doc = store.create("logo")
    doc.write_file("other.svg", BLUE)  # written but never committed
    doc.write_file("document.svg", RED)
    edit_id = doc.commit({"document.svg": RED}, user_id="u", username="U", description="Red only")
    assert doc.svg_files(edit_id) == {"document.svg": RED}
    # The index follows the commit, so nothing is staged; other.svg stays untracked.
    assert git(doc.path, "status", "--porcelain") == "?? other.svg\n"
    assert git(doc.path, "diff", "--cached", "--name-only") == ""


def test_commit_without_workdir_update_keeps_index_in_step(store: Store, git: Git) -> None:
    doc = store.create("logo")
    doc.commit({"document.svg": RED}, user_id="u", username="U", description="Red")
    # The file on disk is still the old one: an unstaged change, nothing staged.
    assert git(doc.path, "diff", "--cached", "--name-only") == ""
    assert git(doc.path, "status", "--porcelain") == " M document.svg\n"


def test_commit_on_another_branch_leaves_the_checkout_alone(store: Store, git: Git) -> None:
    doc = store.create("logo")
    doc.create_branch("draft")
    sha = doc.commit(
        {"document.svg": RED}, user_id="u", username="U", description="d", branch="draft"
    )
    assert git(doc.path, "rev-parse", "draft").strip() == sha
    assert git(doc.path, "status", "--porcelain") == ""
    assert (doc.path / "document.svg").read_bytes() == EMPTY_SVG


def test_commit_with_stale_parent_is_refused(store: Store) -> None:
    doc = store.create("logo")
    first = doc.head_version()
    assert first is not None
    edit(doc, {"document.svg": RED})
    with pytest.raises(StoreError, match="moved"):
        doc.commit(
            {"document.svg": BLUE}, user_id="u", username="U", description="late", parents=[first]
        )
    second = edit(doc, {"document.svg": BLUE}, parents=[doc.head_version()])
    assert doc.history()[0].parents == (doc.history()[1].version_id,)
    assert second == doc.head_version()


def test_commit_refuses_bad_file_names(store: Store) -> None:
    doc = store.create("logo")
    for bad in ("../x.svg", ".git/config.svg", "a.png"):
        with pytest.raises(InvalidName):
            edit(doc, {bad: RED})
    assert len(doc.history()) == 1


def test_commit_refuses_multiline_trailer_values(store: Store) -> None:
    doc = store.create("logo")
    with pytest.raises(ClientError):
        edit(doc, {"document.svg": RED}, session_id="a\nSvgx-Operation: forged")


# ------------------------------------------------------------------ reading


def test_history_newest_first(store: Store) -> None:
    doc = store.create("logo")
    a = edit(doc, {"document.svg": RED}, "red", session_id="s", op_ids=["o1"])
    b = edit(doc, {"document.svg": BLUE}, "blue\n\nwith a body")
    versions = doc.history()
    assert [v.version_id for v in versions][:2] == [b, a]
    assert versions[-1].description == "Create document"
    assert versions[0].description == "blue\n\nwith a body"
    assert versions[1] == Version(
        version_id=a,
        author_name="Ada Lovelace",
        author_email="u-1@users.svgx-sync.invalid",
        timestamp=versions[1].timestamp,
        description="red",
        session_id="s",
        op_ids=("o1",),
        parents=(versions[2].version_id,),
    )
    assert versions[0].timestamp >= versions[1].timestamp > 1_600_000_000
    assert [v.version_id for v in doc.history(limit=1)] == [b]
    assert len(doc.history(branch="main")) == 3
    with pytest.raises(NotFound):
        doc.history(branch="nope")


def test_resolve(store: Store, git: Git) -> None:
    doc = store.create("logo")
    sha = edit(doc, {"document.svg": RED})
    doc.create_tag("v1")
    assert doc.resolve(sha) == sha
    assert doc.resolve(sha[:8]) == sha
    assert doc.resolve("main") == sha
    assert doc.resolve("v1") == sha
    assert doc.resolve("HEAD~1") == git(doc.path, "rev-parse", "HEAD~1").strip()
    blob = git(doc.path, "rev-parse", "HEAD:document.svg").strip()
    for bad in ("nope", "0" * 40, blob, "-x", ""):
        with pytest.raises(NotFound):
            doc.resolve(bad)


def test_svg_files_of_a_version(store: Store) -> None:
    doc = store.create("logo")
    first = doc.head_version()
    assert first is not None
    edit(doc, {"document.svg": RED, "b.svg": BLUE})
    assert doc.svg_files(first) == {"document.svg": EMPTY_SVG}
    assert doc.svg_files("main") == {"document.svg": RED, "b.svg": BLUE}
    with pytest.raises(NotFound):
        doc.svg_files("nope")


def test_write_file(store: Store) -> None:
    doc = store.create("logo")
    path = doc.write_file("sub/dir/x.svg", RED)
    assert path.read_bytes() == RED
    assert doc.svg_files()["sub/dir/x.svg"] == RED
    assert doc.svg_paths() == ["document.svg", "sub/dir/x.svg"] == list(doc.svg_files())
    with pytest.raises(InvalidName):
        doc.write_file("../../x.svg", RED)


# ------------------------------------------------------------------ branches


def test_branches_create_list_delete(store: Store, git: Git) -> None:
    doc = store.create("logo")
    base = doc.head_version()
    doc.create_branch("draft")
    assert doc.list_branches() == [
        {"name": "draft", "version_id": base, "current": False},
        {"name": "main", "version_id": base, "current": True},
    ]
    git(doc.path, "switch", "-q", "draft")  # branches are checked out with git
    assert doc.current_branch() == "draft"
    drafted = edit(doc, {"document.svg": RED, "extra.svg": BLUE})
    assert git(doc.path, "rev-parse", "draft").strip() == drafted
    assert [b["current"] for b in doc.list_branches()] == [True, False]
    with pytest.raises(ClientError, match="checked out"):
        doc.delete_branch("draft")
    git(doc.path, "switch", "-q", "main")
    doc.delete_branch("draft")
    assert [b["name"] for b in doc.list_branches()] == ["main"]
    with pytest.raises(NotFound):
        doc.delete_branch("draft")
    assert git(doc.path, "cat-file", "-t", drafted).strip() == "commit"


def test_branch_from_a_version_and_refusals(store: Store) -> None:
    doc = store.create("logo")
    first = doc.head_version()
    edit(doc, {"document.svg": RED})
    assert doc.create_branch("old", from_version=first) == first
    with pytest.raises(ClientError, match="already exists"):
        doc.create_branch("old")
    for bad in ("a..b", "-x", "svgx/mine", "x.lock"):
        with pytest.raises(InvalidName):
            doc.create_branch(bad)
    with pytest.raises(NotFound):
        doc.create_branch("new", from_version="nope")


# ------------------------------------------------------------------ tags


def test_tags(store: Store, git: Git) -> None:
    doc = store.create("logo")
    first = doc.head_version()
    second = edit(doc, {"document.svg": RED})
    assert doc.create_tag("light", first) == first
    assert doc.create_tag("v1", message="First release", user_id="u-1", username="Ada") == second
    assert doc.list_tags() == [
        {"name": "light", "version_id": first, "annotated": False, "message": None},
        {"name": "v1", "version_id": second, "annotated": True, "message": "First release\n"},
    ]
    assert git(doc.path, "cat-file", "-t", "v1").strip() == "tag"
    assert git(doc.path, "cat-file", "-t", "light").strip() == "commit"
    assert git(doc.path, "rev-parse", "v1^{commit}").strip() == second
    git(doc.path, "fsck", "--strict")
    with pytest.raises(ClientError, match="already exists"):
        doc.create_tag("v1")
    doc.delete_tag("light")
    assert [t["name"] for t in doc.list_tags()] == ["v1"]
    with pytest.raises(NotFound):
        doc.delete_tag("light")
    with pytest.raises(InvalidName):
        doc.create_tag("a@{b")


# ------------------------------------------------------------------ locks


def test_a_lock_released_while_waiting_is_waited_for(
    store: Store, git: Git, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = store.create("logo")
    lock = doc.path / ".git" / "refs" / "heads" / "main.lock"
    lock.write_bytes(b"")
    waits: list[float] = []

    def other_writer_finishes(seconds: float) -> None:
        waits.append(seconds)
        lock.unlink()

    monkeypatch.setattr(locks, "_sleep", other_writer_finishes)
    sha = edit(doc, {"document.svg": RED})
    assert len(waits) == 1
    assert git(doc.path, "rev-parse", "main").strip() == sha


def test_a_held_ref_lock_is_reported_and_left_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = store.create("logo")
    before = doc.head_version()
    lock = doc.path / ".git" / "refs" / "heads" / "main.lock"
    lock.write_bytes(b"")
    monkeypatch.setattr(locks, "_LOCK_WAIT_SECONDS", 0.05)
    with pytest.raises(StoreError, match="lock"):
        edit(doc, {"document.svg": RED})
    assert lock.exists()  # never removed by us
    assert doc.head_version() == before
    tag_lock = doc.path / ".git" / "refs" / "tags" / "v1.lock"
    tag_lock.write_bytes(b"")
    with pytest.raises(StoreError, match="lock"):
        doc.create_tag("v1")
    assert tag_lock.exists()
    tag_lock.unlink()
    lock.unlink()
    edit(doc, {"document.svg": BLUE})
    assert doc.svg_files(doc.head_version()) == {"document.svg": BLUE}


def test_a_held_index_lock_does_not_undo_a_commit(
    store: Store, git: Git, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = store.create("logo")
    lock = doc.path / ".git" / "index.lock"
    lock.write_bytes(b"")
    monkeypatch.setattr(locks, "_LOCK_WAIT_SECONDS", 0.05)
    sha = edit(doc, {"document.svg": RED})
    assert git(doc.path, "rev-parse", "HEAD").strip() == sha
    assert lock.exists()
    lock.unlink()
    edit(doc, {"document.svg": BLUE})
    assert git(doc.path, "status", "--porcelain") == ""


# ------------------------------------------------------------------ atomic writes


def test_write_atomic_replaces_and_keeps_the_mode(tmp_path: Path) -> None:
    from svgx_sync.durable.atomic import write_atomic

    target = tmp_path / "a.svg"
    write_atomic(target, RED)
    assert target.read_bytes() == RED
    target.chmod(0o750)
    write_atomic(target, BLUE)
    assert target.read_bytes() == BLUE
    assert target.stat().st_mode & 0o777 == 0o750
    assert [p.name for p in tmp_path.iterdir()] == ["a.svg"]  # no temporary left behind
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "b.svg", RED)
    assert [p.name for p in tmp_path.iterdir()] == ["a.svg"]


@pytest.mark.parametrize("rev", ["a..b", "@{-1}", "main@{99}", "x:y", "HEAD^^^^^^", " "])
def test_resolve_odd_revisions_are_not_found(store: Store, rev: str) -> None:
    doc = store.create("logo")
    with pytest.raises(NotFound):
        doc.resolve(rev)


# ------------------------------------------------------------------ diff


def test_diff_hands_each_changed_file_to_the_diff_rules(store: Store) -> None:
    diff = pytest.importorskip("svgx_sync.core.diff")
    doc = store.create("logo")
    first = doc.head_version()
    assert first is not None
    second = edit(doc, {"document.svg": RED, "gone.svg": BLUE, "same.svg": GREEN})
    third = edit(doc, {"document.svg": BLUE, "gone.svg": None, "new.svg": RED})
    expected = (
        diff.diff_documents(RED, BLUE, "document.svg")
        + diff.diff_documents(BLUE, None, "gone.svg")
        + diff.diff_documents(None, RED, "new.svg")
    )
    assert doc.diff(second, third) == expected
    assert doc.diff(second, "main") == expected
    assert doc.diff(third, third) == []
    assert doc.diff(first, second) == (
        diff.diff_documents(EMPTY_SVG, RED, "document.svg")
        + diff.diff_documents(None, BLUE, "gone.svg")
        + diff.diff_documents(None, GREEN, "same.svg")
    )
    # Without a second version the working tree is compared.
    doc.write_file("document.svg", GREEN)
    assert doc.diff(third) == diff.diff_documents(BLUE, GREEN, "document.svg")
    assert doc.diff(third)  # a real change shows up
    with pytest.raises(NotFound):
        doc.diff("nope")


def test_a_new_document_merges_svg_element_by_element_with_plain_git(
    store: Store, git: Git
) -> None:
    # Edits on neighbouring lines: git's line merge conflicts, the driver does not.
    doc = store.create("plan")
    two = EMPTY_SVG.replace(b"</svg>", b'  <rect id="a" x="0"/>\n  <rect id="b" x="0"/>\n</svg>')
    edit(doc, {"document.svg": two}, "Two boxes")
    assert "merge=svgx" in git(doc.path, "show", "HEAD:.gitattributes")
    git(doc.path, "checkout", "-q", "-b", "other")
    (doc.path / "document.svg").write_bytes(two.replace(b'id="b" x="0"', b'id="b" x="9"'))
    git(doc.path, "commit", "-qam", "b moves")
    git(doc.path, "checkout", "-q", "main")
    (doc.path / "document.svg").write_bytes(two.replace(b'id="a" x="0"', b'id="a" x="5"'))
    git(doc.path, "commit", "-qam", "a moves")
    git(doc.path, "merge", "-q", "--no-edit", "other")
    merged = (doc.path / "document.svg").read_text()
    assert 'id="a" x="5"' in merged and 'id="b" x="9"' in merged
    assert git(doc.path, "status", "--porcelain") == ""


@pytest.mark.parametrize("size", [0, 1, 2047, 2048, 6_000_000])
def test_a_blob_id_is_the_one_git_hash_object_gives(tmp_path: Path, git: Git, size: int) -> None:
    data = bytes((i * 7919) % 251 for i in range(size))
    path = tmp_path / "save.svg"
    path.write_bytes(data)
    assert str(blob_id(data)) == git(tmp_path, "hash-object", str(path)).strip()


def test_the_index_holds_what_git_add_staged_and_not_an_edit_of_it(store: Store, git: Git) -> None:
    doc = store.create("plan")
    path = doc.path / "document.svg"
    path.write_bytes(RED)
    git(doc.path, "add", "document.svg")
    assert doc.index_holds("document.svg", RED)
    assert doc.index_holds("document.svg", blob_id(RED))
    assert not doc.index_holds("document.svg", BLUE)
    assert not doc.index_holds("other.svg", RED)
