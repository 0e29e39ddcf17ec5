"""Operations: what an editor asks for, and how it changes an SVG document.

Guarantees:

* :class:`Operation` is the seed's operation message (``operation_type``, ``user_id``,
  ``session_id``, ``element_id``, ``data``) plus ``op_id``, ``base_seq``, ``timestamp``
  and ``file``. :func:`coerce_operation` also takes the seed's Python form, which names
  the operation type in ``type``.
* :func:`apply_operation` is all-or-nothing: it validates, edits the document through
  :class:`~svgx_sync.core.svgdoc.SvgDocument`'s mutation methods, and returns the inverse
  (a list of operations that undo it). On any error the document is left as it was and
  an :class:`OperationError` says why.
* Screened (``screen=True``, what a live client sends), an operation may not put active
  content (:mod:`svgx_sync.core.active`) in the document: no element may gain a finding
  it did not have, and nothing may be added or changed inside an active element. It may
  remove active content, and change what else an element that holds some has. A
  refusal is an :class:`~svgx_sync.errors.ActiveContent` error.
* An operation may not build what a file may not hold when it is loaded: a document
  larger than :data:`~svgx_sync.core.svgdoc.MAX_BYTES`, elements nested deeper than
  :data:`~svgx_sync.core.svgdoc.MAX_DEPTH` or a value longer than
  :data:`~svgx_sync.core.svgdoc.MAX_VALUE`; it is refused with
  :class:`~svgx_sync.errors.LimitExceeded` instead. Checked per edit against the running
  size the document keeps, never by writing the whole file.
* No number is written that is not finite: a move or resize whose result overflows, or
  a number attribute given as ``inf`` or ``nan``, is refused.
* ``select`` and ``deselect`` never change the document (they are presence).
* Constraints and assemblies live in the file, in our namespace, inside a ``<metadata
  id="svgx-model">`` element: browsers ignore them and other editors keep them.

The meaning of ``position`` and ``size`` per element kind is the table
:data:`GEOMETRY` (also in ``docs/operations.md``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import (
    ActiveContent,
    DocumentError,
    LimitExceeded,
    OperationError,
    UnknownElement,
    validation_problems,
)
from . import active
from .namespaces import SVGX_NS, XML_NS, attribute_key, attribute_name, namespaces_of
from .svgdoc import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_VALUE,
    SvgDocument,
    escape_attr,
    escape_text,
    format_style,
    height,
    is_blank,
    is_element,
    parse_style,
)
from .xmltext import ID_RE

EXTERNAL_USER = "external"
"""``user_id`` of the operations that bring other programs' edits into a session."""

MODEL_ID = "svgx-model"
"""Id of the ``<metadata>`` element that holds constraints and assemblies."""


class OperationType(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    MOVE = "move"
    RESIZE = "resize"
    SELECT = "select"
    DESELECT = "deselect"
    CONSTRAINT_ADD = "constraint_add"
    CONSTRAINT_REMOVE = "constraint_remove"
    ASSEMBLY_UPDATE = "assembly_update"


PRESENCE_ONLY = frozenset({OperationType.SELECT, OperationType.DESELECT})


class Operation(BaseModel):
    """One editing operation, as the seed's wire message carries it."""

    model_config = ConfigDict(extra="forbid")

    operation_type: OperationType
    user_id: str = Field(min_length=1, max_length=256)
    session_id: str | None = Field(default=None, max_length=256)
    element_id: str = Field(min_length=1, max_length=1024)
    data: dict[str, Any] = Field(default_factory=dict)
    op_id: str | None = Field(default=None, min_length=1, max_length=256)
    base_seq: int | None = Field(default=None, ge=0)
    timestamp: float | None = None
    file: str | None = Field(default=None, max_length=1024)


def coerce_operation(raw: Mapping[str, Any]) -> Operation:
    """Validate an operation from the wire or from the seed's Python dicts.

    The wire message says ``"type": "operation"``; the seed's Python examples put the
    operation type itself in ``type``. Both are accepted.
    """
    fields = dict(raw)
    kind = fields.pop("type", None)
    if kind is not None and kind != "operation":
        fields.setdefault("operation_type", kind)
    try:
        return Operation.model_validate(fields)
    except ValidationError as exc:
        problems = validation_problems(exc, whole="operation")
        raise OperationError(f"invalid operation: {problems}") from None


def trusted_operation(
    operation_type: OperationType,
    user_id: str,
    element_id: str,
    *,
    session_id: str | None = None,
    data: dict[str, Any] | None = None,
    file: str | None = None,
) -> Operation:
    """An :class:`Operation` of values already known valid (taken from an operation
    that was validated, or built here: an edit's inverse), made without pydantic's
    per-field work."""
    return built(
        Operation,
        {
            "operation_type": operation_type,
            "user_id": user_id,
            "session_id": session_id,
            "element_id": element_id,
            "data": {} if data is None else data,
            "op_id": None,
            "base_seq": None,
            "timestamp": None,
            "file": file,
        },
    )


def replaced(op: Operation, **changes: Any) -> Operation:
    """``op`` with ``changes`` (valid values), as ``op.model_copy(update=changes)`` makes
    it, without its per-field work."""
    return built(Operation, {**op.__dict__, **changes})


_M = TypeVar("_M", bound=BaseModel)


def built(model: type[_M], fields: dict[str, Any]) -> _M:
    """An instance of ``model`` holding ``fields`` (every one of its fields, in its
    order, already valid), as ``model_construct`` makes it, without its per-field work."""
    out = model.__new__(model)
    object.__setattr__(out, "__dict__", fields)
    object.__setattr__(out, "__pydantic_fields_set__", set(fields))
    object.__setattr__(out, "__pydantic_extra__", None)
    object.__setattr__(out, "__pydantic_private__", None)
    return out


# -- element kinds -----------------------------------------------------------------------

SHAPES = {
    "rectangle": "rect",
    "circle": "circle",
    "ellipse": "ellipse",
    "line": "line",
    "polyline": "polyline",
    "polygon": "polygon",
    "path": "path",
    "text": "text",
    "group": "g",
    "image": "image",
    "use": "use",
}
"""The seed's shape names and the SVG elements they make."""

SVG_TAGS = frozenset(
    [
        "a",
        "circle",
        "clipPath",
        "defs",
        "desc",
        "ellipse",
        "feBlend",
        "feColorMatrix",
        "feComposite",
        "feFlood",
        "feGaussianBlur",
        "feMerge",
        "feMergeNode",
        "feOffset",
        "filter",
        "g",
        "image",
        "line",
        "linearGradient",
        "marker",
        "mask",
        "metadata",
        "path",
        "pattern",
        "polygon",
        "polyline",
        "radialGradient",
        "rect",
        "stop",
        "style",
        "svg",
        "switch",
        "symbol",
        "text",
        "textPath",
        "title",
        "tspan",
        "use",
        "view",
    ]
)
"""SVG element names an operation may create (no ``script``, no ``foreignObject``)."""

GEOMETRY: dict[str, tuple[str, str]] = {
    # tag: (what position sets, what size sets)
    "rect": ("x, y", "width, height"),
    "image": ("x, y", "width, height"),
    "use": ("x, y", "width, height"),
    "svg": ("x, y", "width, height"),
    "pattern": ("x, y", "width, height"),
    "mask": ("x, y", "width, height"),
    "filter": ("x, y", "width, height"),
    "text": ("x, y", "font-size = height"),
    "tspan": ("x, y", "font-size = height"),
    "circle": ("cx, cy", "r = min(width, height) / 2, or radius"),
    "ellipse": ("cx, cy", "rx = width / 2, ry = height / 2"),
    "line": ("x1, y1 (x2, y2 follow)", "x2 = x1 + width, y2 = y1 + height"),
    "polyline": ("points translated (bounding box corner)", "points scaled to the box"),
    "polygon": ("points translated (bounding box corner)", "points scaled to the box"),
}
"""``position`` and ``size`` per element kind; anything else moves by ``transform``."""

_XY_TAGS = {t for t, (pos, _) in GEOMETRY.items() if pos == "x, y"}
_WH_TAGS = {t for t, (_, size) in GEOMETRY.items() if size == "width, height"}
_TRANSLATE = re.compile(
    r"^\s*translate\(\s*([-+0-9.eE]+)(?:[\s,]+([-+0-9.eE]+))?\s*\)\s*", re.ASCII
)

DATA_KEYS: dict[OperationType, frozenset[str]] = {
    OperationType.CREATE: frozenset(
        {
            "type",
            "markup",
            "position",
            "size",
            "attributes",
            "namespaces",
            "style",
            "text",
            "parent",
            "index",
        }
    ),
    OperationType.UPDATE: frozenset(
        {"position", "size", "attributes", "namespaces", "style", "text", "tail", "parent", "index"}
    ),
    OperationType.DELETE: frozenset(),
    OperationType.MOVE: frozenset({"position", "dx", "dy", "parent", "index"}),
    OperationType.RESIZE: frozenset({"size", "width", "height", "radius"}),
    OperationType.SELECT: frozenset({"selected_elements"}),
    OperationType.DESELECT: frozenset({"selected_elements"}),
    OperationType.CONSTRAINT_ADD: frozenset(
        {"constraint_type", "value", "constraint_id", "targets", "unit", "properties"}
    ),
    OperationType.CONSTRAINT_REMOVE: frozenset({"constraint_id", "constraint_type"}),
    OperationType.ASSEMBLY_UPDATE: frozenset({"name", "members", "properties", "remove"}),
}


def _svg(tag: str, doc: SvgDocument) -> str:
    ns = doc.root.nsmap.get(None) if str(doc.root.tag).startswith("{") else None
    return f"{{{ns}}}{tag}" if ns else tag


def _local(el: Any) -> str:
    tag = el.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def fmt(value: float) -> str:
    """A number as SVG wants it: ``100`` not ``100.0``, no exponent noise.

    Refuses a number that is not finite (a move or a resize that overflowed): SVG has no
    ``inf``, and a viewer would drop the attribute."""
    if not math.isfinite(value):
        raise OperationError(f"the result is not a finite number ({value}); nothing was applied")
    if float(value).is_integer():
        return str(int(value))
    return repr(round(float(value), 6))


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OperationError(f"{what} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise OperationError(f"{what} must be finite")
    return float(value)


def _attr_number(el: Any, name: str) -> float:
    raw = el.get(name, "0").strip()
    try:
        return float(re.sub(r"(px)$", "", raw) or 0)
    except ValueError:
        raise OperationError(
            f"{name}={raw!r} on element {el.get('id')!r} is not a plain number"
        ) from None


def _points(el: Any) -> list[tuple[float, float]]:
    numbers = re.split(r"[\s,]+", (el.get("points") or "").strip())
    try:
        values = [float(n) for n in numbers if n]
    except ValueError:
        raise OperationError("the element's points are not numbers") from None
    return list(zip(values[0::2], values[1::2], strict=False))


def _format_points(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{fmt(x)},{fmt(y)}" for x, y in points)


def _pair(value: Any, a: str, b: str, what: str) -> tuple[float, float]:
    if not isinstance(value, Mapping):
        raise OperationError(f"{what} must be an object with {a} and {b}")
    unknown = set(value) - {a, b}
    if unknown:
        raise OperationError(f"{what} has unknown keys {sorted(unknown)}")
    if a not in value or b not in value:
        raise OperationError(f"{what} needs both {a} and {b}")
    return _number(value[a], f"{what}.{a}"), _number(value[b], f"{what}.{b}")


_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""A character XML 1.0 may not hold (NUL and the other controls, surrogates, U+FFFE/F)."""


def _xml_text(value: str, what: str) -> str:
    """``value``, refused if a file could not hold it (lxml would refuse it mid-edit)."""
    bad = _XML_ILLEGAL.search(value)
    if bad:
        raise OperationError(
            f"{what} holds the character U+{ord(bad.group()):04X}, which XML does not allow"
        )
    return value


def _scalar(value: Any, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return fmt(_number(value, what))
    if isinstance(value, str):
        return _xml_text(value, what)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return " ".join(_scalar(v, what) for v in value)
    raise OperationError(f"{what} must be a string, a number or a list of them")


_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][\w.\-]*(:[A-Za-z_][\w.\-]*)?$")


def _check_attribute(name: str, value: str | None) -> None:
    if not _ATTRIBUTE_NAME.match(name):
        raise OperationError(f"invalid attribute name {name!r}")
    if name == "id" and value == "":
        raise OperationError("an id must not be empty; leave it out, or set it to null")
    if value is not None and name in NUMBER_ATTRIBUTES:
        for token in re.split(r"[\s,]+", value.strip()):
            if not _finite_text(token):
                raise OperationError(f"{name}={value!r} is not a finite number")


NUMBER_ATTRIBUTES = frozenset(
    ["x", "y", "width", "height", "cx", "cy", "r", "rx", "ry", "x1", "y1", "x2", "y2"]
    + ["font-size", "points"]
)
"""Attributes that ``position`` and ``size`` read and write as numbers."""


def _finite_text(token: str) -> bool:
    """False for the spellings of a number that is not finite (``inf``, ``NaN``, ``1e999``)."""
    try:
        return math.isfinite(float(token.removesuffix("px")))
    except ValueError:
        return True  # not a number at all: a unit or a percentage, left to the viewer


def _check_depth(doc: SvgDocument, parent: Any, el: Any) -> None:
    """Refuse to put ``el`` under ``parent`` if that nests elements deeper than a file may."""
    depth = doc.depth_of(parent) + height(el)
    if depth > MAX_DEPTH:
        raise LimitExceeded(
            f"elements would be nested {depth} deep; a file may nest them at most "
            f"{MAX_DEPTH} deep (max_depth); nothing was applied"
        )


def _check_value(value: str | None, what: str, escape: Callable[[str], str]) -> None:
    """Refuse a value longer than a file may hold (as written, in UTF-8 at most 4 bytes a
    character, and escaped at most 6 characters a character)."""
    if value is None or len(value) * 24 <= MAX_VALUE:
        return
    size = len(escape(value).encode())
    if size > MAX_VALUE:
        raise LimitExceeded(
            f"{what} would be {size} bytes long; a file may hold at most {MAX_VALUE} "
            "bytes in one value (max_value); nothing was applied"
        )


# -- the undo log ------------------------------------------------------------------------


class _Edit:
    """Carries out primitive edits, remembering how to undo them and their inverse.

    Screening, it refuses each edit that would add active content before making it."""

    def __init__(self, doc: SvgDocument, op: Operation, *, screen: bool = False) -> None:
        self.doc = doc
        self.op = op
        self.undo: list[Callable[[], object]] = []
        self.inverse: list[Operation] = []
        self.screen = screen

    def _refuse_inside(self, node: Any) -> None:
        holder = None if node is None else active.enclosing_active(node)
        if holder is not None:
            finding = active.findings_of(holder)[0]
            raise ActiveContent(
                f"active content is refused: {finding.describe()}; "
                "nothing may be added or changed inside it",
                [finding.to_wire()],
            )

    @staticmethod
    def _refuse(found: Iterable[active.Finding], before: Iterable[active.Finding] = ()) -> None:
        seen = {(f.kind, f.attribute, f.value) for f in before}
        new = [f for f in found if (f.kind, f.attribute, f.value) not in seen]
        if new:
            raise ActiveContent(
                "active content is refused: " + "; ".join(f.describe() for f in new[:5]),
                [f.to_wire() for f in new],
            )

    def check_new(self, el: Any) -> None:
        """Refuse an element about to be added (with what it holds) if it is active."""
        if self.screen:
            self._refuse(active.tree_findings(el))

    def _check_attribute(self, el: Any, key: str, value: str | None) -> None:
        if not self.screen or value is None:
            return  # removing an attribute adds nothing
        self._refuse_inside(el.getparent())
        if isinstance(el.tag, str) and active.adds_nothing(el.tag, key, value):
            return  # what the element held stays; the new value holds nothing
        attributes = {**el.attrib, key: value}
        text = "".join(el.itertext()) if _local(el).lower() == "style" else None
        self._refuse(active.element_findings(el.tag, attributes, text=text), active.findings_of(el))

    def _check_text(self, el: Any, text: str | None) -> None:
        if not self.screen or not text:
            return
        self._refuse_inside(el)
        if _local(el).lower() == "style":
            rest = "".join(el.itertext())[len(el.text or "") :]
            found = active.element_findings(el.tag, el.attrib, text=text + rest)
            self._refuse(found, active.findings_of(el))

    def _inverse(self, kind: OperationType, el_address: str, data: dict[str, Any]) -> None:
        self.inverse.append(
            trusted_operation(
                operation_type=kind,
                user_id=self.op.user_id,
                session_id=self.op.session_id,
                element_id=el_address,
                data=data,
                file=self.op.file,
            )
        )

    def set_attribute(
        self, el: Any, key: str, value: str | None, *, prefix: str | None = None
    ) -> None:
        old = el.get(key)
        if old == value:
            return
        _check_value(value, f"attribute {key}", escape_attr)
        self._check_attribute(el, key, value)
        address_before = self.doc.address_of(el)
        self.doc.set_attribute(el, key, value, prefix=prefix)
        self.undo.append(lambda: self.doc.set_attribute(el, key, old))
        address = self.doc.address_of(el) if key == "id" else address_before
        data: dict[str, Any] = {"attributes": {attribute_name(self.doc, el, key): old}}
        data.update(namespaces_of(self.doc, el, [key]))
        self._inverse(OperationType.UPDATE, address, data)

    def set_text(self, el: Any, text: str | None) -> None:
        old = el.text
        if (old or "") == (text or ""):
            return
        _check_value(text, "the text", escape_text)
        self._check_text(el, text)
        self.doc.set_text(el, text)
        self.undo.append(lambda: self.doc.set_text(el, old))
        self._inverse(OperationType.UPDATE, self.doc.address_of(el), {"text": old or ""})

    def set_tail(self, el: Any, tail: str | None) -> None:
        old = el.tail
        _check_value(tail, "the text", escape_text)
        if self.screen and tail:
            self._refuse_inside(el.getparent())
        self.doc.set_tail(el, tail)
        self.undo.append(lambda: self.doc.set_tail(el, old))
        self._inverse(OperationType.UPDATE, self.doc.address_of(el), {"tail": old or ""})

    def insert(self, parent: Any, element_index: int | None, el: Any) -> None:
        _check_depth(self.doc, parent, el)
        if self.screen:
            self._refuse_inside(parent)
            self.check_new(el)
        self.doc.insert(parent, node_index(self.doc, parent, element_index), el)
        self.undo.append(lambda: self.doc.remove(el))
        self._inverse(OperationType.DELETE, self.doc.address_of(el), {})

    def remove(self, el: Any) -> None:
        parent = el.getparent()
        parent_address = self.doc.address_of(parent)
        index = self.doc.child_index(el)[1]
        markup = self.doc.markup_of(el)
        address = self.doc.address_of(el)
        restore = self._text_around(el)
        node_index = self.doc.remove(el)
        self._restore_text_around(restore)
        self.undo.append(lambda: self.doc.insert(parent, node_index, el))
        self._inverse(
            OperationType.CREATE,
            el.get("id") or address,
            {"markup": markup, "parent": parent_address, "index": index},
        )

    def move(self, el: Any, parent: Any, element_index: int | None) -> None:
        old_parent = el.getparent()
        old_parent_address = self.doc.address_of(old_parent)
        old_node_index, old_index = self.doc.child_index(el)
        if self.doc.depth_of(parent) > self.doc.depth_of(old_parent):
            _check_depth(self.doc, parent, el)  # no deeper than it was: it fits
        if self.screen:
            self._refuse_inside(parent)
        restore = self._text_around(el)
        try:
            self.doc.move(el, parent, node_index(self.doc, parent, element_index, moving=el))
        except DocumentError as exc:
            raise OperationError(str(exc)) from None
        self._restore_text_around(restore)
        self.undo.append(lambda: self.doc.move(el, old_parent, old_node_index))
        self._inverse(
            OperationType.MOVE,
            self.doc.address_of(el),
            {"parent": old_parent_address, "index": old_index},
        )

    def _text_around(self, el: Any) -> list[tuple[Any, str, str | None, str]]:
        """The text that taking ``el`` out may rewrite, with addresses as they are now.

        ``SvgDocument.remove`` keeps mixed content by joining the element's tail to the
        text before it; undoing the removal must split it again.
        """
        parent = el.getparent()
        prev = el.getprevious()
        around: list[tuple[Any, str, str | None, str]] = [
            (el, "tail", el.tail, self.doc.address_of(el))
        ]
        if prev is None:
            around.append((parent, "text", parent.text, self.doc.address_of(parent)))
        elif is_element(prev):
            around.append((prev, "tail", prev.tail, self.doc.address_of(prev)))
        return around

    def _restore_text_around(self, around: list[tuple[Any, str, str | None, str]]) -> None:
        # Called before the removal's own undo and inverse are recorded: both lists run
        # backwards, so these restores run after the element is back.
        for node, field, before, address in reversed(around):
            now = getattr(node, field)
            if (now or "") == (before or "") or (is_blank(now) and is_blank(before)):
                continue
            setter = self.doc.set_tail if field == "tail" else self.doc.set_text
            self.undo.append(lambda s=setter, n=node, b=before: s(n, b))  # type: ignore[misc]
            self._inverse(OperationType.UPDATE, address, {field: before or ""})

    def rollback(self) -> None:
        for step in reversed(self.undo):
            step()


def node_index(
    doc: SvgDocument, parent: Any, element_index: int | None, moving: Any = None
) -> int | None:
    """The child-node position before the ``element_index``-th element child (``moving``
    not counted: it leaves first); None: after the last child (an index past the end, or
    none: nothing is counted then)."""
    if element_index is None or element_index < 0:
        return None
    target = doc.element_child(parent, element_index, leaving=moving)
    if target is None:
        return None
    position = doc.child_index(target)[0]
    if moving is not None and moving.getparent() is parent:
        if doc.child_index(moving)[0] < position:
            position -= 1
    return position


# -- applying ----------------------------------------------------------------------------


def apply_operation(doc: SvgDocument, op: Operation, *, screen: bool = False) -> list[Operation]:
    """Apply ``op`` to ``doc``; returns the operations that undo it.

    All or nothing: on error the document is unchanged and OperationError is raised.
    ``screen``: refuse it (:class:`~svgx_sync.errors.ActiveContent`) if it would put
    active content in the document, as for an operation from a live client.
    """
    allowed = DATA_KEYS[op.operation_type]
    unknown = set(op.data) - allowed
    if unknown:
        raise OperationError(
            f"{op.operation_type.value}: unknown data keys {sorted(unknown)}; "
            f"allowed: {sorted(allowed) or 'none'}"
        )
    if op.operation_type in PRESENCE_ONLY:
        _element(doc, op.element_id)
        return []
    edit = _Edit(doc, op, screen=screen)
    size = doc.size_bound
    try:
        _APPLY[op.operation_type](edit, op)
        if doc.size_bound > max(size, MAX_BYTES) and (screen or _written_size(doc) > MAX_BYTES):
            raise LimitExceeded(
                f"the file would be larger than {MAX_BYTES} bytes ({MAX_BYTES // 2**20} MiB), "
                "the most a file may hold (max_bytes); nothing was applied"
            )
    except Exception:
        edit.rollback()
        doc.size_bound = size
        raise
    finally:
        # The undo steps hold the edit, which holds the document: no cycle outlives the
        # call (it would keep a replaced document's whole tree until a full collection).
        edit.undo.clear()
    return _coalesce(list(reversed(edit.inverse)))


def _written_size(doc: SvgDocument) -> int:
    """The exact size of the file now, which the kept size may overstate (a removal counts
    only when the file is written). Asked only when that count crosses the limit, and
    only for operations that must be taken if they fit: a journal replayed, an inverse,
    another program's edit (a client's operation is judged by the count alone)."""
    return doc.measured_size()


def _coalesce(inverse: list[Operation]) -> list[Operation]:
    """Fold successive attribute restores of one element into one update."""
    out: list[Operation] = []
    for op in inverse:
        prev = out[-1] if out else None
        if (
            prev is not None
            and op.operation_type is prev.operation_type is OperationType.UPDATE
            and op.element_id == prev.element_id
            and set(op.data) | set(prev.data) <= {"attributes", "namespaces"}
            and "attributes" in op.data
            and "attributes" in prev.data
        ):
            data: dict[str, Any] = {
                "attributes": {**op.data["attributes"], **prev.data["attributes"]}
            }
            bindings = {**op.data.get("namespaces", {}), **prev.data.get("namespaces", {})}
            if bindings:
                data["namespaces"] = bindings
            out[-1] = replaced(prev, data=data)
        else:
            out.append(op)
    return out


def _element(doc: SvgDocument, address: str) -> Any:
    el = doc.find(address)
    if el is None:
        raise UnknownElement(f"no element {address!r} in {doc.name}")
    return el


def _create(edit: _Edit, op: Operation) -> None:
    doc, data = edit.doc, op.data
    if not ID_RE.match(op.element_id) and not op.element_id.startswith("/"):
        raise OperationError(f"{op.element_id!r} is not a valid element id")
    if op.element_id in doc.ids:
        raise OperationError(f"an element with id {op.element_id!r} already exists")
    parent = _element(doc, str(data["parent"])) if data.get("parent") is not None else doc.root
    index = _index(data.get("index"))
    if "markup" in data:
        if not isinstance(data["markup"], str):
            raise OperationError("markup must be a string of SVG")
        try:
            el = doc.parse_fragment(data["markup"])
        except DocumentError as exc:
            raise OperationError(str(exc)) from None
        if not op.element_id.startswith("/"):
            el.set("id", op.element_id)
        for node in el.iter():
            if is_element(node) and node.get("id") == "":
                raise OperationError("markup: an id must not be empty")
            if is_element(node) and node is not el and node.get("id") in doc.ids:
                raise OperationError(f"an element with id {node.get('id')!r} already exists")
    else:
        kind = data.get("type")
        if not isinstance(kind, str):
            raise OperationError(
                "create needs data.type: a shape (" + ", ".join(SHAPES) + ") or an SVG tag"
            )
        tag = SHAPES.get(kind, kind)
        if tag not in SVG_TAGS:
            raise OperationError(f"unknown element type {kind!r}")
        el = doc.new_element(_svg(tag, doc), {"id": op.element_id})
    _check_content(el, data)
    edit.insert(parent, index, el)
    _set_content(edit, el, data)


def _check_content(el: Any, data: Mapping[str, Any]) -> None:
    # Everything is validated before the first edit, so a refusal changes nothing.
    if "attributes" in data:
        attrs = data["attributes"]
        if not isinstance(attrs, Mapping):
            raise OperationError("attributes must be an object of name: value")
        for name, value in attrs.items():
            _check_attribute(name, None if value is None else _scalar(value, name))
    _namespaces(data)
    if "style" in data:
        _check_style(data["style"])
    for key in ("text", "tail"):
        if key in data and not isinstance(data[key], str):
            raise OperationError(f"{key} must be a string")
        if key in data:
            _xml_text(data[key], key)
    if "position" in data:
        _pair(data["position"], "x", "y", "position")
    if "size" in data:
        _size(data["size"])


def _check_style(style: Any) -> None:
    if isinstance(style, str):
        _xml_text(style, "style")
        return
    if not isinstance(style, Mapping):
        raise OperationError("style must be an object of property: value, or a string")
    for prop, value in style.items():
        _xml_text(prop, "a style property name")
        if value is not None:
            _scalar(value, f"style.{prop}")


def _set_content(edit: _Edit, el: Any, data: Mapping[str, Any]) -> None:
    doc = edit.doc
    if "position" in data:
        _set_position(edit, el, *_pair(data["position"], "x", "y", "position"))
    if "size" in data:
        _set_size(edit, el, *_size(data["size"]))
    bindings = _namespaces(data)
    # Every name is resolved before the first attribute is set: an unknown prefix must
    # not leave behind the declaration an earlier attribute brought in.
    named = [
        (attribute_key(doc, el, name, bindings) if ":" in name else name, name, value)
        for name, value in dict(data.get("attributes") or {}).items()
    ]
    for key, name, value in named:
        prefix = name.split(":", 1)[0] if ":" in name else None
        edit.set_attribute(el, key, None if value is None else _scalar(value, name), prefix=prefix)
    if "style" in data:
        style = data["style"]
        if isinstance(style, str):
            edit.set_attribute(el, "style", style or None)
        else:
            props = parse_style(el.get("style", ""))
            for prop, value in style.items():
                if value is None:
                    props.pop(prop, None)
                else:
                    props[prop] = _scalar(value, f"style.{prop}")
            edit.set_attribute(el, "style", format_style(props) or None)
    if "text" in data:
        edit.set_text(el, data["text"])
    if "tail" in data:
        edit.set_tail(el, data["tail"])


_RESERVED_NS = (XML_NS, "http://www.w3.org/2000/xmlns/")


def _namespaces(data: Mapping[str, Any]) -> dict[str, str]:
    """``data.namespaces`` checked: ``{prefix: namespace URI}`` for attribute names."""
    raw = _object(data, "namespaces", "prefix: namespace URI")
    for prefix, uri in raw.items():
        if not re.match(r"^[A-Za-z_][\w.\-]*$", prefix) or prefix.lower().startswith("xml"):
            raise OperationError(f"invalid namespace prefix {prefix!r}")
        if not isinstance(uri, str) or not uri or uri in _RESERVED_NS:
            raise OperationError(f"invalid namespace URI for prefix {prefix!r}")
        _xml_text(uri, f"the namespace URI for prefix {prefix!r}")
    return raw


def _object(data: Mapping[str, Any], key: str, shape: str) -> dict[str, Any]:
    """``data[key]``, checked to be an object (``{}`` when it is missing or null)."""
    raw = data.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise OperationError(f"{key} must be an object of {shape}")
    return dict(raw)


def _index(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OperationError("index must be a non-negative integer")
    return value


def _size(value: Any) -> tuple[float, float]:
    width, height = _pair(value, "width", "height", "size")
    if width < 0 or height < 0:
        raise OperationError("size must not be negative")
    return width, height


def _set_position(edit: _Edit, el: Any, x: float, y: float) -> None:
    tag = _local(el)
    if tag in _XY_TAGS:
        edit.set_attribute(el, "x", fmt(x))
        edit.set_attribute(el, "y", fmt(y))
    elif tag in ("circle", "ellipse"):
        edit.set_attribute(el, "cx", fmt(x))
        edit.set_attribute(el, "cy", fmt(y))
    else:
        _translate_to(edit, el, x, y)


def _translate_to(edit: _Edit, el: Any, x: float, y: float, relative: bool = False) -> None:
    tag = _local(el)
    if tag == "line":
        x1, y1 = _attr_number(el, "x1"), _attr_number(el, "y1")
        dx, dy = (x, y) if relative else (x - x1, y - y1)
        for name, delta in (("x1", dx), ("y1", dy), ("x2", dx), ("y2", dy)):
            edit.set_attribute(el, name, fmt(_attr_number(el, name) + delta))
    elif tag in ("polyline", "polygon"):
        points = _points(el)
        if not points:
            raise OperationError(f"element {el.get('id')!r} has no points to move")
        if relative:
            dx, dy = x, y
        else:
            dx = x - min(p[0] for p in points)
            dy = y - min(p[1] for p in points)
        edit.set_attribute(el, "points", _format_points([(px + dx, py + dy) for px, py in points]))
    elif relative and tag in _XY_TAGS | {"circle", "ellipse"}:
        xa, ya = ("cx", "cy") if tag in ("circle", "ellipse") else ("x", "y")
        edit.set_attribute(el, xa, fmt(_attr_number(el, xa) + x))
        edit.set_attribute(el, ya, fmt(_attr_number(el, ya) + y))
    else:
        # Groups, paths and the rest move by a leading translate() in their transform.
        transform = el.get("transform") or ""
        match = _TRANSLATE.match(transform)
        rest = transform[match.end() :] if match else transform.strip()
        if relative:
            ox = float(match.group(1)) if match else 0.0
            oy = float(match.group(2) or 0) if match else 0.0
            x, y = ox + x, oy + y
        new = f"translate({fmt(x)} {fmt(y)})" + (f" {rest}" if rest else "")
        edit.set_attribute(el, "transform", new)


def _set_size(edit: _Edit, el: Any, width: float, height: float) -> None:
    tag = _local(el)
    if tag in _WH_TAGS:
        edit.set_attribute(el, "width", fmt(width))
        edit.set_attribute(el, "height", fmt(height))
    elif tag == "circle":
        edit.set_attribute(el, "r", fmt(min(width, height) / 2))
    elif tag == "ellipse":
        edit.set_attribute(el, "rx", fmt(width / 2))
        edit.set_attribute(el, "ry", fmt(height / 2))
    elif tag == "line":
        edit.set_attribute(el, "x2", fmt(_attr_number(el, "x1") + width))
        edit.set_attribute(el, "y2", fmt(_attr_number(el, "y1") + height))
    elif tag in ("polyline", "polygon"):
        points = _points(el)
        if not points:
            raise OperationError(f"element {el.get('id')!r} has no points to resize")
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x0, y0 = min(xs), min(ys)
        sx = width / (max(xs) - x0) if max(xs) > x0 else 1.0
        sy = height / (max(ys) - y0) if max(ys) > y0 else 1.0
        scaled = [(x0 + (px - x0) * sx, y0 + (py - y0) * sy) for px, py in points]
        edit.set_attribute(el, "points", _format_points(scaled))
    elif tag in ("text", "tspan"):
        edit.set_attribute(el, "font-size", fmt(height))
    else:
        raise OperationError(
            f"size is not defined for <{tag}>; set its transform through data.attributes"
        )


def _update(edit: _Edit, op: Operation) -> None:
    el = _element(edit.doc, op.element_id)
    _check_content(el, op.data)
    if "parent" in op.data or "index" in op.data:
        _reparent(edit, el, op.data)
    _set_content(edit, el, op.data)


def _reparent(edit: _Edit, el: Any, data: Mapping[str, Any]) -> None:
    if el.getparent() is None:
        raise OperationError("the root element cannot be moved")
    parent = el.getparent()
    if data.get("parent") is not None:
        parent = _element(edit.doc, str(data["parent"]))
    edit.move(el, parent, _index(data.get("index")))


def _delete(edit: _Edit, op: Operation) -> None:
    el = _element(edit.doc, op.element_id)
    if el.getparent() is None:
        raise OperationError("the root element cannot be deleted")
    edit.remove(el)


def _move(edit: _Edit, op: Operation) -> None:
    el = _element(edit.doc, op.element_id)
    data = op.data
    if not data:
        raise OperationError("move needs position, dx/dy, parent or index")
    if "position" in data and ("dx" in data or "dy" in data):
        raise OperationError("move takes either position or dx/dy, not both")
    position = _pair(data["position"], "x", "y", "position") if "position" in data else None
    dx = _number(data.get("dx", 0), "dx")
    dy = _number(data.get("dy", 0), "dy")
    if "parent" in data or "index" in data:
        _reparent(edit, el, data)
    if position is not None:
        _set_position(edit, el, *position)
    elif "dx" in data or "dy" in data:
        _translate_to(edit, el, dx, dy, relative=True)


def _resize(edit: _Edit, op: Operation) -> None:
    el = _element(edit.doc, op.element_id)
    data = op.data
    if "radius" in data:
        radius = _number(data["radius"], "radius")
        if radius < 0 or _local(el) != "circle":
            raise OperationError("radius applies to circles and must not be negative")
        edit.set_attribute(el, "r", fmt(radius))
        return
    if "size" in data:
        width, height = _size(data["size"])
    elif "width" in data and "height" in data:
        width, height = _size({"width": data["width"], "height": data["height"]})
    else:
        raise OperationError("resize needs size {width, height}, width and height, or radius")
    _set_size(edit, el, width, height)


# -- constraints and assemblies ----------------------------------------------------------


def _model(edit: _Edit) -> Any:
    """The ``<metadata id="svgx-model">`` element, created on first use."""
    doc = edit.doc
    model = doc.ids.get(MODEL_ID)
    if model is None:
        model = doc.new_element(_svg("metadata", doc), {"id": MODEL_ID})
        edit.insert(doc.root, None, model)
    return model


def constraints_of(doc: SvgDocument, element_id: str) -> list[Any]:
    model = doc.ids.get(MODEL_ID)
    if model is None:
        return []
    return [
        c
        for c in model
        if is_element(c) and c.tag == f"{{{SVGX_NS}}}constraint" and c.get("element") == element_id
    ]


_NAME_RE = re.compile(r"^[A-Za-z_][\w\-]*$")
"""A constraint type, or the name of a constraint's or an assembly's property."""


def _id_list(doc: SvgDocument, value: Any, what: str) -> str:
    """A list of ids of elements that exist, as the space-separated attribute value."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise OperationError(f"{what} must be a list of element ids")
    for ident in value:
        _element(doc, ident)
    return " ".join(value)


def _check_property(name: str, reserved: tuple[str, ...], kind: str) -> None:
    if name in reserved or not _NAME_RE.match(name):
        raise OperationError(f"invalid {kind} property {name!r}")


def _constraint_add(edit: _Edit, op: Operation) -> None:
    doc, data = edit.doc, op.data
    target = _element(doc, op.element_id)
    ctype = data.get("constraint_type")
    if not isinstance(ctype, str) or not _NAME_RE.match(ctype):
        raise OperationError("constraint_add needs data.constraint_type, a name like 'distance'")
    element_id = target.get("id") or op.element_id
    attrs = {"element": element_id, "type": ctype}
    if "value" in data:
        attrs["value"] = _scalar(data["value"], "value")
    if "unit" in data:
        attrs["unit"] = _scalar(data["unit"], "unit")
    if "targets" in data:
        attrs["targets"] = _id_list(doc, data["targets"], "targets")
    for name, value in _object(data, "properties", "name: value").items():
        _check_property(name, ("id", *attrs), "constraint")
        attrs[name] = _scalar(value, name)
    cid = data.get("constraint_id")
    if cid is None:
        n = 1
        while f"{element_id}-{ctype}-{n}" in doc.ids:
            n += 1
        cid = f"{element_id}-{ctype}-{n}"
    if not isinstance(cid, str) or not ID_RE.match(cid):
        raise OperationError("constraint_id must be a valid id")
    if cid in doc.ids:
        raise OperationError(f"an element with id {cid!r} already exists")
    el = doc.new_element(f"{{{SVGX_NS}}}constraint", {"id": cid, **attrs})
    edit.check_new(el)  # before the model is made for it
    edit.insert(_model(edit), None, el)


def _constraint_remove(edit: _Edit, op: Operation) -> None:
    doc, data = edit.doc, op.data
    cid, ctype = data.get("constraint_id"), data.get("constraint_type")
    for key, value in (("constraint_id", cid), ("constraint_type", ctype)):
        if value is not None and not isinstance(value, str):
            raise OperationError(f"{key} must be a string")
    found = [
        c
        for c in constraints_of(doc, op.element_id)
        if (cid is None or c.get("id") == cid) and (ctype is None or c.get("type") == ctype)
    ]
    if cid is not None and not found and doc.ids.get(cid) is not None:
        candidate = doc.ids[cid]
        if candidate.tag == f"{{{SVGX_NS}}}constraint":
            found = [candidate]
    if not found:
        raise OperationError(f"no matching constraint on element {op.element_id!r}")
    for c in found:
        edit.remove(c)


def _assembly_update(edit: _Edit, op: Operation) -> None:
    doc, data = edit.doc, op.data
    tag = f"{{{SVGX_NS}}}assembly"
    existing = doc.ids.get(op.element_id)
    if existing is not None and existing.tag != tag:
        raise OperationError(f"{op.element_id!r} is an element, not an assembly")
    if data.get("remove"):
        if existing is None:
            raise UnknownElement(f"no assembly {op.element_id!r}")
        edit.remove(existing)
        return
    if not ID_RE.match(op.element_id):
        raise OperationError(f"{op.element_id!r} is not a valid assembly id")
    attrs: dict[str, str | None] = {}
    if "name" in data:
        attrs["name"] = None if data["name"] is None else _scalar(data["name"], "name")
    if "members" in data:
        attrs["members"] = _id_list(doc, data["members"], "members")
    for name, value in _object(data, "properties", "name: value").items():
        _check_property(name, ("id", "name", "members"), "assembly")
        attrs[name] = None if value is None else _scalar(value, name)
    if existing is None:
        el = doc.new_element(tag, {"id": op.element_id})
        for key, value in attrs.items():
            if value is not None:
                el.set(key, value)
        edit.check_new(el)  # before the model is made for it
        edit.insert(_model(edit), None, el)
    else:
        for key, value in attrs.items():
            edit.set_attribute(existing, key, value)


_APPLY: dict[OperationType, Callable[[_Edit, Operation], None]] = {
    OperationType.CREATE: _create,
    OperationType.UPDATE: _update,
    OperationType.DELETE: _delete,
    OperationType.MOVE: _move,
    OperationType.RESIZE: _resize,
    OperationType.CONSTRAINT_ADD: _constraint_add,
    OperationType.CONSTRAINT_REMOVE: _constraint_remove,
    OperationType.ASSEMBLY_UPDATE: _assembly_update,
}
