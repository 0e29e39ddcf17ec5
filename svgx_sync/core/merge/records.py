"""The values a merge works with and gives: the three versions, conflicts and the result.

Conflicts are data, never exceptions; flags (a reference or a constraint left pointing
at an element the other side deleted) are conflicts with ``blocking=False``.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Generic, NamedTuple, TypeVar

from ..namespaces import SVGX_NS

__all__ = [
    "CONFLICTS_ID",
    "CONFLICT_TAG",
    "CONSTRAINT_TAG",
    "FLAGS",
    "Conflict",
    "ConflictKind",
    "MergeResult",
    "Versions",
    "fresh_id",
]

T = TypeVar("T")

CONFLICTS_ID = "svgx-conflicts"
"""Id of the ``<metadata>`` element that holds conflict marks in a merged file."""

CONFLICT_TAG = f"{{{SVGX_NS}}}conflict"
CONSTRAINT_TAG = f"{{{SVGX_NS}}}constraint"


class Versions(NamedTuple, Generic[T]):
    """The three versions of one thing, always in this order."""

    base: T
    ours: T
    theirs: T


class ConflictKind(StrEnum):
    ATTRIBUTE = "attribute"
    """Both sides set one attribute (or one ``style`` declaration) to different values."""
    TEXT = "text"
    """Both sides changed an element's text (or the text after it) differently."""
    DELETE_EDIT = "delete_edit"
    """Ours deleted an element that theirs edited (or edited inside)."""
    EDIT_DELETE = "edit_delete"
    """Ours edited an element (or inside it) that theirs deleted."""
    REORDER = "reorder"
    """Both sides reordered the same children differently."""
    PARENT = "parent"
    """Both sides moved one element under different parents."""
    MOVE_INTO_DELETED = "move_into_deleted"
    """One side moved an element into a group the other side deleted."""
    CYCLE = "cycle"
    """Theirs' move would put an element inside itself, given ours' moves."""
    DUPLICATE_ID = "duplicate_id"
    """Both sides created different elements with one id; theirs was renamed."""
    FILE_DELETE_MODIFY = "file_delete_modify"
    """One side deleted the file, the other changed it."""
    ADD_ADD = "add_add"
    """Both sides created the file with different content."""
    DANGLING_REFERENCE = "dangling_reference"
    """Flag: a reference (``href``, ``url(#id)``) to an element that is gone."""
    DANGLING_CONSTRAINT = "dangling_constraint"
    """Flag: a constraint whose element is gone."""


FLAGS = frozenset({ConflictKind.DANGLING_REFERENCE, ConflictKind.DANGLING_CONSTRAINT})


@dataclass(frozen=True, slots=True)
class Conflict:
    """One conflict (or, with ``blocking=False``, one flag) of a merge.

    ``element_id`` is the element's id, or its ``/i/j`` position in the merged document
    (in theirs when the merge does not have it). ``attribute`` names the attribute
    (``style:fill`` for one style declaration, ``tail`` for the text after the element)
    or is None. ``base``/``ours``/``theirs`` are the values (attribute values, text,
    element markup, parent addresses or child orders, by kind); None means absent.
    ``parent`` says where a deleted element would go back (for ``delete_edit``).
    """

    kind: ConflictKind
    file: str
    element_id: str
    attribute: str | None = None
    base: str | None = None
    ours: str | None = None
    theirs: str | None = None
    blocking: bool = True
    parent: str | None = None
    detail: str = ""
    mark_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: every field, ``kind`` as its string."""
        out = asdict(self)
        out["kind"] = str(self.kind)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conflict:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["kind"] = ConflictKind(fields["kind"])
        return cls(**fields)


@dataclass(slots=True)
class MergeResult:
    """The merged file (None when it is deleted), its conflicts and notes for people."""

    merged: bytes | None
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    touched: list[str] | None = field(default=None, compare=False)
    """When known: the units of ``merged`` (its text cut at each ``<``) that may differ
    from ours', each whole; all the rest of it is ours' text. None: not known."""

    @property
    def blocking(self) -> list[Conflict]:
        return [c for c in self.conflicts if c.blocking]

    @property
    def clean(self) -> bool:
        return not self.blocking


def fresh_id(ident: str, taken: Container[str | None], *, first: int = 2) -> str:
    """``ident-N`` for the first ``N`` from ``first`` that is not ``taken``."""
    n = first
    while f"{ident}-{n}" in taken:
        n += 1
    return f"{ident}-{n}"
