"""Loading a live session, and recovering what happened while the daemon was away.

A document branch is loaded from its checkpoint (or its branch head) plus the journal
entries after the checkpoint's seq. When its branch is checked out, what other programs
and git did to the working tree meanwhile is merged in (``recover_working_tree``), each
file judged from the recorded version it was most likely made from (its base), and the
live state is written where the files hold our own earlier writes.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from ..core import protocol as P
from ..core.external import ExternalChange, closest_version, loss_message
from ..core.external_merge import recover_working_tree
from ..core.journal_records import JournalRecord
from ..core.replay import replay_journal
from ..core.session import LiveDocument
from ..core.svgdoc import SvgDocument
from ..durable.bases import WrittenBases
from ..durable.journal import Journal, journal_path
from ..errors import NotFound, OperationError, SvgxError
from ..git.layout import checkpoint_seq, read_checkpoint
from ..git.locks import own_repository
from ..git.store import Document
from .commit import GroupCommit
from .files import FileWriter
from .room import Room
from .runtime import Runtime
from .versions import Versions

__all__ = ["Recovery"]

log = logging.getLogger(__name__)


@dataclass
class Parsed:
    """A session's files parsed before it loads (:meth:`Recovery.parse_ahead`): the commit
    they were read from, and each file's bytes with its parse. The trees are taken once,
    by the load that starts from those bytes (a replay that starts again parses afresh:
    the first one edited these)."""

    target: str
    files: dict[str, tuple[bytes, SvgDocument]]

    def data(self) -> dict[str, bytes]:
        return {path: data for path, (data, _doc) in self.files.items()}

    def take(self, files: Mapping[str, bytes]) -> dict[str, SvgDocument]:
        taken = {p: doc for p, (data, doc) in self.files.items() if files.get(p) == data}
        self.files = {}
        return taken


MAPPED_AHEAD_FROM = 1024 * 1024
"""A file of at least this many bytes parsed ahead has its source mapped there too
(:attr:`SvgDocument.spans`, what the first structural edit and the first write need),
and the places of its many siblings kept (:meth:`SvgDocument.keep_places_ahead`): on the
loop the first delete after a cold join took 143 ms at 60k elements and 1.9 s at 561k,
in the middle of someone's edit. Smaller files do that when first edited, in a few
milliseconds."""


def _parsed(data: bytes, path: str) -> SvgDocument:
    doc = SvgDocument(data, name=path)
    if len(data) >= MAPPED_AHEAD_FROM:
        doc.spans  # noqa: B018 -- mapped here, in the worker thread
        doc.keep_places_ahead()
    return doc


def _starting_point(document: Document, branch: str) -> tuple[pygit2.Commit | None, str, str]:
    """What a session of ``branch`` starts from: its live checkpoint (None: there is none,
    or it is damaged, said in the third part) and the commit whose files it starts with,
    the checkpoint or the branch head ("": there is no such branch)."""
    repo = document.repo
    head = repo.references.get(f"refs/heads/{branch}")
    if head is None:
        return None, "", ""
    commit, damage = read_checkpoint(repo, branch)
    return commit, str(commit.id if commit is not None else head.target), damage


class Recovery:
    """Loads the rooms of a daemon and recovers their working trees."""

    def __init__(
        self, rt: Runtime, commit: GroupCommit, files: FileWriter, versions: Versions
    ) -> None:
        self.rt = rt
        self.commit = commit
        self.files = files
        self.versions = versions

    def parse_ahead(self, name: str, branch: str) -> Parsed | None:
        """The files :meth:`load` will start ``name``'s ``branch`` from, parsed: run in a
        worker thread before it, with a repository object of the thread's own, so that
        parsing a big drawing does not hold up the event loop. None when they cannot be
        read (:meth:`load` then says why)."""
        try:
            document = self.rt.store.open(name)
            target = _starting_point(document, branch)[1]
            if not target:
                return None
            files = document.svg_files(target)
            parsed = {path: (data, _parsed(data, path)) for path, data in files.items()}
        except (SvgxError, pygit2.GitError, OSError):
            return None
        return Parsed(target, parsed)

    def load(self, document: Document, branch: str, parsed: Parsed | None = None) -> Room:
        """The room of ``document``'s ``branch``: its checkpoint, the journal replayed;
        ``parsed``: its files as :meth:`parse_ahead` found them (those unchanged since are
        taken)."""
        repo = document.repo
        commit, target, damage = _starting_point(document, branch)
        if not target:
            raise NotFound(f"document {document.name!r} has no branch {branch!r}")
        # Read (and parsed) ahead from the same commit: not read again here.
        ahead = parsed if parsed is not None and parsed.target == target else None
        files = ahead.data() if ahead is not None else document.svg_files(target)
        head = repo.references[f"refs/heads/{branch}"]
        seq = 0
        if commit is not None:
            seq = checkpoint_seq(commit.message)
            if commit.parents and commit.parent_ids[0] != head.target:
                log.warning(
                    "%s@%s: the branch moved since the live checkpoint; continuing from the"
                    " checkpoint",
                    document.name,
                    branch,
                )
        if document.name not in self.rt.owned:
            fd = own_repository(repo.path)
            if fd is not None:
                self.rt.owned[document.name] = fd
        journal = Journal(journal_path(Path(repo.path), branch))
        records = journal.open()
        # A damaged journal may leave gaps: replay over them, noting what no longer applies.
        unapplied: list[int] | None = [] if journal.damage else None
        try:
            live, replayed, lost = (
                self._replay(
                    document,
                    branch,
                    files,
                    seq,
                    records,
                    damage,
                    checkpointed=commit is not None,
                    parsed=parsed,
                )
                if unapplied is None
                else self._replay_lossy(files, document, branch, seq, records, unapplied, parsed)
            )
        except BaseException:
            journal.close()
            raise
        if lost:
            journal.append(live.reset(files, reason=lost))
            journal.sync()
        settings = self.rt.settings
        room = Room(document, live, journal, settings)
        room.not_applied = unapplied or []
        if unapplied:
            log.error("%s: seqs %s no longer apply after the journal damage", room.key, unapplied)
        room.bases.load()
        room.bases.note_seen(live.last_written)
        merge_notices = self.versions.restore_merge(room)  # a merge a crash interrupted
        if room.checked_out():
            self._recover_working_tree(room)
        room.load_notices.extend(merge_notices)
        log.info(
            "live %s at seq %d (checkpoint %d, %d replayed)", room.key, live.seq, seq, replayed
        )
        return room

    def _fresh(
        self,
        document: Document,
        branch: str,
        files: dict[str, bytes],
        seq: int,
        parsed: Parsed | None = None,
    ) -> LiveDocument:
        settings = self.rt.settings
        return LiveDocument(
            document.name,
            branch,
            files,
            seq=seq,
            strategy=settings.default_strategy,
            history_size=settings.history_size,
            parsed=None if parsed is None else parsed.take(files),
        )

    def _replay_lossy(
        self,
        files: dict[str, bytes],
        document: Document,
        branch: str,
        seq: int,
        records: list[JournalRecord],
        unapplied: list[int],
        parsed: Parsed | None = None,
    ) -> tuple[LiveDocument, int, str]:
        """The live session from a journal found damaged: over its gaps."""
        live = self._fresh(document, branch, files, seq, parsed)
        return live, replay_journal(live, records, after_seq=seq, unapplied=unapplied), ""

    def _replay(
        self,
        document: Document,
        branch: str,
        files: dict[str, bytes],
        seq: int,
        records: list[JournalRecord],
        damage: str,
        *,
        checkpointed: bool,
        parsed: Parsed | None = None,
    ) -> tuple[LiveDocument, int, str]:
        """The live session: ``files`` at ``seq`` and the journal at ``path`` replayed,
        with how many operations were. With ``damage`` (the checkpoint is damaged or
        gone) the journal's operations do not apply to the branch head's ``files``:
        they keep only the seq and the answers, and the caller resets the session to
        ``files`` with the reason returned. So too without a checkpoint, when the
        journal does not apply to the head (the ref was deleted after a version was
        made of the journal's operations)."""
        live = self._fresh(document, branch, files, seq, parsed)  # parsed: taken once
        if not damage:
            try:
                return live, replay_journal(live, records, after_seq=seq), ""
            except OperationError as exc:
                if checkpointed:
                    raise
                damage = f"there is no live checkpoint and the journal does not apply ({exc})"
                live = self._fresh(document, branch, files, seq)
        log.warning(
            "%s@%s: %s; continuing from the branch head: live edits since the last"
            " version that the journal no longer holds are lost",
            document.name,
            branch,
            damage,
        )
        replay_journal(live, records, after_seq=sys.maxsize)
        return live, 0, "the live checkpoint was unreadable or gone"

    def _recover_working_tree(self, room: Room) -> None:
        """Merge what other programs and git did to the working tree while the daemon was
        away (core.external_merge.recover_working_tree), then write the live state where
        the files hold our own earlier writes."""
        document, live = room.document, room.live
        on_disk = document.svg_files()
        taken_at = live.seq
        recorded = {
            path: found
            for path in room.bases.files() | set(on_disk)
            if (found := closest_recorded(room, path, on_disk.get(path))) is not None
        }
        versions = None
        head = str(document.repo.references[f"refs/heads/{live.branch}"].target)
        if room.bases.head is not None and room.bases.head != head:
            try:
                versions = (document.svg_files(room.bases.head), document.svg_files(head))
            except SvgxError:
                versions = None  # the recorded commit is gone (gc after a rewind)
        rejected: list[tuple[str, str]] = []
        losses: list[dict[str, Any]] = []

        def before_loss(change: ExternalChange) -> None:
            assert change.loss is not None
            description = loss_message(change.file, change.loss)
            version = self.versions.commit_before_loss(room, description, checkpoint=False)
            losses.append(P.external_loss(live.name, change.file, change.loss, version, live.seq))

        # Files read as saved from an older version than the latest one written.
        newer = {
            path: latest[0][0]
            for path, (data, _) in recorded.items()
            if (latest := room.bases.versions(path)[:1]) and latest[0][0] != data
        }
        outcomes, changed = recover_working_tree(
            live,
            on_disk,
            recorded,
            versions,
            now=time.time(),
            unmerged=document.unmerged_paths(),
            rejected=rejected,
            before_loss=before_loss,
            newer=newer,
        )
        room.load_notices = [
            P.file_rejected(live.name, file, reason, live.seq) for file, reason in rejected
        ] + losses
        for out in outcomes:
            self.commit.queue(room, out, None)
        self.commit.flush(room)
        # Every file's base is a recorded version: the first of those a save is judged on.
        self.files.record_bases(room, changed | set(live.last_written))
        self.follow_working_tree(room, on_disk, taken_at)
        self.files.write_files(room)

    def follow_working_tree(self, room: Room, on_disk: Mapping[str, bytes], taken_at: int) -> None:
        """The session of ``room`` took the working tree at ``taken_at``: the recent
        versions another branch's session wrote of the files git kept as they were (a
        ``git checkout -b``, a switch between branches that share them) follow the files,
        so that a save from an editor that loaded one of them is judged from it."""
        svgx = Path(room.document.repo.path) / "svgx"
        loaded = {r.bases.folder: r.bases for r in self.rt.rooms.of_document(room.live.name)}
        left = dict(on_disk)
        # The branch that wrote last first: the one the working tree most likely came from.
        for folder in sorted(svgx.glob("written-*/"), key=_recorded_at, reverse=True):
            if not left or folder == room.bases.folder:
                continue
            other = loaded.get(folder)
            if other is None:
                other = WrittenBases(folder)
                other.load()
            try:
                for path in room.bases.follow(other, left, taken_at):
                    del left[path]
            except OSError:
                log.exception("could not carry the written versions of %s", room.key)
                return


def closest_recorded(room: Room, file: str, disk: bytes | None) -> tuple[bytes, int] | None:
    """The recorded version of ``file`` that ``disk`` was most likely made from."""
    versions = room.bases.versions(file)
    if not versions:
        return None
    if disk is None:
        return versions[0]
    if room.document.index_holds(file, disk) and not _untouched_since_record(room, file):
        return versions[0]  # git's own versions are judged from our last write
    # Also a file that holds git's bytes but has not changed since the record was last
    # replaced: a write recorded its version, then the daemon died before the file.
    return versions[closest_version(disk, [data for data, _ in versions])]


def _untouched_since_record(room: Room, file: str) -> bool:
    """Whether ``file`` on disk last changed no later than the written-versions record:
    its bytes were there before the daemon last recorded, so git did not write them
    while it was away."""
    try:
        changed = room.document.worktree.file_path(file).stat().st_ctime_ns
    except (OSError, SvgxError):
        return False
    recorded = room.bases.recorded_at()
    return recorded is not None and changed <= recorded


def _recorded_at(folder: Path) -> float:
    """When the written-versions record in ``folder`` last changed (0: unreadable)."""
    try:
        return (folder / "manifest.json").stat().st_mtime
    except OSError:
        return 0.0
