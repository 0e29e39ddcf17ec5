"""Where two versions of a file differ, told from their text: runs of whole sibling elements.

A diff of two big versions that differ in a few elements should cost about one parse of
the new version, not two parses, two source maps and a walk of every element. This
module finds the differing parts from the text alone and hands only those to the element
diff (:mod:`.diff`), which then runs on a small document.

How:

* Each version is cut at every ``<`` (a C-speed split); a *unit* is one tag with the text
  after it. Units are classified (start tag, end tag, empty-element tag, other) to know
  the nesting depth at every unit boundary. A ``<`` can only start markup in a file
  lxml accepts, except inside comments, CDATA and processing instructions: a unit of
  those that does not hold its own end makes the whole answer "don't know".
* The two unit lists are aligned (runs of equal units compared as slices, resynchronised
  after each difference), giving *windows* that differ with equal units between them.
* Each window grows to whole children of one element (its *parent*) on both sides, and
  windows that touch merge. Unchanged elements are never built: they are recognised as
  equal units.
* The regions of each side go, each in a placeholder element, into one small document
  under the root's own start tag, and :mod:`.diff` compares the two small documents.
  Its operations are the whole diff's once the placeholders are renamed as the
  parents they stand for, with the indices of the parents' earlier children added.

:func:`regions_diff` answers None whenever that could differ from the complete diff
(namespaces declared below the root, a DOCTYPE with entity references, an id that also
occurs outside the regions, an element moved from one region to another, mixed content
or comments among a parent's changed children, a positional address, a changed root
start tag or prolog, a file lxml refuses...). The caller then runs the complete diff,
which also gives the errors. Tests compare both on random and corpus inputs.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate, chain
from typing import Any, Protocol
from xml.parsers import expat

from lxml import etree

from ..errors import DocumentError
from .ops import ID_RE, Operation
from .spans import ATTR, TOKEN
from .svgdoc import MAX_BYTES, MAX_DEPTH, MAX_VALUE, SvgDocument
from .xmltext import decode, is_blank, is_element

__all__ = ["regions_diff"]

_PLACEHOLDER = "svgx-region"
# Units equal after a difference before the two sides count as in step again.
_CONFIRM = 8
# Differences up to this many units are resynchronised by trying every split of them.
_NEAR = 24
_ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot|apos);|#)")
_NAME = re.compile(r"<([^\s/>]+)")
_UNSURE = 9
_ID_VALUE = re.compile(r"""id\s*=\s*["']([^"'<]*)["']""")
_QUOTES = re.compile("[\"'<>&=]")


class _Unknown(Exception):
    """The quick way cannot tell: the complete diff must run."""


class Differ(Protocol):
    """The complete element diff (``diff._Differ``), run here on the small documents."""

    deferred: list[Any]

    def run(self) -> list[Operation]: ...


def regions_diff(
    old: bytes,
    new: bytes,
    file: str | None,
    differ: Callable[[SvgDocument, SvgDocument], Differ],
) -> list[Operation] | None:
    """The operations the complete diff (``differ``) would give for ``old`` → ``new``,
    or None when only the complete diff can tell (see the module docstring)."""
    try:
        return _RegionDiff(old, new, file, differ).run()
    except (_Unknown, DocumentError):
        return None


@dataclass(slots=True)
class _Side:
    """One version cut into units, with the depth after each unit."""

    text: str
    units: list[str]
    deltas: list[int]
    after: list[int]
    others: list[int]  # comment, PI, CDATA and DOCTYPE units
    root: int  # the root's start-tag unit
    rev: list[int] | None = None  # ``after`` reversed, made when first needed


def _cut(text: str) -> _Side:
    units = text.split("<")
    deltas, others = _deltas(units, 0)
    deltas[0] = 0
    return _side(text, units, deltas, others)


def _cut_like(
    text: str, units: list[str], like: _Side, windows: list[tuple[int, int, int, int]]
) -> _Side:
    """:func:`_cut` of ``text`` (cut into ``units``), whose units outside ``windows``
    are ``like``'s: only the units of the windows are looked at."""
    pieces: list[list[int]] = []
    others: list[int] = []
    i = j = 0
    for a0, a1, b0, b1 in windows:
        pieces.append(like.deltas[j:b0])
        others.extend(k - b0 + a0 for k in like.others if j <= k < b0)
        window, found = _deltas(units[a0:a1], a0)
        pieces.append(window)
        others.extend(found)
        i, j = a1, b1
    pieces.append(like.deltas[j:])
    others.extend(k - j + i for k in like.others if j <= k)
    deltas = list(chain.from_iterable(pieces))
    if len(deltas) != len(units):
        raise _Unknown
    deltas[0] = 0
    return _side(text, units, deltas, others)


def _deltas(units: list[str], first: int) -> tuple[list[int], list[int]]:
    """The change of depth at each unit, and the units of ``others`` (numbered from
    ``first``)."""
    # +1 start tag, -1 end tag, 0 empty-element tag; _UNSURE: look closer (below).
    deltas = [
        (-1 if c == "/" else _UNSURE)
        if (c := u[:1]) in "/!?"
        else (
            ((0 if s.endswith("/>") else 1) if s[-1:] == ">" else _UNSURE)
            if (s := u.rstrip()).count(">") == 1
            else _UNSURE
        )
        for u in units
    ]
    others: list[int] = []
    if _UNSURE in deltas:
        for k, d in enumerate(deltas):
            if d == _UNSURE and k + first:
                deltas[k] = _classify(units[k], k + first, others)
    return deltas, others


def _side(text: str, units: list[str], deltas: list[int], others: list[int]) -> _Side:
    after = list(accumulate(deltas))
    if after[-1] != 0 or min(after) < 0 or max(after) >= MAX_DEPTH - 1:
        raise _Unknown
    try:
        root = deltas.index(1)
    except ValueError:
        raise _Unknown from None
    if any(after[k] != 0 or k not in others for k in range(1, root)):
        raise _Unknown
    return _Side(text, units, deltas, after, others, root)


def _classify(unit: str, k: int, others: list[int]) -> int:
    c = unit[:1]
    if c == "!":
        if unit.startswith("!--"):
            done = "-->" in unit
        elif unit.startswith("![CDATA["):
            done = "]]>" in unit
        else:
            done = unit.startswith("!DOCTYPE") and "[" not in unit and ">" in unit
        if not done:
            raise _Unknown
        others.append(k)
        return 0
    if c == "?":
        if "?>" not in unit:
            raise _Unknown
        others.append(k)
        return 0
    if c == "" or c == "/":
        raise _Unknown
    match = TOKEN.match("<" + unit)
    if match is None:
        raise _Unknown
    return 0 if match.group().endswith("/>") else 1


def _tag(unit: str) -> str:
    """The markup at the start of a unit, with its ``<``."""
    match = TOKEN.match("<" + unit)
    if match is None:
        raise _Unknown
    return match.group()


def _common(a: list[str], i: int, b: list[str], j: int) -> int:
    """How many units are equal from ``a[i]`` and ``b[j]`` on."""
    n = 0
    limit = min(len(a) - i, len(b) - j)
    step = 512
    while step:
        while n + step <= limit and a[i + n : i + n + step] == b[j + n : j + n + step]:
            n += step
        step //= 8
    return n


class _Aligner:
    def __init__(self, a: list[str], b: list[str]) -> None:
        self.a, self.b = a, b
        self._last_b: dict[str, int] | None = None
        self._last_a: dict[str, int] | None = None

    def windows(self) -> list[tuple[int, int, int, int]]:
        a, b = self.a, self.b
        out: list[tuple[int, int, int, int]] = []
        i = j = 0
        while True:
            n = _common(a, i, b, j)
            i, j = i + n, j + n
            if i == len(a) and j == len(b):
                return out
            k, l = self._resync(i, j)
            out.append((i, k, j, l))
            i, j = k, l

    def _steady(self, k: int, l: int) -> bool:
        a, b = self.a, self.b
        ka, lb = a[k : k + _CONFIRM], b[l : l + _CONFIRM]
        return ka == lb and (
            len(ka) == _CONFIRM or (k + len(ka) == len(a) and l + len(lb) == len(b))
        )

    def _resync(self, i: int, j: int) -> tuple[int, int]:
        """The nearest ``(k, l)`` past a difference at ``(i, j)`` where both sides agree."""
        na, nb = len(self.a), len(self.b)
        for d in range(1, _NEAR):
            for x in range((d + 1) // 2, -1, -1):
                for k, l in ((i + x, j + d - x), (i + d - x, j + x)):
                    if k <= na and l <= nb and self._steady(k, l):
                        return k, l
        if self._last_a is None:
            # The last place of each unit: a unit held once is where the sides agree.
            self._last_a = dict(zip(self.a, range(na), strict=True))
            self._last_b = dict(zip(self.b, range(nb), strict=True))
        last_a, last_b = self._last_a, self._last_b
        assert last_b is not None
        a, b = self.a, self.b
        for d in range(max(na - i, nb - j)):
            k, l = i + d, j + d
            if k < na:
                m = last_b.get(a[k], -1)
                if m >= j and self._steady(k, m):
                    return k, m
            if l < nb:
                m = last_a.get(b[l], -1)
                if m >= i and self._steady(m, l):
                    return m, l
        return na, nb


@dataclass(slots=True)
class _Region:
    a0: int
    a1: int
    b0: int
    b1: int
    level: int = 0
    parent_b: int = 0  # the parent's start-tag unit in the new version


def _grow(side: _Side, x0: int, x1: int) -> tuple[int, int, int]:
    """``[x0, x1)`` grown to whole children of one element: ``(s, e, level)``."""
    after = side.after
    level = min(after[x0 - 1 : x1]) if x1 > x0 else after[x0 - 1]
    if after[x0 - 1] == level:
        s = x0
    else:
        rev = len(after) - 1
        s = rev - _rindex(side, level, rev - (x0 - 1)) + 1
    e = x1 if x1 == x0 or after[x1 - 1] == level else after.index(level, x1 - 1) + 1
    return s, e, level


def _rindex(side: _Side, value: int, start: int) -> int:
    """``side.after[::-1].index(value, start)``, the reversed list made once."""
    if side.rev is None:
        side.rev = side.after[::-1]
    return side.rev.index(value, start)


class _RegionDiff:
    def __init__(
        self,
        old: bytes,
        new: bytes,
        file: str | None,
        differ: Callable[[SvgDocument, SvgDocument], Differ],
    ) -> None:
        if len(old) > MAX_BYTES or len(new) > MAX_BYTES:
            raise _Unknown
        old_text, old_enc = decode(old)
        new_text, new_enc = decode(new)
        if old_enc != new_enc:
            raise _Unknown
        # The complete diff refuses what it cannot read; here the new version is read
        # without building anything (expat, which lxml agrees with on what is XML), and
        # the regions of the old one are parsed below: the rest of it is the new text.
        parser = expat.ParserCreate(namespace_separator=" ")
        try:
            parser.Parse(new, True)
        except (expat.ExpatError, ValueError):
            raise _Unknown from None
        self.b = _cut(new_text)
        if max(map(len, self.b.units)) >= MAX_VALUE:
            raise _Unknown
        old_units = old_text.split("<")
        self.windows = _Aligner(old_units, self.b.units).windows()
        self.a = _cut_like(old_text, old_units, self.b, self.windows)
        for a0, a1, _b0, _b1 in self.windows:
            if a1 > a0 and max(map(len, self.a.units[a0:a1])) >= MAX_VALUE:
                raise _Unknown
        self.file = file
        self.differ = differ

    def run(self) -> list[Operation]:
        a, b = self.a, self.b
        prolog_a = a.units[: a.root]
        if prolog_a != b.units[: b.root] or a.units[a.root] != b.units[b.root]:
            raise _Unknown
        if any(u.startswith("!DOCTYPE") for u in prolog_a) and _ENTITY.search(b.text):
            raise _Unknown
        root_tag = _tag(b.units[b.root])
        name = _NAME.match(root_tag)
        if name is None or root_tag.endswith("/>"):
            raise _Unknown
        # Namespaces declared on the root only: every element is in the root's scope, in
        # the small documents as in the whole ones.
        head = len("<".join(b.units[: b.root])) + 1 + len(root_tag)
        if b.text.find("xmlns", head) >= 0:
            raise _Unknown
        # The old version's other units are the new one's.
        if any("xmlns" in u for a0, a1, _b0, _b1 in self.windows for u in a.units[a0:a1]):
            raise _Unknown
        regions = self._regions(self.windows)
        if not regions:
            return []
        return self._diff(regions, root_tag, name.group(1))

    # -- regions ------------------------------------------------------------------------

    def _regions(self, windows: list[tuple[int, int, int, int]]) -> list[_Region]:
        a, b = self.a, self.b
        out: list[_Region] = []
        pending = [_Region(*w) for w in reversed(windows)]
        while pending:
            r = pending.pop()
            while True:
                if r.a0 < 1 or r.b0 < 1:
                    raise _Unknown
                sa, ea, la = _grow(a, r.a0, r.a1)
                sb, eb, lb = _grow(b, r.b0, r.b1)
                left = max(r.a0 - sa, r.b0 - sb)
                right = max(ea - r.a1, eb - r.b1)
                if out and r.a0 - left <= out[-1].a1:
                    prev = out.pop()
                    r = _Region(prev.a0, r.a1, prev.b0, r.b1)
                    continue
                if pending and r.a1 + right >= pending[-1].a0:
                    nxt = pending.pop()
                    r = _Region(r.a0, nxt.a1, r.b0, nxt.b1)
                    continue
                if left or right:
                    r = _Region(r.a0 - left, r.a1 + right, r.b0 - left, r.b1 + right)
                    continue
                if la != lb or la < 1:
                    raise _Unknown
                r.level = la
                break
            out.append(r)
        for r in out:
            r.parent_b = self._parent(b, r.b0, r.level)
        return out

    def _parent(self, side: _Side, s: int, level: int) -> int:
        """The start-tag unit of the element whose children start at unit ``s``."""
        after = side.after
        rev = len(after) - 1
        k = rev - _rindex(side, level - 1, rev - (s - 1))
        return k + 1

    # -- the small documents --------------------------------------------------------------

    def _small(self, side: _Side, regions: list[_Region], old: bool, head: str, name: str) -> str:
        parts = [head, "\n"]
        units = side.units
        for r in regions:
            s, e = (r.a0, r.a1) if old else (r.b0, r.b1)
            lead = units[s - 1]
            lead = lead[len(_tag(lead)) - 1 :]
            parts.append(f"<{_PLACEHOLDER}>")
            parts.append(lead)
            if e > s:
                parts.append("<")
                parts.append("<".join(units[s:e]))
            parts.append(f"</{_PLACEHOLDER}>\n")
        parts.append(f"</{name}>")
        return "".join(parts)

    def _diff(self, regions: list[_Region], head: str, name: str) -> list[Operation]:
        small_a = SvgDocument(self._small(self.a, regions, True, head, name).encode(), name="a")
        small_b = SvgDocument(self._small(self.b, regions, False, head, name).encode(), name="b")
        if small_a.duplicate_ids or small_b.duplicate_ids:
            raise _Unknown
        ids_a = _region_ids(small_a, len(regions))
        ids_b = _region_ids(small_b, len(regions))
        if any(_QUOTES.search(ident) for ident in (*ids_a, *ids_b)):
            raise _Unknown
        root_id = _attribute(head, "id")
        parents = {r.parent_b: self._parent_id(r.parent_b, root_id) for r in regions}
        counts = self._id_counts({*ids_a, *ids_b, *(p for p in parents.values() if p)})
        for ident, where in ids_b.items():
            if counts[ident] != 1:
                raise _Unknown
            if ids_a.get(ident, where) != where:
                raise _Unknown  # moved from one region to another
        for ident in ids_a:
            if ident not in ids_b and counts[ident]:
                raise _Unknown
        differ = self.differ(small_a, small_b)
        ops = differ.run()
        if differ.deferred:
            raise _Unknown
        offsets: dict[int, int] = {}
        out = []
        for op in ops:
            if op.element_id.startswith("/"):
                raise _Unknown
            data = op.data
            parent = data.get("parent")
            if isinstance(parent, str) and parent.startswith("/"):
                k = _placeholder_index(parent, len(regions))
                r = regions[k]
                if k not in offsets:
                    offsets[k] = self._offset(r)
                data = {
                    **data,
                    "parent": self._address(r.parent_b, parents, counts),
                    "index": data["index"] + offsets[k],
                }
                op = op.model_copy(update={"data": data})
            out.append(op)
        return out

    def _id_counts(self, wanted: set[str]) -> Counter[str]:
        """How often each id of ``wanted`` is held in the new version, or more often
        (text that looks like an id counts too, which only makes the answer "don't
        know"). Any other id counts 0."""
        values = _ID_VALUE.findall(self.b.text)
        # A value cannot hold these; a match that took one began where no attribute did
        # and may have swallowed the next one (an attribute value ending in "id=").
        joined = "".join(values)
        if "=" in joined or "&" in joined:
            raise _Unknown
        return Counter(v for v in values if v in wanted)

    def _parent_id(self, unit: int, root_id: str | None) -> str | None:
        """The id a parent (outside the regions) could be addressed by, if any."""
        if unit == self.b.root:
            return None
        ident = _attribute(_tag(self.b.units[unit]), "id")
        if ident is None or ident == root_id or not ID_RE.match(ident):
            return None
        return ident

    def _address(self, unit: int, parents: dict[int, str | None], counts: Counter[str]) -> str:
        """The address of a parent in the operations: its id when that names it alone."""
        if unit == self.b.root:
            return "/"
        ident = parents[unit]
        if ident is None or counts[ident] != 1:
            raise _Unknown
        return ident

    def _offset(self, r: _Region) -> int:
        """How many element children the parent has before the region, in the new version."""
        b = self.b
        items = b.after[r.parent_b : r.b0 - 1].count(r.level)
        others = sum(1 for k in b.others if r.parent_b < k < r.b0 and b.after[k - 1] == r.level)
        return items - others


def _attribute(tag: str, key: str) -> str | None:
    for match in ATTR.finditer(tag):
        if match.group(2) == key:
            value = match.group(4) if match.group(4) is not None else match.group(5)
            if "&" in value:
                raise _Unknown
            return str(value)
    return None


def _placeholder_index(address: str, count: int) -> int:
    part = address[1:]
    if not part.isdigit() or int(part) >= count:
        raise _Unknown
    return int(part)


def _region_ids(doc: SvgDocument, count: int) -> dict[str, int]:
    """Every id in the regions, with the index of its region; refuses what the small
    document cannot stand for (mixed content, comments or id-less elements among the
    parent's children)."""
    holders = [c for c in doc.root if is_element(c)]
    if len(holders) != count or len(doc.root) != count:
        raise _Unknown
    out: dict[str, int] = {}
    for k, holder in enumerate(holders):
        if not is_blank(holder.text):
            raise _Unknown
        for child in holder:
            if not is_element(child) or child.get("id") is None or not is_blank(child.tail):
                raise _Unknown
        for el in holder.iter(etree.Element):
            if el is holder:
                continue
            ident = el.get("id")
            if ident is not None:
                out[ident] = k
    return out
