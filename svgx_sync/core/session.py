"""The live session of one document branch: the single writer that orders operations.

Rules kept here (pure: no sockets, files or clocks; ``now`` comes in):

* Every accepted operation gets the next ``seq``; everyone applies operations in ``seq``
  order, so all replicas converge. Operations are judged against their base (the last
  ``seq`` their sender had seen) by :func:`svgx_sync.core.conflicts.arbitrate`.
* An ``op_id`` is applied at most once: a resent operation gets its first answer again
  (the same ``seq`` and status) and changes nothing. An ``op_id`` belongs to its sender:
  another user's operation with the same ``op_id`` is a new operation.
* A client's operation names an ``op_id`` of the allowed characters and a ``base_seq``
  the session has reached (:func:`~svgx_sync.core.protocol.check_client_operation`);
  an outside change's base is at most the current ``seq``.
* What must be made durable before anyone hears of it is returned as ``journal``
  records; what everyone must receive is returned as ``entries`` (wire operations with
  their ``seq``). The shell writes the one, fsyncs, then sends the other.
* Replaying the journal records on top of the files they started from
  (:func:`svgx_sync.core.replay.replay_journal`) rebuilds exactly the same state (same
  files, same ``seq``, same ``op_id`` answers): records carry the *effective* operation,
  which is re-applied as is.
* The recent entries and answers are kept (:class:`svgx_sync.core.recent.Recent`) so a
  reconnecting client can be sent just what it missed.
* A branch merged into the live files comes in through
  :func:`svgx_sync.core.versions.merge_branch`.
* What clients are sent never carries active content (:mod:`svgx_sync.core.active`):
  entries and files go out as their inert copies, saying what was made inert in
  ``active_content``; the journal and the files keep what was taken in as it is.
* Whole files join and leave the document as entries of their own (``file_add``,
  ``file_delete``), numbered, journaled and caught up like operations.
* ``last_written`` holds, per file, the exact bytes last written to or loaded from the
  working tree, so a file watcher can tell our own writes from someone else's. What an
  outside save, a checkout or a revert means for it (and for ``written_seq``, ``dirty``
  and ``held``) is said by the methods under "what the working tree holds"; the shells
  call them and assign none of these fields.
* A version of the live state holds every live file; a file the branch has and the live
  state has not was deleted live, and is deleted in the version (:func:`version_files`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ClientError, NotFound, OperationError
from . import active
from .conflict_record import ConflictRecord
from .conflicts import ConflictBook, Strategy, Verdict, arbitrate, resolve
from .diff import FILE_ADD, FILE_DELETE, FILE_OPERATIONS
from .journal_records import (
    ConflictsRecord,
    JournalRecord,
    OpRecord,
    ResetRecord,
    StrategyRecord,
)
from .ops import EXTERNAL_USER, PRESENCE_ONLY, Operation, apply_operation, replaced
from .protocol import Ack, check_client_operation, op_wire
from .recent import Recent
from .svgdoc import DEFAULT_FILE, SvgDocument

__all__ = [
    "FILE_OPERATIONS",
    "LiveDocument",
    "Outcome",
    "PendingRead",
    "version_files",
]


@dataclass(slots=True)
class Outcome:
    """The answer to one submission.

    ``status`` is ``applied``, ``pending``, ``rejected`` or ``presence`` (a select or
    deselect: no seq, presence only). ``duplicate`` says the ``op_id`` was seen before
    and ``ack`` is the first answer again.
    """

    status: str
    ack: Ack
    entries: list[dict[str, Any]] = field(default_factory=list)
    journal: list[JournalRecord] = field(default_factory=list)
    conflicts: list[ConflictRecord] = field(default_factory=list)
    duplicate: bool = False
    resolved: ConflictRecord | None = None

    @property
    def seq(self) -> int | None:
        return self.ack.seq


_UNANSWERED = Ack(None, None, "applied")  # an outcome's ack until its own is made


def document_key(name: str, branch: str) -> str:
    return f"{name}@{branch}"


def version_files(
    current: Mapping[str, bytes], committed: Iterable[str]
) -> dict[str, bytes | None]:
    """The files of a version of ``current`` (the live files) made over ``committed``
    (the paths of the files the branch has): each current file, and None (deleted) for
    a committed one that is no longer current."""
    files: dict[str, bytes | None] = dict(current)
    for path in committed:
        files.setdefault(path, None)
    return files


class _InertTexts:
    """Per file: the text last served, its inert copy and what was made inert, so that a
    welcome reads the drawing again only when its text changed."""

    def __init__(self) -> None:
        self.kept: dict[str, tuple[str, str, list[dict[str, Any]]]] = {}

    def texts(
        self, files: Mapping[str, SvgDocument]
    ) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
        texts: dict[str, str] = {}
        flagged: dict[str, list[dict[str, Any]]] = {}
        for path, doc in files.items():
            texts[path], found = self.text(path, doc)
            if found:
                flagged[path] = found
        for gone in self.kept.keys() - files.keys():
            del self.kept[gone]
        return texts, flagged

    def text(self, path: str, doc: SvgDocument) -> tuple[str, list[dict[str, Any]]]:
        """One file's served text and what was made inert, read again only if it changed."""
        text = doc.render()
        kept = self.kept.get(path)
        if kept is None or kept[0] != text:
            served, found = active.served_text(doc)
            kept = self.kept[path] = (text, served, [f.to_wire() for f in found])
        return kept[1], kept[2]

    def known(self, texts: Mapping[str, str]) -> dict[str, str]:
        """The served text of each of ``texts`` that was served as it is now."""
        kept = {path: self.kept.get(path) for path in texts}
        return {p: k[1] for p, k in kept.items() if k is not None and k[0] == texts[p]}


@dataclass(eq=False)
class PendingRead:
    """An outside save taken in whose own text is still to be read, beside the event loop
    (:meth:`LiveDocument.read_taken`): meanwhile ``doc``, the tree that holds the same
    elements, stands for it, and the operations applied to ``doc`` since are kept to be
    applied to the tree read."""

    data: bytes
    doc: SvgDocument
    since: list[Operation] = field(default_factory=list)


class LiveDocument:
    """One document branch being edited live: its files, its ``seq`` and its books."""

    def __init__(
        self,
        name: str,
        branch: str,
        files: Mapping[str, bytes],
        *,
        seq: int = 0,
        strategy: Strategy | str = Strategy.AUTOMATIC,
        history_size: int = 10_000,
        parsed: Mapping[str, SvgDocument] | None = None,
    ) -> None:
        """``parsed``: some of ``files`` parsed already, from these very bytes (in a
        worker thread, while the event loop served others); they are taken as they are."""
        self.name = name
        self.branch = branch
        self.strategy = Strategy(strategy)
        self.history_size = history_size
        ready = parsed or {}
        self.files: dict[str, SvgDocument] = {
            path: ready[path] if path in ready else SvgDocument(data, name=path)
            for path, data in sorted(files.items())
        }
        self.last_written: dict[str, bytes] = dict(files)
        # The seq each file's last_written was taken at: the base_seq of an external edit.
        self.written_seq: dict[str, int] = dict.fromkeys(files, seq)
        self.seq = seq
        self.recent = Recent(history_size, seq)  # for catch-up and resent op_ids
        self.book = ConflictBook()
        self.dirty: set[str] = set()
        # Files in which git has a merge conflict to settle (file -> what the clients were
        # told): they stay dirty and are not written until it is settled.
        self.held: dict[str, dict[str, Any]] = {}
        # Outside saves taken in whose text is read beside the loop (file -> the read):
        # they are not written until it is done.
        self.unread: dict[str, PendingRead] = {}
        self._inert = _InertTexts()

    @property
    def key(self) -> str:
        return document_key(self.name, self.branch)

    @property
    def default_file(self) -> str:
        if DEFAULT_FILE in self.files or not self.files:
            return DEFAULT_FILE
        return next(iter(self.files))

    # -- submissions -----------------------------------------------------------------

    def submit(
        self,
        op: Operation,
        *,
        base_seq: int | None,
        now: float,
        own_after: int | None = None,
        outside: bool = False,
    ) -> Outcome:
        """Judge, apply and number one operation.

        ``own_after`` (for the ``external`` user, who stands for every other program):
        only the sender's operations numbered after it are its own; earlier ones since
        ``base_seq`` are concurrent, as another user's are.

        A client's operation that would add active content, or has an odd ``op_id`` or a
        ``base_seq`` past the session's ``seq``, is refused; one that is ``outside`` (what
        another program saved, or a merged branch brings) is taken as it is. Raises
        :class:`OperationError` (:class:`NotFound` for an unknown file) when the
        operation is refused; the document is then unchanged.
        """
        known = self.recent.answer(op.user_id, op.op_id)
        if known is not None:
            return Outcome("duplicate", known, duplicate=True)
        if not outside:
            check_client_operation(op.op_id, base_seq, seq=self.seq)
        op, file = self._placed(op)
        if op.operation_type in PRESENCE_ONLY:
            apply_operation(self.files[file], op)  # validates the element exists
            return Outcome("presence", Ack(op.op_id, None, "applied"))
        base = self.seq if base_seq is None else min(base_seq, self.seq)
        verdict = arbitrate(
            self.files,
            self.book,
            op,
            file=file,
            base_seq=base,
            strategy=self.strategy,
            now=now,
            own_after=own_after,
            screen=not outside,
        )
        outcome = Outcome(verdict.status, _UNANSWERED, conflicts=list(verdict.conflicts))
        if verdict.status == "applied" and verdict.effective is not None:
            for applied, inverse in verdict.prelude:
                self._number(applied, inverse, outcome)
            self._number(verdict.effective, verdict.inverse, outcome, verdict.touched)
        outcome.ack = self._answer(op, file, verdict, outcome.entries)
        if verdict.conflicts:
            outcome.journal.append(self.conflict_record(verdict.conflicts))
        if outcome.ack.op_id is not None:
            self.recent.remember(op.user_id, outcome.ack.op_id, outcome.ack)
        return outcome

    def _placed(self, op: Operation) -> tuple[Operation, str]:
        """``op`` naming the file it edits (the default one when it names none)."""
        file = op.file or self.default_file
        if file not in self.files:
            raise NotFound(f"no file {file!r} in document {self.name!r}")
        return (op if op.file is not None else replaced(op, file=file)), file

    def _answer(
        self, op: Operation, file: str, verdict: Verdict, entries: list[dict[str, Any]]
    ) -> Ack:
        """The ack for ``op``: the ``seq`` of its last entry (an operation without an
        ``op_id`` is acked with the one it was given), and for a refused one the element
        as it is now, as clients are sent it."""
        last = entries[-1] if entries else None
        state = verdict.current_state
        return Ack(
            op.op_id or (last["op_id"] if last else None),
            last["seq"] if last else None,
            verdict.status,
            reason=verdict.reason or None,
            current_state=None if state is None else active.served_state(self.files[file], state),
            conflict_ids=tuple([c.conflict_id for c in verdict.conflicts]),
        )

    def _number(
        self,
        op: Operation,
        inverse: list[Operation],
        outcome: Outcome,
        touched: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.seq += 1
        if op.op_id is None:
            # Deterministic, so replay gives the same id; "auto-" ids are never resent.
            op = replaced(op, op_id=f"auto-{self.seq}")
        self.book.record(self.seq, op, inverse, touched)
        file = op.file or self.default_file
        self.dirty.add(file)
        pending = self.unread.get(file)
        if pending is not None:
            pending.since.append(op)
        self._keep(op_wire(self.seq, op), outcome)

    def served_entry(
        self, wire: dict[str, Any], whole: active.ServedFile | None = None
    ) -> dict[str, Any]:
        """An entry as clients are sent it: inert (:func:`~svgx_sync.core.active.served_entry`)."""
        doc = self.files.get(wire.get("file") or self.default_file)
        return wire if doc is None else active.served_entry(doc, wire, whole)

    def _keep(
        self, wire: dict[str, Any], outcome: Outcome, whole: active.ServedFile | None = None
    ) -> None:
        """A numbered entry: into the ring and to everyone as served, into the journal
        as it is."""
        served = self.served_entry(wire, whole)
        self.recent.keep(served)
        outcome.entries.append(served)
        outcome.journal.append(OpRecord(wire))

    def conflict_record(self, records: Iterable[ConflictRecord]) -> ConflictsRecord:
        """The journal record that keeps ``records`` (new or changed conflicts, as they
        are now) and the book's counts."""
        return ConflictsRecord(
            [record.to_wire() for record in records],
            self.book.counter,
            self.book.detected,
            self.book.resolved,
        )

    def noted(self, records: Sequence[ConflictRecord]) -> Outcome:
        """Conflicts recorded without an operation of their own (an outside change's):
        journaled and broadcast (``conflict_detected``) like ones that came with one."""
        noted = Outcome(
            "applied",
            Ack(None, None, records[0].status),
            conflicts=list(records),
        )
        noted.journal.append(self.conflict_record(records))
        return noted

    def add_conflict(self, record: ConflictRecord) -> Outcome:
        """Record a new conflict with no operation of its own (a file deleted on disk
        against live edits); one not left open counts as resolved. See :meth:`noted`."""
        self.book.add(record)
        if record.status != "open":
            self.book.resolved += 1
        return self.noted([record])

    def resolve_conflict(
        self, conflict_id: str, resolution: Any, resolved_by: str, *, now: float
    ) -> Outcome:
        """Carry out a user's choice for a recorded conflict (raises NotFound if unknown)."""
        result = resolve(self.files, self.book, conflict_id, resolution, resolved_by, now=now)
        outcome = Outcome("applied", Ack(None, None, "applied"), resolved=result.conflict)
        for applied, inverse in result.applied:
            if applied.file is None:
                applied = applied.model_copy(update={"file": result.conflict.file})
            self._number(applied, inverse, outcome)
        outcome.journal.append(self.conflict_record([result.conflict]))
        outcome.ack = Ack(None, outcome.entries[-1]["seq"] if outcome.entries else None, "applied")
        return outcome

    def apply_external(self, file: str, ops: Iterable[Operation], *, now: float) -> list[Outcome]:
        """Submit edits found in the working tree, as user ``external``, in order.

        They are based on the current ``seq`` (the file on disk already contains every
        operation written so far). Invalid ones raise like :meth:`submit`.
        """
        outcomes = []
        for op in ops:
            op = op.model_copy(update={"file": file, "user_id": op.user_id or EXTERNAL_USER})
            outcomes.append(self.submit(op, base_seq=self.seq, now=now, outside=True))
        return outcomes

    def add_file(
        self,
        file: str,
        data: bytes,
        *,
        user_id: str,
        now: float,
        whole: active.ServedFile | None = None,
    ) -> Outcome:
        """A file joins the document (say, a new file in the working tree): one ``seq``.

        Its entry (``operation_type`` ``file_add``, ``data.markup`` the file's text) is
        journaled, broadcast and caught up like any operation. Raises
        :class:`OperationError` when the file exists or the bytes are not SVG. ``whole``:
        ``data`` parsed and served ahead (:class:`~svgx_sync.core.active.ServedFile`).
        """
        if file in self.files:
            raise OperationError(f"file {file!r} already exists in document {self.name!r}")
        return self._whole_file(file, data, user_id, now, whole)

    def replace_file(
        self,
        file: str,
        data: bytes,
        *,
        user_id: str,
        now: float,
        whole: active.ServedFile | None = None,
    ) -> Outcome:
        """A file is rewritten whole (an outside save of most of it): one ``seq``.

        Its entry is a ``file_add`` of the new text, which clients and a replay of the
        journal take as the file's whole content. Raises :class:`NotFound` for an
        unknown file and :class:`~svgx_sync.errors.DocumentError` when the bytes are not
        SVG. ``whole`` as for :meth:`add_file`.
        """
        if file not in self.files:
            raise NotFound(f"no file {file!r} in document {self.name!r}")
        return self._whole_file(file, data, user_id, now, whole)

    def _whole_file(
        self, file: str, data: bytes, user_id: str, now: float, whole: active.ServedFile | None
    ) -> Outcome:
        """``file`` becomes ``data``: the ``file_add`` entry of its whole text."""
        doc = self.files[file] = whole.doc if whole is not None else SvgDocument(data, name=file)
        if whole is not None:
            self._inert.kept[file] = (doc.render(), whole.text, [f.to_wire() for f in whole.found])
        text = data.decode("utf-8", "surrogateescape")
        return self._file_entry(FILE_ADD, file, user_id, now, {"markup": text}, whole)

    def delete_file(self, file: str, *, user_id: str, now: float) -> Outcome:
        """A file leaves the document: one ``seq`` (``operation_type`` ``file_delete``).
        Raises :class:`NotFound` for an unknown file."""
        if file not in self.files:
            raise NotFound(f"no file {file!r} in document {self.name!r}")
        del self.files[file]
        self.dirty.discard(file)
        return self._file_entry(FILE_DELETE, file, user_id, now, None)

    def _file_entry(
        self,
        kind: str,
        file: str,
        user_id: str,
        now: float,
        data: dict[str, Any] | None,
        whole: active.ServedFile | None = None,
    ) -> Outcome:
        self.seq += 1
        wire: dict[str, Any] = {
            "operation_type": kind,
            "user_id": user_id,
            "op_id": f"auto-{self.seq}",
            "timestamp": now,
            "file": file,
            "seq": self.seq,
        }
        if data is not None:
            wire["data"] = data
        outcome = Outcome("applied", Ack(wire["op_id"], self.seq, "applied"))
        self._keep(wire, outcome, whole)
        self.recent.remember(user_id, wire["op_id"], outcome.ack)
        return outcome

    def set_strategy(self, strategy: Strategy | str) -> StrategyRecord:
        """Change the conflict strategy; returns the journal record that keeps it."""
        self.strategy = Strategy(strategy)
        return StrategyRecord(self.strategy.value)

    def reset(self, files: Mapping[str, bytes], *, reason: str) -> ResetRecord:
        """Replace every file (a revert): one ``seq``; clients must reload."""
        self.seq += 1
        self.replace_files(files)
        self.recent.restart(self.seq)
        texts = {p: d.decode("utf-8", "surrogateescape") for p, d in files.items()}
        return ResetRecord(self.seq, reason, texts)

    def replace_files(self, files: Mapping[str, bytes]) -> None:
        """Every file is replaced (a revert, an aborted merge): nothing earlier conflicts."""
        self.files = {path: SvgDocument(data, name=path) for path, data in sorted(files.items())}
        self.book.history.clear()
        self.dirty.update(self.files)

    # -- reading ---------------------------------------------------------------------

    def since(self, last_seq: int) -> list[dict[str, Any]] | None:
        """The entries after ``last_seq``, or None when they are no longer all kept."""
        return self.recent.since(last_seq, self.seq)

    def texts(self) -> dict[str, str]:
        """Every file's current text."""
        return {path: doc.render() for path, doc in self.files.items()}

    def served_texts(self) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
        """Every file's text as clients are sent it (inert), and per file that holds
        active content what was made inert (:func:`~svgx_sync.core.active.served_text`)."""
        return self._inert.texts(self.files)

    def served_text(self, path: str) -> str:
        """File ``path``'s text as clients are sent it (inert), as :meth:`served_texts`
        gives it, for a client that fetches the file by its address."""
        return self._inert.text(path, self.files[path])[0]

    def served_known(self, texts: Mapping[str, str]) -> dict[str, str]:
        """Of ``texts`` (:meth:`texts`), the files as clients were last sent them, for
        those whose text has not changed since (none is read again)."""
        return self._inert.known(texts)

    def contents(self) -> dict[str, bytes]:
        """Every file's current bytes (without marking them written)."""
        return {path: doc.to_bytes() for path, doc in self.files.items()}

    def take_dirty(self) -> dict[str, bytes]:
        """The files changed since the last call, as minimal-diff renders to write now.

        The caller must write exactly these bytes; they become ``last_written``. Files in
        :attr:`held` stay dirty: git's conflict in them is the user's to settle.
        """
        out: dict[str, bytes] = {}
        waiting = self.held.keys() | self.unread.keys()
        for path in sorted(self.dirty - waiting):
            doc = self.files.get(path)
            if doc is None:
                continue
            data = doc.commit_render()
            if data != self.last_written.get(path):
                out[path] = data
                self.last_written[path] = data
            self.written_seq[path] = self.seq
        self.dirty &= waiting
        return out

    # -- what the working tree holds ---------------------------------------------------
    #
    # ``last_written`` is each file's base: the bytes the working tree is taken to hold,
    # which an outside save is judged from and a write may replace; ``written_seq`` the
    # ``seq`` that base stands at (an outside edit is concurrent with every operation
    # numbered after it); ``dirty`` the files whose live state goes to disk at the next
    # write; ``held`` the files git has a merge conflict in.

    def base_seq(self, file: str) -> int:
        """The ``seq`` the base of ``file`` stands at (the ``base_seq`` of an outside edit)."""
        return self.written_seq.get(file, self.seq)

    def outside_save_taken(self, file: str, data: bytes, *, read_later: bool = False) -> None:
        """The working tree's ``data`` holds exactly the live file's elements (formatting
        only, or a save the live state took whole): they become the file's bytes and
        base, and nothing is written back. A live file that writes exactly ``data``
        keeps its tree and takes its render as the source (nothing is parsed again).

        ``read_later``: a live file that would have to be read again (its render is not
        ``data``, or finding out would map its whole source) keeps its tree for now, and
        ``data`` waits in :attr:`unread` to be read beside the event loop: parsing a
        large drawing there would hold up every other user."""
        doc = self.files.get(file)
        self.unread.pop(file, None)
        self.last_written[file] = data
        self.written_seq[file] = self.seq
        self.dirty.discard(file)
        if doc is not None and read_later:
            # Unedited, the check is a comparison of the source; edited, a render, which
            # needs the source mapped.
            if not ((doc.spans_mapped or not doc.dirty) and doc.adopt_render(data)):
                self.unread[file] = PendingRead(data, doc)
            return
        if doc is None or not doc.adopt_render(data):
            self.files[file] = SvgDocument(data, name=file)

    def read_taken(self, file: str, pending: PendingRead, parsed: SvgDocument) -> bool:
        """``parsed``, the text of ``pending`` read beside the loop, becomes the file's
        tree, with the operations applied since applied to it again (as a journal replay
        does): the file keeps the layout of the program that saved it. Nothing changes
        when the read is no longer wanted (another save, the file replaced) or an
        operation does not apply again: the tree kept holds everything, and is written in
        its own layout. Whether ``parsed`` was taken."""
        if self.unread.get(file) is not pending:
            return False
        del self.unread[file]
        if self.files.get(file) is not pending.doc:
            return False
        try:
            for op in pending.since:
                apply_operation(parsed, op)
        except ClientError:
            return False
        self.files[file] = parsed
        return True

    def outside_save_merged(self, file: str, data: bytes) -> None:
        """An outside save (``data``) was merged beside live edits, or in part: its bytes
        are the base now, and the merged live state is written over them."""
        self.last_written[file] = data
        self.written_seq[file] = self.seq
        self.dirty.add(file)

    def outside_file_added(self, file: str, data: bytes) -> None:
        """A new file of the working tree joined the document (:meth:`add_file`): its
        bytes are its base, and nothing is written back."""
        self.last_written[file] = data
        self.written_seq[file] = self.seq

    def older_copy_seen(self, file: str, data: bytes, *, seq: int | None = None) -> None:
        """The working tree holds an older version of ours (or the file with other
        formatting beside live edits): nothing to merge, but the bytes are seen (a write
        may replace them), standing at ``seq`` (None: as before), and the live state
        goes over them."""
        self.last_written[file] = data
        if seq is not None:
            self.written_seq[file] = seq
        self.dirty.add(file)

    def removed_on_disk(self, file: str, *, keep: bool) -> None:
        """``file`` is gone from the working tree: it has no base any more; a file kept
        live (:func:`~svgx_sync.core.external.file_delete_decision`) is written back."""
        self.last_written.pop(file, None)
        if keep:
            self.dirty.add(file)

    def write_back(self, files: Iterable[str]) -> None:
        """The live state of ``files`` goes to disk at the next write (files that are no
        longer live are left out)."""
        self.dirty.update(f for f in files if f in self.files)

    def recorded_base(self, file: str, data: bytes, seq: int) -> None:
        """The daemon recorded writing ``data`` at ``seq`` before it stopped: that is the
        base a save made meanwhile is judged from (at most the current ``seq``)."""
        self.last_written[file] = data
        self.written_seq[file] = min(seq, self.seq)

    def base_before_git(self, file: str, data: bytes) -> None:
        """git replaced the file's version meanwhile: it is judged from ``data``, the
        version the live work sat on (:func:`~svgx_sync.core.external.base_after_head_move`)."""
        self.last_written[file] = data

    def checkout_seen(self, files: Mapping[str, bytes]) -> None:
        """The working tree holds ``files`` (git checked them out): those bytes are seen,
        and the live state goes over every file that differs."""
        self.last_written.update(files)
        self.dirty.update(p for p, data in self.contents().items() if files.get(p) != data)

    def reverted_on_disk(self, files: Mapping[str, bytes]) -> None:
        """A revert wrote exactly ``files`` to the working tree, now."""
        self.last_written = dict(files)
        self.written_seq.update(dict.fromkeys(files, self.seq))

    def hold(self, file: str, notice: dict[str, Any]) -> bool:
        """git has a merge conflict in ``file``: nothing of it is taken in and nothing is
        written over it until it is settled; ``notice`` is what the clients were told.
        Returns False when it was held already."""
        if file in self.held:
            return False
        self.held[file] = notice
        return True

    def release(self, file: str) -> bool:
        """git's conflict in ``file`` is settled; returns False when it was not held."""
        return self.held.pop(file, None) is not None
