"""Live conflicts: detection against an operation's base, and the five strategies.

Rules kept here (pure: no sockets, no files, no clock — ``now`` comes in):

* Every operation has a base, the last ``seq`` its sender had seen. A conflict is an
  operation from another user, accepted after that base, that touched the same element's
  same attribute (or its text, or its place in the tree), or a delete against an edit
  (also an edit deep inside a deleted group), or a create with an id that is taken.
  Edits to different attributes of one element are not conflicts. A user never
  conflicts with themselves, except the ``external`` user, which stands for many
  programs: an outside change conflicts with the earlier outside changes it had not
  seen (``own_after``), as with another person's.
* An edit of an element deleted after its base, or an insert or move into a group
  deleted after its base, meets that deletion (``delete_edit``): the strategy decides
  whether the element comes back, and ``theirs`` can always bring it back later.
* What an operation touched is read off its inverse (the attributes it restores, the
  element it re-creates or deletes), so every operation type is covered by one rule.
* The session's strategy decides what happens to the later operation:

  ================  ==========================================================
  automatic         applied; the overlap goes to the later operation, the
                    conflict is recorded and either user can override it
  manual            held (ack ``pending``); nothing changes until it is resolved
  last_write_wins   the later ``timestamp`` wins, ties by server order
  merge             both changes kept (style declarations one by one); delete
                    against edit keeps the edited element
  reject            refused; the sender gets the element's current state
  ================  ==========================================================

:func:`arbitrate` is the entry point for an incoming operation; :func:`resolve` carries
out a user's choice for a recorded conflict. A conflict is a
:class:`~svgx_sync.core.conflict_record.ConflictRecord`; its ``to_wire`` form goes to the
clients and into the journal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import NotFound, OperationError, UnknownElement
from .conflict_record import ConflictRecord, ConflictStatus, OpRef, Scalar, Winner
from .merge import fresh_id
from .namespaces import attribute_key
from .ops import Operation, OperationType, apply_operation
from .svgdoc import SvgDocument, format_style, is_element, parse_style

HISTORY_PER_ELEMENT = 64
"""Touches kept per element; a base older than these sees no conflict on that element."""

EXISTS = "#exists"
TEXT = "#text"
TAIL = "#tail"
PLACE = "#place"


class Strategy(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"
    LAST_WRITE_WINS = "last_write_wins"
    MERGE = "merge"
    REJECT = "reject"


@dataclass(slots=True)
class Verdict:
    """What became of one incoming operation.

    ``status`` is ``applied``, ``pending`` or ``rejected``. When applied, ``prelude``
    then ``effective`` are the operations to number and broadcast, in that order
    (``effective`` may differ from what was sent, e.g. with the losing attributes taken
    out, and ``prelude`` re-creates an element the operation needs); ``inverse`` undoes
    ``effective``. ``conflicts`` are new conflict records for everyone in the session.
    """

    status: str
    effective: Operation | None = None
    inverse: list[Operation] = field(default_factory=list)
    conflicts: list[ConflictRecord] = field(default_factory=list)
    reason: str | None = None
    current_state: dict[str, Any] | None = None
    prelude: list[tuple[Operation, list[Operation]]] = field(default_factory=list)
    touched: dict[str, dict[str, Any]] | None = None  # footprint(inverse), when known


@dataclass(slots=True)
class Touch:
    """One accepted operation's footprint on one element."""

    seq: int
    user_id: str
    op_id: str | None
    timestamp: float | None
    before: dict[str, Any]  # key -> value before the operation (or a re-create op)


@dataclass(slots=True)
class Resolution:
    """The operations a resolution applied (to number and broadcast) and the record."""

    applied: list[tuple[Operation, list[Operation]]]
    conflict: ConflictRecord


@dataclass
class ConflictBook:
    """The recent history of each element and the conflicts recorded in one session."""

    history: dict[str, list[Touch]] = field(default_factory=dict)
    conflicts: dict[str, ConflictRecord] = field(default_factory=dict)
    counter: int = 0
    detected: int = 0
    resolved: int = 0

    def record(
        self,
        seq: int,
        op: Operation,
        inverse: list[Operation],
        touched: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """Remember an applied operation (called by the session once it has its seq);
        ``touched`` is ``footprint(inverse)`` when the caller has it already. Each
        element's touches are kept in ``seq`` order: ``seq`` only grows."""
        for element_id, before in (footprint(inverse) if touched is None else touched).items():
            touches = self.history.setdefault(element_id, [])
            touches.append(Touch(seq, op.user_id, op.op_id, op.timestamp, before))
            if len(touches) > HISTORY_PER_ELEMENT:
                del touches[0]

    def open(self) -> list[ConflictRecord]:
        """Conflicts still waiting for someone (manual strategy, or not yet overridden)."""
        return [c for c in self.conflicts.values() if not c.settled]

    def add(self, record: ConflictRecord) -> ConflictRecord:
        """File a new conflict under the next ``conflict_N`` id and return it."""
        self.counter += 1
        self.detected += 1
        record.conflict_id = f"conflict_{self.counter}"
        self.conflicts[record.conflict_id] = record
        return record

    def to_state(self) -> dict[str, Any]:
        """What must survive a restart (the element history is rebuilt by replay)."""
        return {
            "conflicts": {cid: c.to_wire() for cid, c in self.conflicts.items()},
            "counter": self.counter,
            "detected": self.detected,
            "resolved": self.resolved,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ConflictBook:
        conflicts = state.get("conflicts", {})
        return cls(
            conflicts={cid: ConflictRecord.from_state(c) for cid, c in conflicts.items()},
            counter=int(state.get("counter", 0)),
            detected=int(state.get("detected", 0)),
            resolved=int(state.get("resolved", 0)),
        )


def footprint(inverse: list[Operation]) -> dict[str, dict[str, Any]]:
    """Element → {key: value before} for what the operation undone by ``inverse`` did."""
    touched: dict[str, dict[str, Any]] = {}
    for inv in inverse:
        keys = touched.setdefault(inv.element_id, {})
        kind = inv.operation_type
        if kind is OperationType.UPDATE:
            for name, value in inv.data.get("attributes", {}).items():
                keys.setdefault("@" + name, value)
            if "text" in inv.data:
                keys.setdefault(TEXT, inv.data["text"])
            if "tail" in inv.data:
                keys.setdefault(TAIL, inv.data["tail"])
        elif kind is OperationType.DELETE:
            keys.setdefault(EXISTS, None)  # the operation created it
        elif kind is OperationType.CREATE:
            keys.setdefault(EXISTS, inv.model_dump(mode="json"))  # it deleted it
        elif kind is OperationType.MOVE:
            keys.setdefault(PLACE, inv.data)
    return touched


def _describe(key: str) -> tuple[str, str | None]:
    if key.startswith("@"):
        return "attribute", key[1:]
    return {TEXT: ("text", None), TAIL: ("text", "#tail"), PLACE: ("parent", None)}.get(
        key, ("delete_edit", None)
    )


def _value(doc: SvgDocument, element_id: str, key: str) -> Any:
    el = doc.find(element_id)
    if el is None:
        return None
    if key.startswith("@"):
        return el.get(attribute_key(doc, el, key[1:]))
    if key == TEXT:
        return el.text or ""
    if key == TAIL:
        return el.tail or ""
    if key == PLACE:
        parent = el.getparent()
        return None if parent is None else doc.address_of(parent)
    return True


def current_state(doc: SvgDocument, element_id: str) -> dict[str, Any]:
    """The element as it is now, for a sender whose operation was refused."""
    el = doc.find(element_id)
    if el is None:
        return {"element_id": element_id, "exists": False}
    return {"element_id": element_id, "exists": True, "markup": doc.markup_of(el)}


def _later(
    touches: list[Touch], base_seq: int, user_id: str, own_after: int | None = None
) -> list[Touch]:
    """The touches after ``base_seq`` by someone else: another user, or (when
    ``own_after`` is given) the same user at or before ``own_after``, an earlier change
    of another program the sender stands for with it. ``touches`` are in ``seq`` order
    (:meth:`ConflictBook.record`), so only those after ``base_seq`` are read."""
    start = len(touches)
    while start and touches[start - 1].seq > base_seq:
        start -= 1
    return [
        t
        for t in touches[start:]
        if t.user_id != user_id or (own_after is not None and t.seq <= own_after)
    ]


def arbitrate(
    files: Mapping[str, SvgDocument],
    book: ConflictBook,
    op: Operation,
    *,
    file: str,
    base_seq: int,
    strategy: Strategy,
    now: float,
    own_after: int | None = None,
    screen: bool = False,
) -> Verdict:
    """Decide and carry out what happens to ``op`` arriving on top of ``base_seq``.

    ``own_after``: only the sender's operations after this ``seq`` are its own (an
    outside change, whose user stands for every other program); None: all of them.
    ``screen``: ``op`` may not add active content (a live client's operation).
    Raises the operation's own :class:`~svgx_sync.errors.OperationError` when it is
    invalid regardless of any conflict; a conflict is never an exception.
    """
    doc = files[file]
    if op.operation_type is OperationType.CREATE and op.element_id in doc.ids:
        return _taken_id(doc, book, op, file=file, base_seq=base_seq, strategy=strategy)
    doomed = _subtree_ids(doc, op) if op.operation_type is OperationType.DELETE else []
    try:
        inverse = apply_operation(doc, op, screen=screen)
    except UnknownElement:
        deleted = _deleted_since(book, _missing(doc, op), base_seq, op.user_id, own_after)
        if deleted is None:
            raise
        return _edit_after_delete(
            files, book, op, deleted, file=file, strategy=strategy, now=now, screen=screen
        )

    touched = footprint(inverse)
    clashes = _clashes(book, touched, doomed, base_seq, op.user_id, own_after)
    if not clashes:
        return Verdict("applied", op, inverse, touched=touched)
    records = [
        _clash_record(doc, op, clash, touched, file=file, strategy=strategy)
        for clash in _unique(clashes)
    ]
    return _decide(files, book, op, inverse, records, clashes, file=file, strategy=strategy)


def _clashes(
    book: ConflictBook,
    touched: dict[str, dict[str, Any]],
    doomed: list[str],
    base_seq: int,
    user_id: str,
    own_after: int | None,
) -> list[tuple[str, str, Touch]]:
    """Where an operation that ``touched`` these keys (and deleted the ``doomed``
    elements) meets touches made after its base by someone else: (element, key, touch).
    A delete meets every edit of what it deletes, except the create of it."""
    clashes: list[tuple[str, str, Touch]] = []
    for element_id, keys in touched.items():
        for touch in _later(book.history.get(element_id, []), base_seq, user_id, own_after):
            for key in keys:
                if key in touch.before and key != EXISTS:
                    clashes.append((element_id, key, touch))
    for element_id in doomed:
        for touch in _later(book.history.get(element_id, []), base_seq, user_id, own_after):
            if EXISTS not in touch.before or touch.before[EXISTS] is None:
                clashes.append((element_id, EXISTS, touch))
    return clashes


def _clash_record(
    doc: SvgDocument,
    op: Operation,
    clash: tuple[str, str, Touch],
    touched: dict[str, dict[str, Any]],
    *,
    file: str,
    strategy: Strategy,
) -> ConflictRecord:
    """The conflict record of one clash, with its three values: ``base`` before the
    earlier touch, ``ours`` what that touch left (and ``op`` replaced), ``theirs`` now."""
    element_id, key, touch = clash
    kind, attribute = _describe(key)
    record = _record(kind, op, touch, file=file, strategy=strategy, key=key, element_id=element_id)
    record.attribute = attribute
    if key == EXISTS:
        record.kind = "edit_delete"
    else:
        record.base = _jsonable(touch.before.get(key))
        record.ours = _jsonable(touched[element_id].get(key))
        record.theirs = _jsonable(_value(doc, element_id, key))
    return record


def _record(
    kind: str,
    op: Operation,
    earlier: Touch | None,
    *,
    file: str,
    strategy: Strategy,
    key: str,
    element_id: str | None = None,
) -> ConflictRecord:
    """A conflict between ``op`` and the ``earlier`` touch (None for a taken id) on
    ``element_id`` (by default the operation's), ready for :func:`_file` once its
    attribute and values are set."""
    users = [op.user_id] if earlier is None else [earlier.user_id, op.user_id]
    return ConflictRecord(
        kind=kind,
        file=file,
        element_id=op.element_id if element_id is None else element_id,
        key=key,
        users=users,
        strategy=strategy.value,
        earlier=None if earlier is None else OpRef(earlier.op_id, earlier.user_id, earlier.seq),
        later=OpRef(op.op_id, op.user_id),
    )


def _unique(clashes: list[tuple[str, str, Touch]]) -> list[tuple[str, str, Touch]]:
    seen: dict[tuple[str, str], tuple[str, str, Touch]] = {}
    for element_id, key, touch in clashes:
        seen[(element_id, key)] = (element_id, key, touch)  # the latest earlier touch
    return list(seen.values())


def _jsonable(value: Any) -> Scalar:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def _decide(
    files: Mapping[str, SvgDocument],
    book: ConflictBook,
    op: Operation,
    inverse: list[Operation],
    records: list[ConflictRecord],
    clashes: list[tuple[str, str, Touch]],
    *,
    file: str,
    strategy: Strategy,
) -> Verdict:
    """Carry out ``strategy`` for ``op``, applied already (undone by ``inverse``), and
    the conflicts it has with earlier operations (``records``, found at ``clashes``)."""
    doc = files[file]
    if strategy is Strategy.AUTOMATIC:
        return Verdict("applied", op, inverse, _file(book, records, "auto_resolved", op, inverse))
    if strategy is Strategy.MANUAL:
        _undo(doc, inverse)
        held = _file(book, records, "open", op, inverse, held=True)
        return Verdict("pending", conflicts=held, reason="held until the conflict is resolved")
    if strategy is Strategy.REJECT:
        return _refuse(
            doc,
            book,
            op,
            inverse,
            records,
            status="rejected",
            reason="conflicts with a concurrent operation (reject strategy)",
        )
    if strategy is Strategy.LAST_WRITE_WINS:
        losing = {
            (element_id, key)
            for element_id, key, touch in clashes
            if _earlier_wins(touch.timestamp, op.timestamp)
        }
        return _keep_except(files, book, op, inverse, records, losing, file=file)
    return _merge_both(doc, book, op, inverse, records)


def _merge_both(
    doc: SvgDocument,
    book: ConflictBook,
    op: Operation,
    inverse: list[Operation],
    records: list[ConflictRecord],
) -> Verdict:
    """The ``merge`` strategy: deleting an edited element does not happen; the same
    style is merged declaration by declaration; the rest goes to the later operation."""
    if any(r.kind == "edit_delete" for r in records):
        return _refuse(
            doc,
            book,
            op,
            inverse,
            records,
            status="merged",
            reason="merge strategy: the element was edited concurrently and is kept",
        )
    for record in records:
        if record.attribute == "style" and op.operation_type is OperationType.UPDATE:
            merged = merge_style(_text(record.base), _text(record.ours), _text(record.theirs))
            if merged != record.theirs:
                extra = Operation(
                    operation_type=OperationType.UPDATE,
                    user_id=op.user_id,
                    session_id=op.session_id,
                    element_id=record.element_id,
                    data={"attributes": {"style": merged}},
                    file=op.file,
                )
                # The later style is already applied; the merged one goes on top, and
                # both travel as one update.
                inverse = apply_operation(doc, extra) + inverse
                op = _combine(op, extra)
                record.theirs = merged
    return Verdict("applied", op, inverse, _file(book, records, "merged", op, inverse))


def _refuse(
    doc: SvgDocument,
    book: ConflictBook,
    op: Operation,
    inverse: list[Operation],
    records: list[ConflictRecord],
    *,
    status: ConflictStatus,
    reason: str,
) -> Verdict:
    """Undo ``op`` (already applied when ``inverse`` is given), file the conflicts as won
    by the earlier operation, and tell the sender how the element is now."""
    _undo(doc, inverse)
    filed = _file(book, records, status, op, inverse, winner="earlier")
    return Verdict(
        "rejected", conflicts=filed, reason=reason, current_state=current_state(doc, op.element_id)
    )


def _bindings(op: Operation) -> dict[str, Any]:
    """The operation's ``data.namespaces``, for an operation made from its attributes."""
    return {"namespaces": op.data["namespaces"]} if "namespaces" in op.data else {}


def _combine(op: Operation, extra: Operation) -> Operation:
    """``op`` followed by ``extra`` as one broadcast operation when both are updates."""
    if op.operation_type is OperationType.UPDATE and op.element_id == extra.element_id:
        data = dict(op.data)
        attributes = dict(data.get("attributes") or {})
        attributes.update(extra.data["attributes"])
        data["attributes"] = attributes
        if "namespaces" in extra.data:
            data["namespaces"] = {**data.get("namespaces", {}), **extra.data["namespaces"]}
        data.pop("style", None)
        return op.model_copy(update={"data": data})
    return op


def merge_style(base: str | None, ours: str | None, theirs: str | None) -> str | None:
    """Three-way merge of ``style`` declarations; on one property both sides' change,
    the later (``theirs``) wins."""
    b, o, t = (parse_style(v or "") for v in (base, ours, theirs))
    merged = dict(o)
    for prop in list(b) + [p for p in t if p not in b]:
        if t.get(prop) != b.get(prop):
            if prop in t:
                merged[prop] = t[prop]
            else:
                merged.pop(prop, None)
    for prop, value in t.items():
        if prop not in merged and prop not in b:
            merged[prop] = value
    return format_style(merged) or None


def _earlier_wins(earlier: float | None, later: float | None) -> bool:
    """Last write wins by timestamp; missing timestamps and ties go by server order."""
    if earlier is None or later is None:
        return False
    return earlier > later


def _keep_except(
    files: Mapping[str, SvgDocument],
    book: ConflictBook,
    op: Operation,
    inverse: list[Operation],
    records: list[ConflictRecord],
    losing: set[tuple[str, str]],
    *,
    file: str,
) -> Verdict:
    doc = files[file]
    if not losing:
        return Verdict(
            "applied", op, inverse, _file(book, records, "resolved", op, inverse, winner="later")
        )
    touched = footprint(inverse)
    all_keys = {(e, k) for e, keys in touched.items() for k in keys}
    winning = all_keys - losing
    attribute_only = all(k.startswith("@") for _, k in all_keys)
    if not winning or not attribute_only:
        return _refuse(
            doc,
            book,
            op,
            inverse,
            records,
            status="resolved",
            reason="a concurrent operation with a later timestamp won",
        )
    # Keep only the attributes this operation won, as one update per element.
    after = {(e, k): _value(doc, e, k) for e, k in winning}
    _undo(doc, inverse)
    reduced: list[tuple[Operation, list[Operation]]] = []
    by_element: dict[str, dict[str, Any]] = {}
    for (e, k), value in after.items():
        by_element.setdefault(e, {})[k[1:]] = value
    for element_id, attributes in by_element.items():
        update = op.model_copy(
            update={
                "operation_type": OperationType.UPDATE,
                "element_id": element_id,
                "data": {"attributes": attributes, **_bindings(op)},
            }
        )
        reduced.append((update, apply_operation(doc, update)))
    done = _file(book, records, "resolved", op, inverse, winner="earlier")
    first, rest = reduced[-1], reduced[:-1]
    return Verdict("applied", first[0], first[1], done, prelude=rest)


def _file(
    book: ConflictBook,
    records: list[ConflictRecord],
    status: ConflictStatus,
    op: Operation,
    inverse: list[Operation],
    *,
    held: bool = False,
    winner: Winner = "later",
) -> list[ConflictRecord]:
    """File ``records`` in the book as settled by ``status`` for ``winner``, with what
    :func:`resolve` needs to change its mind: the later operation and its inverse (or,
    ``held``, the operation itself)."""
    for record in records:
        record.status, record.winner = status, winner
        record.later_operation = op.model_dump(mode="json")
        if held:
            record.held_operation = op.model_dump(mode="json")
        else:
            record.later_inverse = [i.model_dump(mode="json") for i in inverse]
        book.add(record)
        if status in ("resolved", "rejected", "merged"):
            book.resolved += 1
    return records


def _undo(doc: SvgDocument, inverse: list[Operation]) -> None:
    for inv in inverse:
        apply_operation(doc, inv)


def _subtree_ids(doc: SvgDocument, op: Operation) -> list[str]:
    el = doc.find(op.element_id)
    if el is None:
        return []
    return [n.get("id") for n in el.iter() if is_element(n) and n.get("id")]


def _missing(doc: SvgDocument, op: Operation) -> str:
    """The element ``op`` needs and ``doc`` lacks: the group it goes into (a create, or
    a move of an element that is there), else its own."""
    parent = op.data.get("parent")
    if (
        isinstance(parent, str)
        and doc.find(parent) is None
        and (op.operation_type is OperationType.CREATE or doc.find(op.element_id) is not None)
    ):
        return parent
    return op.element_id


def _deleted_since(
    book: ConflictBook, element_id: str, base_seq: int, user_id: str, own_after: int | None
) -> Touch | None:
    for touch in reversed(_later(book.history.get(element_id, []), base_seq, user_id, own_after)):
        if isinstance(touch.before.get(EXISTS), dict):
            return touch
    return None


def _edit_after_delete(
    files: Mapping[str, SvgDocument],
    book: ConflictBook,
    op: Operation,
    deleted: Touch,
    *,
    file: str,
    strategy: Strategy,
    now: float,
    screen: bool = False,
) -> Verdict:
    """An edit arrives for an element another user deleted after the edit's base (or an
    insert or move into a group deleted so)."""
    doc = files[file]
    recreate = Operation.model_validate(deleted.before[EXISTS])
    fields = _record("delete_edit", op, deleted, file=file, strategy=strategy, key=EXISTS)
    fields.recreate = recreate.model_dump(mode="json")
    if recreate.element_id != op.element_id:
        fields.parent = recreate.element_id  # it goes into a group deleted meanwhile
    edit_wins = strategy in (Strategy.AUTOMATIC, Strategy.MERGE) or (
        strategy is Strategy.LAST_WRITE_WINS and not _earlier_wins(deleted.timestamp, op.timestamp)
    )
    if strategy is Strategy.MANUAL:
        held = _file(book, [fields], "open", op, [], held=True)
        return Verdict("pending", conflicts=held, reason="held until the conflict is resolved")
    if not edit_wins:
        done = _file(book, [fields], "rejected", op, [], winner="earlier")
        return Verdict(
            "rejected",
            conflicts=done,
            reason="the element was deleted by a concurrent operation",
            current_state=current_state(doc, op.element_id),
        )
    restore = recreate.model_copy(update={"user_id": op.user_id, "session_id": op.session_id})
    restore_inverse = apply_operation(doc, restore)
    try:
        inverse = apply_operation(doc, op, screen=screen)
    except OperationError:
        _undo(doc, restore_inverse)
        raise
    status: ConflictStatus = "auto_resolved" if strategy is Strategy.AUTOMATIC else "merged"
    done = _file(book, [fields], status, op, inverse + restore_inverse)  # undone in order
    return Verdict("applied", op, inverse, done, prelude=[(restore, restore_inverse)])


def refused(
    book: ConflictBook, op: Operation, error: Exception, *, file: str, strategy: Strategy
) -> ConflictRecord | None:
    """Record an operation that had nobody to tell it was refused (an outside change the
    live state cannot take: its element is gone with no deletion in reach, or its content
    is not accepted) as a ``refused`` conflict won by the live state; ``theirs`` tries it
    again. A delete of an element that is gone already is no conflict: None."""
    if op.operation_type is OperationType.DELETE and isinstance(error, UnknownElement):
        return None
    fields = _record("refused", op, None, file=file, strategy=strategy, key="#refused")
    fields.reason = str(error)
    (record,) = _file(book, [fields], "rejected", op, [], winner="earlier")
    return record


STALE_SAVE = "stale_save"
"""Kind of the conflicts recorded by :func:`unread`."""


def unread(
    doc: SvgDocument,
    book: ConflictBook,
    op: Operation,
    *,
    file: str,
    strategy: Strategy,
    base_seq: int,
    own_after: int | None = None,
) -> list[ConflictRecord]:
    """Record one change of an outside save that the live state does not take because
    the save was read as made from an older version (a stale copy): ``op`` is what the
    other reading, an up-to-date copy, would apply (see
    :func:`svgx_sync.core.external.unread_changes`).

    One ``stale_save`` record per attribute, text or place it sets, or one for the
    element it creates or deletes, won by the live state (``winner`` ``earlier``;
    ``open`` under ``manual``, ``rejected`` under ``reject``, else ``auto_resolved``),
    naming the live edit since ``base_seq`` it would undo; ``theirs`` applies ``op``.
    """
    history = _later(book.history.get(op.element_id, []), base_seq, op.user_id, own_after)
    records = []
    for key, value in _sets(op).items():
        earlier = next(
            (t for t in reversed(history) if key in t.before or EXISTS in t.before), None
        )
        record = _record(STALE_SAVE, op, earlier, file=file, strategy=strategy, key=key)
        record.attribute = _describe(key)[1]
        record.reason = (
            "the save matches an older version best, so it was read as a stale copy "
            "without this change; theirs applies it"
        )
        if key != EXISTS:
            record.base = _jsonable(earlier.before.get(key)) if earlier is not None else None
            record.ours = _jsonable(_value(doc, op.element_id, key))
            record.theirs = _jsonable(value)
        records.append(record)
    status = _UNREAD_STATUS.get(strategy, "auto_resolved")
    return _file(book, records, status, op, [], winner="earlier")


_UNREAD_STATUS: dict[Strategy, ConflictStatus] = {
    Strategy.MANUAL: "open",
    Strategy.REJECT: "rejected",
}
"""How a change left unread is filed, by strategy (else ``auto_resolved``)."""


def _sets(op: Operation) -> dict[str, Any]:
    """Key → value for what ``op`` would set: attributes, text and tail of an update,
    the parent of a move, or the element itself (created or deleted)."""
    if op.operation_type is OperationType.MOVE:
        return {PLACE: op.data.get("parent")}
    if op.operation_type is not OperationType.UPDATE:
        return {EXISTS: None}
    sets = {"@" + name: value for name, value in op.data.get("attributes", {}).items()}
    if "text" in op.data:
        sets[TEXT] = op.data["text"]
    if "tail" in op.data:
        sets[TAIL] = op.data["tail"]
    return sets


def _taken_id(
    doc: SvgDocument,
    book: ConflictBook,
    op: Operation,
    *,
    file: str,
    base_seq: int,
    strategy: Strategy,
) -> Verdict:
    """A create whose id is taken: renumber it (automatic, merge), hold it, or refuse."""
    fresh = fresh_id(op.element_id, doc.ids)
    fields = _record("duplicate_id", op, None, file=file, strategy=strategy, key="@id")
    fields.attribute, fields.ours, fields.theirs = "id", op.element_id, fresh
    if strategy in (Strategy.AUTOMATIC, Strategy.MERGE, Strategy.LAST_WRITE_WINS):
        renamed = op.model_copy(update={"element_id": fresh})
        inverse = apply_operation(doc, renamed)
        done = _file(book, [fields], "resolved", renamed, inverse)
        return Verdict("applied", renamed, inverse, done)
    if strategy is Strategy.MANUAL:
        held = _file(book, [fields], "open", op, [], held=True)
        return Verdict("pending", conflicts=held, reason="id taken; held until resolved")
    done = _file(book, [fields], "rejected", op, [])
    return Verdict(
        "rejected",
        conflicts=done,
        reason=f"an element with id {op.element_id!r} already exists",
        current_state=current_state(doc, op.element_id),
    )


RESOLUTIONS = ("ours", "theirs", "base", "accept", "discard") + tuple(s.value for s in Strategy)


def resolve(
    files: Mapping[str, SvgDocument],
    book: ConflictBook,
    conflict_id: str,
    resolution: Any,
    resolved_by: str,
    *,
    now: float,
) -> Resolution:
    """Carry out a choice for a recorded conflict.

    ``resolution`` is ``ours`` (the earlier operation's result), ``theirs`` (the later
    operation's), ``base`` (neither), a strategy name (applied to this conflict alone),
    or ``{"value": ...}`` for an attribute. For a held operation ``theirs``/``accept``
    applies it and ``ours``/``discard``/``reject`` drops it. A value, and a held
    operation, are screened like a live client's operation: they may not add active
    content.
    """
    record = _resolvable(book, conflict_id, resolution)
    doc = files[record.file]
    choice = _normalise(record, resolution)
    run = _AllOrNothing(doc)
    if record.held_operation is not None and record.status == "open":
        held = Operation.model_validate(record.held_operation)
        _settle_held(doc, record, held, choice, resolved_by, run)
    else:
        _override(doc, record, choice, resolved_by, run)
    book.resolved += 1
    record.status = "resolved"
    record.resolution, record.resolved_by, record.resolved_at = resolution, resolved_by, now
    return Resolution(run.applied, record)


def _resolvable(book: ConflictBook, conflict_id: str, resolution: Any) -> ConflictRecord:
    """The conflict a resolution is for, when it can take one (else the client's error)."""
    record = book.conflicts.get(conflict_id)
    if record is None:
        raise NotFound(f"no conflict {conflict_id!r}")
    if record.status not in ("open", "auto_resolved", "merged", "resolved", "rejected"):
        raise OperationError(f"conflict {conflict_id!r} is already {record.status}")
    if isinstance(resolution, str) and resolution not in RESOLUTIONS:
        raise OperationError(
            f"unknown resolution {resolution!r}; use one of {', '.join(RESOLUTIONS)} "
            'or {"value": ...}'
        )
    return record


class _AllOrNothing:
    """Applies a resolution's operations in turn; when one fails, what the resolution
    applied before (say, a re-created element) is taken out again and the error raised."""

    def __init__(self, doc: SvgDocument) -> None:
        self.doc = doc
        self.applied: list[tuple[Operation, list[Operation]]] = []

    def __call__(self, op: Operation, screen: bool = False) -> None:
        try:
            self.applied.append((op, apply_operation(self.doc, op, screen=screen)))
        except OperationError:
            for _, inverse in reversed(self.applied):
                _undo(self.doc, inverse)
            raise


def _settle_held(
    doc: SvgDocument,
    record: ConflictRecord,
    held: Operation,
    choice: Any,
    resolved_by: str,
    run: _AllOrNothing,
) -> None:
    """The ``held`` operation (never applied, so never screened) is applied, applied with
    another value, or dropped."""
    if choice == "theirs":
        _run_later(doc, record, held, run, screen=True)
    elif isinstance(choice, dict):
        run(_set_value(held, record, choice["value"], resolved_by), screen=True)


def _override(
    doc: SvgDocument, record: ConflictRecord, choice: Any, resolved_by: str, run: _AllOrNothing
) -> None:
    """Change what the strategy decided: nothing when the chosen side won already; a
    structural conflict is undone or redone; an attribute or text gets the chosen value."""
    later_applied = record.winner == "later" and record.status != "rejected"
    if choice == "keep" or (choice in ("ours", "theirs") and (choice == "theirs") == later_applied):
        return
    if not record.key.startswith("@") and record.key != TEXT:  # structural
        if choice == "ours":
            for inv in record.later_inverse or []:
                run(Operation.model_validate(inv).model_copy(update={"user_id": resolved_by}))
        elif choice == "theirs":
            later = Operation.model_validate(record.later_operation)
            _run_later(doc, record, later, run)
        else:
            raise OperationError("this conflict is resolved with ours or theirs")
        return
    value = choice["value"] if isinstance(choice, dict) else _side(record, choice)
    base = Operation(
        operation_type=OperationType.UPDATE, user_id=resolved_by, element_id=record.element_id
    )
    run(_set_value(base, record, value, resolved_by), screen=isinstance(choice, dict))


def _run_later(
    doc: SvgDocument,
    record: ConflictRecord,
    later: Operation,
    run: Callable[[Operation, bool], None],
    *,
    screen: bool = False,
) -> None:
    """Apply the later operation after all (re-creating what it needs); ``screen`` it
    (not what is re-created) when it was never screened."""
    later = later.model_copy(update={"base_seq": None})
    if record.recreate is not None:
        recreate = Operation.model_validate(record.recreate)
        if doc.find(recreate.element_id) is None:
            run(recreate, False)
    if record.kind == "duplicate_id" and later.element_id in doc.ids:
        later = later.model_copy(update={"element_id": fresh_id(later.element_id, doc.ids)})
    run(later, screen)


def _normalise(record: ConflictRecord, resolution: Any) -> Any:
    if isinstance(resolution, dict):
        if "value" not in resolution:
            raise OperationError('a value resolution looks like {"value": ...}')
        return resolution
    if resolution in ("theirs", "accept", "automatic", "merge"):
        return "theirs"
    if resolution in ("ours", "discard", "reject"):
        return "ours"
    if resolution == "last_write_wins":
        return "theirs" if record.winner == "later" else "ours"
    if resolution == "manual":
        return "keep"
    return resolution  # "base"


def _side(record: ConflictRecord, side: str) -> Scalar:
    """The ``ours``, ``theirs`` or ``base`` value of an attribute or text conflict."""
    return {"ours": record.ours, "theirs": record.theirs, "base": record.base}[side]


def _set_value(op: Operation, record: ConflictRecord, value: Any, user_id: str) -> Operation:
    key = record.key
    data: dict[str, Any]
    if key.startswith("@"):
        data = {"attributes": {key[1:]: value}}
    elif key == TEXT:
        data = {"text": value or ""}
    else:
        raise OperationError("only attribute and text conflicts take a value")
    return Operation(
        operation_type=OperationType.UPDATE,
        user_id=user_id,
        session_id=op.session_id,
        element_id=record.element_id,
        data=data,
        file=op.file,
    )


def _text(value: Scalar) -> str | None:
    """A style value as text (it was recorded from an attribute, so it is one)."""
    return None if value is None else str(value)
