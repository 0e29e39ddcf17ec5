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
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate, chain, compress, count, pairwise, repeat
from operator import eq, ne
from typing import TYPE_CHECKING, Any, Protocol

from lxml import etree

from ..errors import DocumentError
from .spans import ATTR, TOKEN
from .svgdoc import MAX_BYTES, MAX_DEPTH, MAX_VALUE, SvgDocument, well_formed
from .xmltext import EXACT_ENCODINGS, ID_RE, common_ends, decode, encoding_of, is_blank, is_element

if TYPE_CHECKING:
    from .ops import Operation

__all__ = [
    "WORTH_FROM",
    "Compare",
    "changed_units",
    "laid_out_alike",
    "regions_changes",
    "regions_diff",
    "regions_merge",
]

WORTH_FROM = 32 * 1024
"""Files smaller than this (in bytes) are compared whole: reading them twice costs a
millisecond or two, about what looking for regions first would add when it declines."""


def laid_out_alike(old: bytes, new: bytes) -> bool:
    """Whether the two versions may be written alike, worth looking for regions in: not
    when one has over twice the lines per tag of the other in its first ``_SAMPLE``
    bytes (another program laid the file out anew, each attribute on a line of its own
    as Inkscape does), where the regions would be the whole file and the search only
    adds to the complete diff. A few counts in C, whatever the size; False only skips a
    shortcut, never changes an answer."""
    old, new = old[:_SAMPLE], new[:_SAMPLE]
    old_tags, new_tags = old.count(b"<") + 1, new.count(b"<") + 1
    old_lines, new_lines = old.count(b"\n") + 1, new.count(b"\n") + 1
    return old_lines * new_tags <= 2 * new_lines * old_tags and (
        new_lines * old_tags <= 2 * old_lines * new_tags
    )


_SAMPLE = 64 * 1024
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
    *,
    new_read: bool = False,
) -> list[Operation] | None:
    """The operations the complete diff (``differ``) would give for ``old`` → ``new``,
    or None when only the complete diff can tell (see the module docstring).
    ``new_read``: ``new`` was read whole already (it is XML: ``intake.screen_svg``'s
    ``xml_read``), not again here."""
    try:
        return _RegionDiff(old, new, file, differ, new_read=new_read).run()
    except (_Unknown, DocumentError):
        return None


Compare = Callable[[SvgDocument, SvgDocument, str], list[dict[str, Any]]]
"""What changed between two parsed versions of a file, an entry per element
(``changes.document_changes``), run here on the small documents."""


def regions_changes(
    old: bytes, new: bytes, file: str, compare: Compare
) -> list[dict[str, Any]] | None:
    """The entries ``compare`` would give for the parses of ``old`` and ``new``, or None
    when only those can tell (the cases :func:`regions_diff` declines, and a parent's own
    text that is not all blank around a region whose whitespace changed)."""
    try:
        return _RegionDiff(old, new, file).changes(compare)
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
    # As many ">" as units after the first: in XML each unit holds one (the end of its
    # tag) unless another lacks it, which only a comment, CDATA section or instruction
    # holding a "<" does, and _classify refuses that one.
    deltas, others = _deltas(units, 0, single=text.count(">") == len(units) - 1)
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


def _deltas(units: list[str], first: int, *, single: bool = False) -> tuple[list[int], list[int]]:
    """The change of depth at each unit, and the units of ``others`` (numbered from
    ``first``). ``single``: each unit holds one ``>``, the end of its tag, so that
    ``/>`` in a unit ends an empty-element tag."""
    # +1 start tag, -1 end tag, 0 empty-element tag; _UNSURE: look closer (below).
    if single:
        deltas = [
            (-1 if c == "/" else _UNSURE) if (c := u[:1]) in "/!?" else (0 if "/>" in u else 1)
            for u in units
        ]
    else:
        deltas = [
            (-1 if c == "/" else _UNSURE)
            if (c := u[:1]) in "/!?"
            else (
                (0 if s[-2:-1] == "/" else 1)
                if (s := u.rstrip())[-1:] == ">" and s.find(">") == len(s) - 1
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
    """How many units are equal from ``a[i]`` and ``b[j]`` on: compared pairwise at C
    speed, over growing slices (most runs between differences are short)."""
    n = 0
    limit = min(len(a) - i, len(b) - j)
    step = 64
    while n < limit:
        m = min(step, limit - n)
        k = next(compress(count(), map(ne, a[i + n : i + n + m], b[j + n : j + n + m])), m)
        n += k
        if k < m:
            break
        step = min(step * 4, 4096)
    return n


class _Aligner:
    def __init__(self, a: list[str], b: list[str]) -> None:
        self.a, self.b = a, b
        self._last_b: dict[str, int] | None = None
        self._last_a: dict[str, int] | None = None

    def windows(self, *, split: bool = False) -> list[tuple[int, int, int, int]]:
        """The ranges ``(i, k, j, l)``: ``a[i:k]`` differs from ``b[j:l]``, and the
        units between the ranges are equal. With ``split``, a range as long on both
        sides is cut where its units are equal pair by pair (two edits a few units
        apart, each nearer than the units that confirm a match, stay two ranges)."""
        a, b = self.a, self.b
        out: list[tuple[int, int, int, int]] = []
        i = j = 0
        while True:
            n = _common(a, i, b, j)
            i, j = i + n, j + n
            if i == len(a) and j == len(b):
                return out
            k, l = self._resync(i, j)
            if split and k - i == l - j > 1:
                same = list(map(eq, a[i:k], b[j:l]))
                t = 0
                while t < k - i:
                    u = same.index(True, t) if True in same[t:] else k - i
                    out.append((i + t, i + u, j + t, j + u))
                    t = same.index(False, u) if False in same[u:] else k - i
            else:
                out.append((i, k, j, l))
            i, j = k, l

    def _steady(self, k: int, l: int) -> bool:
        a, b = self.a, self.b
        if k < len(a) and l < len(b) and a[k] != b[l]:
            return False
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


def _units_beside(old: bytes, new: bytes, units: list[str], encoding: str) -> list[str]:
    """``old`` decoded and cut into units as :func:`_cut` cuts, where the units of the
    start and end it shares with ``new`` are the very strings of ``units`` (``new``'s):
    a big file with a small change costs the units of its changed middle, not a second
    copy of every unit and of its text (and equal units compare by identity)."""
    if encoding not in EXACT_ENCODINGS:  # a "<" byte may not be a "<" there: cut it whole
        return decode(old)[0].split("<")
    prefix, suffix = common_ends(old, new)
    head = new.rfind(b"<", 0, prefix)  # the last "<" of the shared start
    tail = new.find(b"<", len(new) - suffix)  # the first "<" of the shared end
    first = new.count(b"<", 0, head) + 1 if head >= 0 else 0  # units before ``head``
    last = new.count(b"<", tail) if tail >= 0 else 0  # units after ``tail``
    end = tail - len(new) + len(old) if tail >= 0 else len(old)
    try:
        middle = old[head + 1 : end].decode(encoding).split("<")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"cannot decode the file as {encoding}: {exc}") from exc
    return units[:first] + middle + (units[len(units) - last :] if last else [])


def changed_units(old: str, new: str) -> list[str]:
    """The units of ``new`` (its text cut at each ``<``) outside the runs of units it
    shares with ``old``, in order: what a change from ``old`` to ``new`` touched."""
    units = new.split("<")
    windows = _Aligner(old.split("<"), units).windows()
    return [u for _a0, _a1, b0, b1 in windows for u in units[b0:b1]]


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
        differ: Callable[[SvgDocument, SvgDocument], Differ] | None = None,
        *,
        new_read: bool = False,
    ) -> None:
        if len(old) > MAX_BYTES or len(new) > MAX_BYTES or not laid_out_alike(old, new):
            raise _Unknown
        new_text, new_enc = decode(new)
        if encoding_of(old) != new_enc:
            raise _Unknown
        # The complete diff refuses what it cannot read; here the new version is read
        # without building anything (by the documents' parser, without Python's lock),
        # and the regions of the old one are parsed below: the rest of it is the new text.
        if not new_read and not well_formed(new):
            raise _Unknown
        self.b = _cut(new_text)
        if max(map(len, self.b.units)) >= MAX_VALUE:
            raise _Unknown
        old_units = _units_beside(old, new, self.b.units, new_enc)
        self.windows = _Aligner(old_units, self.b.units).windows()
        self.a = _cut_like("", old_units, self.b, self.windows)  # its text is not read
        for a0, a1, _b0, _b1 in self.windows:
            if a1 > a0 and max(map(len, self.a.units[a0:a1])) >= MAX_VALUE:
                raise _Unknown
        self.file = file
        self.differ = differ

    def run(self) -> list[Operation]:
        found = self._found()
        return [] if found is None else self._diff(*found)

    def changes(self, compare: Compare) -> list[dict[str, Any]]:
        """``compare``'s entries for the two whole versions, from the small documents:
        their ``/i/j`` positions made the whole versions' (``element_id`` too, where it is
        one). Unchanged elements are never listed, so they are never built."""
        found = self._found()
        if found is None:
            return []
        regions, head, name = found
        small_a, small_b, _counts = self._small_pair(regions, head, name, {})
        for k, (holder_a, holder_b) in enumerate(zip(small_a.root, small_b.root, strict=True)):
            if _own_texts(holder_a) != _own_texts(holder_b):
                self._check_blank_around(regions[k])
        places = {side: [self._place(side, r) for r in regions] for side in ("old", "new")}
        out = []
        for entry in compare(small_a, small_b, self.file or ""):
            path = {
                side: None if at is None else _whole_path(at, places[side])
                for side, at in entry["path"].items()
            }
            element_id = entry["element_id"]
            if element_id.startswith("/"):
                element_id = path["new"] or path["old"]
            out.append({**entry, "element_id": element_id, "path": path})
        return out

    def _place(self, side_name: str, r: _Region) -> tuple[str, int]:
        """Where a region's children are in a whole version: the ``/i/j`` position of
        their parent, and how many element children it has before them."""
        if side_name == "old":
            side, s, parent = self.a, r.a0, _parent_unit(self.a, r.a0, r.level)
        else:
            side, s, parent = self.b, r.b0, r.parent_b
        return _unit_path(side, parent), _children_before(side, parent, s, r.level)

    def _check_blank_around(self, r: _Region) -> None:
        """A region's whitespace between elements changed: its parent's own text is then
        listed as changed unless all of it is blank (outside the region too)."""
        b, parent = self.b, r.parent_b
        end = b.after.index(r.level - 1, parent)
        others = set(b.others)
        for k in compress(range(parent, end), map(eq, b.after[parent:end], repeat(r.level))):
            if k in others or not _blank_after(b.units[k]):
                raise _Unknown  # a comment's tail is the parent's text too: not read here

    def _found(self) -> tuple[list[_Region], str, str] | None:
        """The regions, the root's start tag and its name; None: nothing differs."""
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
            return None
        return regions, root_tag, name.group(1)

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

    def _small_pair(
        self, regions: list[_Region], head: str, name: str, parents: dict[int, str | None]
    ) -> tuple[SvgDocument, SvgDocument, Counter[str]]:
        """The two small documents, once every id in them is known to name the same
        element in the whole versions as in them; with the new version's count of those
        ids and of the ids in ``parents``."""
        small_a = SvgDocument(self._small(self.a, regions, True, head, name).encode(), name="a")
        small_b = SvgDocument(self._small(self.b, regions, False, head, name).encode(), name="b")
        if small_a.duplicate_ids or small_b.duplicate_ids:
            raise _Unknown
        ids_a = _region_ids(small_a, len(regions))
        ids_b = _region_ids(small_b, len(regions))
        if any(_QUOTES.search(ident) for ident in (*ids_a, *ids_b)):
            raise _Unknown
        counts = self._id_counts({*ids_a, *ids_b, *(p for p in parents.values() if p)})
        for ident, where in ids_b.items():
            if counts[ident] != 1:
                raise _Unknown
            if ids_a.get(ident, where) != where:
                raise _Unknown  # moved from one region to another
        for ident in ids_a:
            if ident not in ids_b and counts[ident]:
                raise _Unknown
        return small_a, small_b, counts

    def _diff(self, regions: list[_Region], head: str, name: str) -> list[Operation]:
        root_id = _attribute(head, "id")
        parents = {r.parent_b: self._parent_id(r.parent_b, root_id) for r in regions}
        small_a, small_b, counts = self._small_pair(regions, head, name, parents)
        assert self.differ is not None
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
        return _children_before(self.b, r.parent_b, r.b0, r.level)


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


def _region_ids(doc: SvgDocument, count: int, *, neighbours: bool = False) -> dict[str, int]:
    """Every id in the regions, with the index of its region; refuses what the small
    document cannot stand for (mixed content, comments or id-less elements among the
    parent's children; with ``neighbours``, the marks standing for the parent's other
    children are no region's)."""
    if doc.duplicate_ids:
        raise _Unknown
    holders = [c for c in doc.root if is_element(c)]
    if len(holders) != count or len(doc.root) != count:
        raise _Unknown
    out: dict[str, int] = {}
    for k, holder in enumerate(holders):
        if not is_blank(holder.text):
            raise _Unknown
        for child in holder:
            if not is_element(child) or not is_blank(child.tail):
                raise _Unknown
            if child.get("id") is None:
                raise _Unknown
        for el in holder.iter(etree.Element):
            ident = el.get("id")
            if ident is not None and el is not holder:
                if not (neighbours and el.tag in _NEIGHBOURS):
                    out[ident] = k
    return out


# -- three versions -----------------------------------------------------------------------


class Merged(Protocol):
    """What the complete merge gives (``merge.MergeResult``)."""

    merged: bytes | None
    conflicts: list[Any]
    notes: list[str]


_LOCAL_CONFLICTS = frozenset(
    {
        "attribute",
        "text",
        "delete_edit",
        "edit_delete",
        "dangling_reference",
        "dangling_constraint",
    }
)
"""Conflict kinds that only speak of the elements involved (no orders, moves or fresh
ids, which depend on the rest of the file)."""

_MARKS = ("svgx-region", "svgx-prev", "svgx-next")


@dataclass(slots=True)
class _Region3:
    """A region in the three versions: unit ranges ``[x0, x1)`` per version."""

    x0: list[int]  # base, ours, theirs
    x1: list[int]
    level: int = 0
    parent: int = 0  # the parent's start-tag unit in base
    prev: bool = False  # the parent has children before the region
    next: bool = False  # and after it
    same: bool = False  # the three versions nest the same elements, with the same ids


def regions_merge(
    versions: tuple[bytes, bytes, bytes],
    merge: Callable[[SvgDocument, SvgDocument, SvgDocument], Merged],
) -> tuple[bytes, list[Any], list[str], list[str]] | None:
    """What the complete three-way merge gives for ``versions`` (base, ours, theirs):
    the merged bytes, its conflicts and notes, and the units of the merged text (cut at
    each ``<``) that the merge touched (the others are ours'); or None when only the
    complete merge can tell. The complete merge (``merge``, which may edit ours'
    document) runs on small documents of the regions where the versions differ, each
    version's a different one; ours' text is kept everywhere else, and theirs' where it
    only changed plain attribute values ours left as base has them."""
    try:
        return _RegionMerge(versions, merge).run()
    except (_Unknown, DocumentError):
        return None


class _RegionMerge:
    def __init__(
        self,
        versions: tuple[bytes, bytes, bytes],
        merge: Callable[[SvgDocument, SvgDocument, SvgDocument], Merged],
    ) -> None:
        if any(len(v) > MAX_BYTES for v in versions):
            raise _Unknown
        decoded = [decode(v) for v in versions]
        if len({enc for _text, enc in decoded}) != 1:
            raise _Unknown
        self.encoding = decoded[0][1]
        texts = [text for text, _enc in decoded]
        if "<svgx-" in texts[0]:
            raise _Unknown  # could be taken for the marks of the small documents
        _xml_check(versions[0])
        base = _cut(texts[0])
        if max(map(len, base.units)) >= MAX_VALUE:
            raise _Unknown
        self.sides = [base]
        self.windows: list[list[tuple[int, int, int, int]]] = [[]]
        for text in texts[1:]:
            units = text.split("<")
            windows = _Aligner(units, base.units).windows(split=True)
            side = _cut_like(text, units, base, windows)
            for a0, a1, _b0, _b1 in windows:
                if a1 > a0 and max(map(len, units[a0:a1])) >= MAX_VALUE:
                    raise _Unknown
                if any("xmlns" in u or u.startswith(_MARKS) for u in units[a0:a1]):
                    raise _Unknown
            self.sides.append(side)
            self.windows.append(windows)
        self.merge = merge
        self._ends: dict[tuple[int, bool], list[int]] = {}

    def run(self) -> tuple[bytes, list[Any], list[str], list[str]]:
        base = self.sides[0]
        root = base.root
        if any(s.root != root or s.units[: root + 1] != base.units[: root + 1] for s in self.sides):
            raise _Unknown
        if any(u.startswith("!DOCTYPE") for u in base.units[:root]):
            if any(_ENTITY.search(s.text) for s in self.sides):
                raise _Unknown
        head = _tag(base.units[root])
        name = _NAME.match(head)
        if name is None or head.endswith("/>"):
            raise _Unknown
        start = len("<".join(base.units[:root])) + 1 + len(head)
        if base.text.find("xmlns", start) >= 0:
            raise _Unknown
        # Where theirs has base's text the merge keeps ours' (theirs changed nothing
        # there): only the other regions are merged; the ids of these are read from the
        # text, to be checked with the rest.
        # Where theirs only set plain attributes ours left as base has them, the merge
        # gives theirs' text (see _taken): that is taken, unread, like ours' above.
        regions: list[_Region3] = []
        kept: list[_Region3] = []
        taken: list[_Region3] = []
        for r in self._regions():
            if not self._theirs_changed(r):
                kept.append(r)
            else:
                (taken if self._taken(r) else regions).append(r)
        if not regions and not taken:
            raise _Unknown
        for k, unread in ((1, kept), (2, taken)):
            if unread:
                # Kept unread: it must be XML all the same, and hold what the small
                # documents would have been refused for nowhere.
                _xml_check(self._small(k, unread, head, name.group(1)).encode())
                for r in unread:
                    self._check_kept(0, r)
                    if k == 1:  # theirs' taken text passes where base's does (_taken)
                        self._check_kept(k, r)
        smalls = [self._small(k, regions, head, name.group(1)) for k in range(3)]
        docs = [SvgDocument(s.encode(), name=f"v{k}") for k, s in enumerate(smalls)]
        ids = [_region_ids(doc, len(regions), neighbours=True) for doc in docs]
        kept_base, kept_ours = (self._text_ids(k, kept, len(regions)) for k in (0, 1))
        # Ours' taken regions are base's.
        taken_base, taken_theirs = (
            self._text_ids(k, taken, len(regions) + len(kept)) for k in (0, 2)
        )
        pairs = ((kept_base, taken_base), (kept_ours, taken_base), (kept_base, taken_theirs))
        texts = [{**a, **b} for a, b in pairs]
        if any(len(t) != len(a) + len(b) for t, (a, b) in zip(texts, pairs, strict=True)):
            raise _Unknown  # an id in a kept region and in a taken one
        every = [{**i, **k} for i, k in zip(ids, texts, strict=True)]
        if any(len(e) != len(i) + len(k) for e, i, k in zip(every, ids, texts, strict=True)):
            raise _Unknown  # an id in a merged region and in a kept one
        inside = smalls[0] + "".join(self._text(0, r) for r in (*kept, *taken))
        self._check_ids(every, inside, head)
        places = _places(docs[0])
        if _moved(places, docs[1]) or _moved(places, docs[2]):
            raise _Unknown
        refers = self._outside_refers(regions)
        deleted = (set(kept_base) - set(kept_ours)) | (set(taken_base) - set(taken_theirs))
        if deleted and (refers or any(map(_may_refer, smalls[1:]))):
            raise _Unknown  # a side deleted an element that something could refer to
        merged, conflicts = "", []
        if regions:
            result = self.merge(*docs)  # edits docs[1]
            if result.merged is None or result.notes:
                raise _Unknown
            merged = result.merged.decode()
            if not merged.startswith(head):
                raise _Unknown
            conflicts = [self._conflict(c, regions, head) for c in result.conflicts]
            if refers and set().union(*ids) - set(docs[1].ids):
                raise _Unknown  # a reference outside the regions could be left dangling
        text, touched = self._splice(merged, regions, taken)
        return text.encode(self.encoding), conflicts, [], touched

    def _theirs_changed(self, r: _Region3) -> bool:
        base, theirs = self.sides[0], self.sides[2]
        if r.x1[2] - r.x0[2] != r.x1[0] - r.x0[0]:
            return True
        return base.units[r.x0[0] - 1 : r.x1[0]] != theirs.units[r.x0[2] - 1 : r.x1[2]]

    def _taken(self, r: _Region3) -> bool:
        """Whether the complete merge gives theirs' text of a region: ours has base's
        text there, and theirs either changed only values of plain attributes (see
        :func:`_values_only`) of elements with ids, nesting the same elements, or
        deleted one child of the parent (see :meth:`_deleted_one`). Those edits the
        merge makes on ours, whose writer rewrites just the changed values, escaped
        (which leaves a plain value as it is): theirs' text, byte for byte."""
        base, ours, theirs = self.sides
        b0, b1, t0 = r.x0[0], r.x1[0], r.x0[2]
        lead = base.units[b0 - 1]
        if (
            ours.units[r.x0[1] - 1 : r.x1[1]] != base.units[b0 - 1 : b1]
            or theirs.units[t0 - 1] != lead
        ):
            return False
        if not r.same:
            return self._deleted_one(r)
        return all(
            a == b or _values_only(a, b)
            for a, b in zip(base.units[b0:b1], theirs.units[t0 : r.x1[2]], strict=True)
        )

    def _deleted_one(self, r: _Region3) -> bool:
        """Whether theirs' text of a region is base's without one child of the parent,
        taken out as :meth:`SvgDocument.remove` takes it out (with the whitespace after
        it; the parent's last child leaves that to the child before it), which is how
        the merge deletes it from ours."""
        base = self.sides[0]
        units, level = base.units, r.level
        b0, b1 = r.x0[0], r.x1[0]
        want = self.sides[2].units[r.x0[2] : r.x1[2]]
        items = []
        j = b0
        while j < b1:
            k = base.after.index(level, j) + 1
            items.append((j, k))
            j = k
        for n, (s, e) in enumerate(items):
            left = units[b0:s]
            if n == len(items) - 1 and not r.next:
                if not n:
                    continue  # the one before is outside the region, or there is none
                last = left[-1]
                left[-1] = last[: len(_tag(last)) - 1] + _text_part(units[e - 1])
            if len(left) + b1 - e == len(want) and left + units[e:b1] == want:
                return True
        return False

    def _check_kept(self, k: int, r: _Region3) -> None:
        """Refuse, in version ``k``'s text of a region, what :func:`_region_ids` refuses
        in a small document: a child of the parent without an id (the complete merge
        would pair it with id-less siblings elsewhere), a comment or instruction among
        them, text beside them."""
        side = self.sides[k]
        units, after, deltas = side.units, side.after, side.deltas
        level = r.level
        if not _blank_after(units[r.x0[k] - 1]):
            raise _Unknown
        for j in range(r.x0[k], r.x1[k]):
            unit = units[j]
            if after[j - 1] == level:
                if deltas[j] == -1 or unit[:1] in "!?" or _attribute(_tag(unit), "id") is None:
                    raise _Unknown
            if after[j] == level and not _blank_after(unit):
                raise _Unknown

    def _text(self, k: int, r: _Region3) -> str:
        """Version ``k``'s units of a region, as text."""
        return "<".join(self.sides[k].units[r.x0[k] : r.x1[k]])

    def _text_ids(self, k: int, regions: list[_Region3], first: int) -> dict[str, int]:
        """The ids in version ``k``'s text of ``regions``, with the index of each region
        (counted from ``first``); an id held twice makes the answer unknown."""
        out: dict[str, int] = {}
        for n, r in enumerate(regions, first):
            for ident in _ids_in(self._text(k, r)):
                if ident in out:
                    raise _Unknown
                out[ident] = n
        return out

    # -- regions ------------------------------------------------------------------------

    def _map(self, side: int, x: int, y: int, *, back: bool = False) -> tuple[int, int, int, int]:
        """Base range ``[x, y)`` in version ``side``: ``(sx, sy, x, y)`` with the base
        range grown over every window of that side it touches. With ``back``, the other
        way: a range of ``side`` in base, ``(x, y, sx, sy)``."""
        windows = self.windows[side]
        # The windows ending before x only give the shift: start at the last of them.
        ends = self._ends.get((side, back))
        if ends is None:
            ends = self._ends[side, back] = [w[1] if back else w[3] for w in windows]
        first = bisect_left(ends, x)
        shift_x = shift_y = 0
        for window in windows[max(first - 1, 0) :]:
            s0, s1, b0, b1 = (window[2], window[3], window[0], window[1]) if back else window
            if b1 < x:
                shift_x = shift_y = s1 - b1
            elif b0 <= y:
                x, y = min(x, b0), max(y, b1)
                shift_y = s1 - b1
                if b0 == x:
                    shift_x = s0 - b0
            else:
                break
        return x + shift_x, y + shift_y, x, y

    def _regions(self) -> list[_Region3]:
        spans = sorted({(b0, b1) for ws in self.windows[1:] for _s0, _s1, b0, b1 in ws})
        out: list[_Region3] = []
        for b0, b1 in spans:
            x, y = b0, b1
            if out and x <= out[-1].x1[0]:
                prev = out.pop()
                x, y = prev.x0[0], max(y, prev.x1[0])
            while True:
                if x < 1:
                    raise _Unknown
                ranges = [(x, y)]
                for side in (1, 2):
                    sx, sy, x2, y2 = self._map(side, x, y)
                    ranges.append((sx, sy))
                    x, y = min(x, x2), max(y, y2)
                if (x, y) != ranges[0]:
                    continue
                grown = [_grow(s, a, b) for s, (a, b) in zip(self.sides, ranges, strict=True)]
                if any(g[:2] != r for g, r in zip(grown, ranges, strict=True)):
                    # Grown on some side: back in base (over the windows it reached).
                    x, y = min(x, grown[0][0]), max(y, grown[0][1])
                    for side in (1, 2):
                        bx, by, _sx, _sy = self._map(side, *grown[side][:2], back=True)
                        x, y = min(x, bx), max(y, by)
                    if out and x <= out[-1].x1[0]:
                        prev = out.pop()
                        x = prev.x0[0]
                    continue
                levels = {g[2] for g in grown}
                if len(levels) != 1 or grown[0][2] < 1:
                    raise _Unknown
                region = _Region3([r[0] for r in ranges], [r[1] for r in ranges], grown[0][2])
                break
            out.append(region)
        base = self.sides[0]
        for r in out:
            x, y, level = r.x0[0], r.x1[0], r.level
            r.parent = _parent_unit(base, x, level)
            r.prev = r.parent != x - 1
            r.next = base.deltas[y] != -1
            if (r.prev and base.units[x - 1][:1] in "!?") or (r.next and base.units[y][:1] in "!?"):
                raise _Unknown
            if self._same_shape(r):
                # Nothing is inserted, removed or moved among the parent's children
                # here: marks standing for the neighbours would change nothing.
                r.prev = r.next = False
                r.same = True
        for a, b in pairwise(out):
            if b.x0[0] <= a.x1[0]:
                raise _Unknown
        return out

    def _same_shape(self, r: _Region3) -> bool:
        """Whether the three versions nest the same elements in a region and hold the
        same ids in it, in the same order (the region's children all have ids)."""
        shapes = [s.deltas[r.x0[k] : r.x1[k]] for k, s in enumerate(self.sides)]
        if not shapes[0] == shapes[1] == shapes[2]:
            return False
        ids = [_ID_VALUE.findall(self._text(k, r)) for k in range(3)]
        return ids[0] == ids[1] == ids[2]

    # -- the small documents --------------------------------------------------------------

    def _small(self, k: int, regions: list[_Region3], head: str, name: str) -> str:
        side = self.sides[k]
        units = side.units
        parts = [head, "\n"]
        for n, r in enumerate(regions):
            s, e = r.x0[k], r.x1[k]
            # An id of its own: matched by it, not by aligning all the placeholders.
            parts.append(f'<{_PLACEHOLDER} id="{_PLACEHOLDER}-{n}">')
            if r.prev:
                # Before the previous sibling: the text before its first unit.
                first = _item_start(side, s - 1, r.level)
                parts.append(_text_part(units[first - 1]))
                parts.append(f'<svgx-prev id="svgx-prev-{n}"/>')
            parts.append(_text_part(units[s - 1]))
            if e > s:
                parts.append("<")
                parts.append("<".join(units[s:e]))
            if r.next:
                parts.append(f'<svgx-next id="svgx-next-{n}"/>')
            parts.append(f"</{_PLACEHOLDER}>\n")
        parts.append(f"</{name}>")
        return "".join(parts)

    def _check_ids(self, ids: list[dict[str, int]], base_small: str, head: str) -> None:
        every = {*ids[0], *ids[1], *ids[2]}
        if any(_QUOTES.search(ident) for ident in every):
            raise _Unknown
        for ident in every:
            places = {d[ident] for d in ids if ident in d}
            if len(places) != 1:
                raise _Unknown  # in different regions
        # Held nowhere outside the regions: the base's count outside them is 0, and the
        # other versions' outsides are the base's.
        whole = _count_ids(self.sides[0].text, every)
        inside = _count_ids(base_small, every)
        if any(whole[ident] != inside[ident] for ident in every):
            raise _Unknown

    def _outside_refers(self, regions: list[_Region3]) -> bool:
        """Whether ours outside the regions could refer to an element (an element gone
        in the merge would then be flagged there)."""
        ours = self.sides[1]
        if not _may_refer(ours.text):
            return False
        # Where each region is in the text (the units joined by one "<" each).
        ends = list(accumulate(map(len, ours.units), initial=0))
        starts = [ends[r.x0[1]] + r.x0[1] for r in regions]
        stops = [ends[r.x1[1]] + r.x1[1] for r in regions]
        for match in _REFERS.finditer(ours.text):
            at = match.start()
            k = bisect_right(starts, at) - 1
            if k < 0 or at >= stops[k]:
                return True
        return False

    def _conflict(self, conflict: Any, regions: list[_Region3], head: str) -> Any:
        element = conflict.element_id
        if str(conflict.kind) not in _LOCAL_CONFLICTS or element.startswith(("/", _PLACEHOLDER)):
            raise _Unknown
        parent = conflict.parent
        if parent is not None and parent.startswith("/"):
            raise _Unknown
        if parent is not None and parent.startswith(_PLACEHOLDER):
            k = _placeholder_index("/" + parent[len(_PLACEHOLDER) + 1 :], len(regions))
            address = self._parent_address(regions[k], head)
            return type(conflict)(**{**_fields(conflict), "parent": address})
        return conflict

    def _parent_address(self, r: _Region3, head: str) -> str:
        base = self.sides[0]
        if r.parent == base.root:
            # As the merge names an element: by its id, the root too.
            return _attribute(head, "id") or "/"
        ident = _attribute(_tag(base.units[r.parent]), "id")
        if ident is None or ident == _attribute(head, "id") or not ID_RE.match(ident):
            raise _Unknown
        if _count_ids(base.text, {ident})[ident] != 1:
            raise _Unknown
        return ident

    def _splice(
        self, merged: str, regions: list[_Region3], taken: list[_Region3]
    ) -> tuple[str, list[str]]:
        """Ours' text with each region's merged text in its place (theirs' text for the
        ``taken`` ones), and the units of the result that the regions touched (each
        whole; the others are ours')."""
        ours = self.sides[1]
        units = ours.units
        ends = list(accumulate(map(len, units)))
        pieces = []
        touched: list[str] = []
        pos = 0
        at = 0
        marked = dict.fromkeys(map(id, regions))
        for r in sorted((*regions, *taken), key=lambda r: r.x0[1]):
            s, e = r.x0[1], r.x1[1]
            lead_unit = units[s - 1]
            lead_tag = lead_unit[: len(_tag(lead_unit)) - 1]
            lead_start = ends[s - 1] + (s - 1) - len(lead_unit) + len(lead_tag)
            end = ends[e - 1] + (e - 1)
            if id(r) in marked:
                at = merged.index(">", merged.index(f"<{_PLACEHOLDER}", at)) + 1
                if r.prev:
                    at = merged.index("/>", merged.index("<svgx-prev", at)) + 2
                stop = merged.index("<svgx-next" if r.next else f"</{_PLACEHOLDER}>", at)
                piece = merged[at:stop]
                at = stop
            else:
                piece = _text_part(lead_unit)
                if r.x1[2] > r.x0[2]:
                    piece += "<" + self._text(2, r)
            pieces.append(ours.text[pos:lead_start])
            pieces.append(piece)
            touched.extend((lead_tag + piece).split("<"))
            pos = end
        pieces.append(ours.text[pos:])
        return "".join(pieces), touched


def _values_only(a: str, b: str) -> bool:
    """Whether units ``a`` and ``b`` are start tags of one element with an id, written
    alike but for the values of some attributes, each plain in both (no reference, no
    ``&``, ``<``, tab or line break: read as written, written back as read) and none
    that the merge reads apart from its value (``id``, ``style``, ``href``, a prefixed
    name, a declaration); and with the same text after them."""
    if a[:1] in "/!?" or "constraint" in a or "constraint" in b:
        return False
    tag_a, tag_b = _tag(a), _tag(b)
    if a[len(tag_a) - 1 :] != b[len(tag_b) - 1 :]:
        return False
    name = _NAME.match(tag_a)
    if name is None or ":" in name.group(1) or not tag_b.startswith(name.group()):
        return False
    pos_a = pos_b = name.end()
    has_id = False
    for x, y in zip(ATTR.finditer(tag_a, pos_a), ATTR.finditer(tag_b, pos_b), strict=False):
        if x.start() != pos_a or y.start() != pos_b:
            return False
        pos_a, pos_b = x.end(), y.end()
        qname = x.group(2)
        has_id = has_id or qname == "id"
        if x.group() == y.group():
            continue
        if x.group(1, 2, 3) != y.group(1, 2, 3) or (x.group(4) is None) != (y.group(4) is None):
            return False
        if qname in ("id", "style", "href") or ":" in qname or qname.startswith("xmlns"):
            return False
        values = (x.group(4) or x.group(5) or "", y.group(4) or y.group(5) or "")
        if any(_UNPLAIN.search(v) for v in values) or "url(" in values[1]:
            return False
    return has_id and tag_a[pos_a:] == tag_b[pos_b:]


_UNPLAIN = re.compile("[&<\t\n\r]")


def _fields(conflict: Any) -> dict[str, Any]:
    return {name: getattr(conflict, name) for name in conflict.__dataclass_fields__}


def _blank_after(unit: str) -> bool:
    """Whether only whitespace follows the unit's tag (read without the tag's regex
    when the one ``>`` of the unit ends it)."""
    s = unit.rstrip()
    if s[-1:] == ">" and s.find(">") == len(s) - 1:
        return True
    return is_blank(_text_part(unit))


def _text_part(unit: str) -> str:
    return unit[len(_tag(unit)) - 1 :]


def _item_start(side: _Side, last: int, level: int) -> int:
    """The first unit of the item at ``level`` whose last unit is ``last``."""
    after = side.after
    if after[last - 1] == level:
        return last
    rev = len(after) - 1
    return rev - _rindex(side, level, rev - (last - 1)) + 1


def _parent_unit(side: _Side, s: int, level: int) -> int:
    after = side.after
    rev = len(after) - 1
    return rev - _rindex(side, level - 1, rev - (s - 1)) + 1


def _children_before(side: _Side, parent: int, s: int, level: int) -> int:
    """How many element children the element starting at unit ``parent`` has before
    unit ``s`` (one of its children's first unit, at depth ``level``)."""
    items = side.after[parent : s - 1].count(level)
    others = sum(1 for k in side.others if parent < k < s and side.after[k - 1] == level)
    return items - others


def _unit_path(side: _Side, unit: int) -> str:
    """The ``/i/j`` position (:func:`~.svgdoc.element_paths`) of the element whose start
    tag is ``unit``."""
    if unit == side.root:
        return "/"
    level = side.after[unit - 1]
    parent = _parent_unit(side, unit, level)
    return f"{_unit_path(side, parent).rstrip('/')}/{_children_before(side, parent, unit, level)}"


def _whole_path(small: str, places: list[tuple[str, int]]) -> str:
    """A position in a small document (``/k/j/...``: child ``j`` of region ``k``) as the
    whole version's: ``places[k]`` is the region parent's position there and its element
    children before the region."""
    parts = small.split("/")
    if len(parts) < 3:
        raise _Unknown  # a placeholder, or the root: they stand for nothing listed
    parent, before = places[int(parts[1])]
    rest = "/".join(parts[3:])
    whole = f"{parent.rstrip('/')}/{int(parts[2]) + before}"
    return f"{whole}/{rest}" if rest else whole


def _own_texts(el: Any) -> list[str | None]:
    """An element's text and its children's tails, as they are."""
    return [el.text, *(child.tail for child in el)]


def _count_ids(text: str, wanted: set[str]) -> Counter[str]:
    counts = Counter(_ids_in(text))
    return Counter({v: counts[v] for v in wanted if v in counts})


def _xml_check(data: bytes) -> None:
    """Refuse what the documents' parser refuses (:func:`well_formed`)."""
    if not well_formed(data):
        raise _Unknown


def _ids_in(text: str) -> list[str]:
    """Every id value in ``text``, or more (text that looks like one counts too)."""
    values: list[str] = _ID_VALUE.findall(text)
    joined = "".join(values)
    if "=" in joined or "&" in joined:
        raise _Unknown
    return values


_REFERS = re.compile(r"href|url\(|&|constraint")


def _may_refer(text: str) -> bool:
    """Whether some element in ``text`` could refer to another."""
    return "href" in text or "url(" in text or "&" in text or "constraint" in text


_NEIGHBOURS = frozenset(
    {"{http://www.w3.org/2000/svg}svgx-prev", "{http://www.w3.org/2000/svg}svgx-next"}
)


def _places(doc: SvgDocument) -> dict[str, tuple[Any, list[str]]]:
    """Each element with an id in the regions (placeholders included), with the ids of
    its children that have one, in order; refuses an element with an id under one
    without."""
    out: dict[str, tuple[Any, list[str]]] = {}
    root = doc.root
    for ident, el in doc.ids.items():  # in document order
        parent = el.getparent()
        if parent is root:
            out.setdefault(ident, (ident, []))
            continue
        if parent is None:
            continue
        key = parent.get("id")
        if key is None:
            raise _Unknown
        out.setdefault(ident, (ident, []))
        out.setdefault(key, (key, []))[1].append(ident)
    return out


def _moved(a: dict[str, tuple[Any, list[str]]], side: SvgDocument) -> bool:
    """Whether ``side`` moved or reordered an element with an id that the base (whose
    :func:`_places` are ``a``) has."""
    b = _places(side)
    parents_a = {kid: p for p, (_i, kids) in a.items() for kid in kids}
    parents_b = {kid: p for p, (_i, kids) in b.items() for kid in kids}
    for kid, parent in parents_a.items():
        if kid in parents_b and parents_b[kid] != parent:
            return True
    for parent, (_i, kids) in a.items():
        if parent not in b:
            continue
        kept_a = [k for k in kids if k in parents_b]
        kept_b = [k for k in b[parent][1] if k in parents_a]
        if kept_a != kept_b:
            return True
    return False
