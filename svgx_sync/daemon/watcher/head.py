"""git's side of the watch: HEAD moves, the files git wrote, the conflicts git left.

A commit, checkout, reset, revert, merge or pull made with the git command moves HEAD
or a ref; :func:`~svgx_sync.core.external.classify_head_move` says what that was, and
this module carries it out: a checkout moves the live sessions (through the daemon),
new commits made outside are announced, and a rewind remembers the version the files
were on, so that what git writes into them next is judged from it. A file git has a
merge conflict in is held (:func:`~svgx_sync.core.external_merge.hold_git_conflict`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pygit2

from ...core import protocol
from ...core.external import Checkout, HeadMove, HeadState, classify_head_move, git_conflict
from ...core.external_merge import hold_git_conflict
from ...core.session import LiveDocument
from ...errors import StoreError, SvgxError
from ...git.layout import made_by_daemon
from ...git.store import Document
from .documents import DocState
from .target import WatchTarget

__all__ = ["HeadWatch", "git_is_busy"]

log = logging.getLogger(__name__)

NEW_COMMITS_SHOWN = 100
"""At most this many of the commits a move brought are announced (the newest)."""


def git_is_busy(doc: Document) -> bool:
    """git holds its index or a ref locked in ``doc``: it is half-way through a change."""
    git_dir = Path(doc.repo.path)
    if (git_dir / "index.lock").exists() or (git_dir / "HEAD.lock").exists():
        return True
    refs = git_dir / "refs" / "heads"
    return (git_dir / "packed-refs.lock").exists() or any(refs.rglob("*.lock"))


class HeadWatch:
    """Follows HEAD of each document and tells what git did to it."""

    def __init__(self, target: WatchTarget) -> None:
        self.target = target

    def read(self, doc: Document) -> HeadState | None:
        """Where HEAD of ``doc`` is now (None: it cannot be read)."""
        try:
            return HeadState(doc.head_branch(), doc.head_version())
        except StoreError as exc:
            log.debug("watcher: cannot read HEAD of %s (%s)", doc.name, exc)
            return None

    def remember(self, doc: Document, state: DocState) -> None:
        """HEAD is where it is now (at start-up, or after a commit of ours)."""
        state.head, state.head_files = self.read(doc), None

    def files(self, doc: Document, state: DocState) -> dict[str, bytes]:
        """The SVG files of the commit HEAD was last seen at, read when first needed."""
        if state.head_files is None:
            state.head_files = self.tree(doc, state.head)
        return state.head_files

    def tree(self, doc: Document, head: HeadState | None) -> dict[str, bytes]:
        """The SVG files of the commit ``head`` is at ({} when there is none)."""
        if head is None or head.commit is None:
            return {}
        try:
            return doc.svg_files(head.commit)
        except SvgxError:
            return {}

    def moved(
        self, doc: Document, state: DocState, new: HeadState
    ) -> tuple[dict[str, bytes] | None, list[dict[str, Any]]]:
        """Note what git did to HEAD; returns the old version's files after a rewind
        (None otherwise) and the notices."""
        old = state.head or HeadState(None, None)
        move = classify_head_move(old, new, descends=self._descends(doc, old, new))
        # Only a rewind (reset --hard, checkout -f, amend) can have replaced live work git
        # saw as uncommitted; git refuses to overwrite it otherwise. After a switch another
        # branch's session owns the working tree and was written out when the switch was
        # noticed.
        old_files = self.files(doc, state) if move is HeadMove.REWIND else None
        state.head, state.head_files = new, None
        # A rewind may move HEAD before git rewrites the files (reset --soft, then
        # checkout -f): those files are judged against the version they were on.
        state.rewound_from = old_files or {}
        checkout = None
        if move is HeadMove.SWITCH or (new.branch is None and move is not HeadMove.NONE):
            # Another branch's session takes the working tree, or HEAD is detached (or
            # moved while detached) and the branch's session is parked.
            checkout = self.target.follow_checkout(doc.name, old.branch, new.branch)
        log.info("watcher: %s HEAD %s (%s -> %s)", doc.name, move.value, old, new)
        return old_files, self._notices(doc, move, old, new, checkout)

    def _notices(
        self,
        doc: Document,
        move: HeadMove,
        old: HeadState,
        new: HeadState,
        checkout: Checkout | None,
    ) -> list[dict[str, Any]]:
        live = self.target.working_tree_session(doc.name)
        seq = live.seq if live is not None else None
        if move is HeadMove.NONE or (checkout is not None and checkout.takes is None):
            return []  # the parked session's clients were told by the daemon: head_detached
        if move is HeadMove.COMMITS and new.commit:
            # The daemon announced its own versions already.
            return _version_notices(self._new_commits(doc, old.commit, new.commit), seq)
        messages: list[dict[str, Any]] = [
            {
                "type": checkout.notice if checkout is not None else "head_moved",
                "document": doc.name,
                "branch": new.branch,
                "previous_branch": checkout.leaves if checkout is not None else old.branch,
                "version_id": new.commit,
                "previous_version_id": old.commit,
                "source": "git",
                "seq": seq,
            }
        ]
        if new.commit and move is HeadMove.REWIND:
            rewound = doc.repo.get(new.commit)
            if isinstance(rewound, pygit2.Commit):
                messages += _version_notices([rewound], seq)
        return messages

    @staticmethod
    def _descends(doc: Document, old: HeadState, new: HeadState) -> bool:
        if not (old.commit and new.commit):
            return False
        try:
            return old.commit == new.commit or doc.repo.descendant_of(new.commit, old.commit)
        except (pygit2.GitError, KeyError, ValueError):
            return False

    @staticmethod
    def _new_commits(doc: Document, old: str | None, new: str) -> list[pygit2.Commit]:
        walker = doc.repo.walk(
            new, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE
        )
        if old:
            with contextlib.suppress(pygit2.GitError, KeyError, ValueError):
                walker.hide(old)
        return list(walker)[-NEW_COMMITS_SHOWN:]

    def git_wrote(
        self, doc: Document, state: DocState, file: str, disk: bytes | None, *, held: bool
    ) -> tuple[bytes | None, bytes | None] | None:
        """When git itself wrote ``file`` (``held``: its index holds exactly these bytes)
        with a version other than the one HEAD was known at: the old and the new version.

        This does not wait for HEAD: git rewrites the files before it moves the ref, and
        the two may reach the watcher in separate groups, in either order.
        """
        if disk is None or not held:
            return None
        known = self.files(doc, state).get(file)
        if disk != known:
            return known, disk
        previous = state.rewound_from.get(file)
        if previous is not None and previous != disk:
            return previous, disk
        return None

    @staticmethod
    def hold_conflict(
        doc: Document, live: LiveDocument, file: str, disk: bytes | None
    ) -> tuple[bool, list[dict[str, Any]]]:
        """Hold ``file`` while git has a merge conflict in it (nothing of it is taken in,
        the daemon does not write it) and release it once settled; returns whether it is
        held and what to tell the clients."""
        try:
            unmerged = file in doc.unmerged_paths()
        except StoreError as exc:
            log.warning("watcher: %s", exc)
            unmerged = False
        return hold_git_conflict(live, file, git_conflict(disk, unmerged=unmerged))


def _version_notices(commits: Iterable[pygit2.Commit], seq: int | None) -> list[dict[str, Any]]:
    """``version_created`` for each commit made with git (not by the daemon)."""
    return [
        protocol.version_created(
            str(commit.id), commit.message.strip(), commit.author.name, seq, source="git"
        )
        for commit in commits
        if not made_by_daemon(commit)
    ]
