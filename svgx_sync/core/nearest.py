"""Which recent version a save is nearest to, read where the versions differ.

:func:`svgx_sync.core.external.closest_version` counts, for each recent version, the
tags, attributes and texts in which it and a saved file differ, each of them placed by
its element's id (or, without one, by its tag and rank). Counted over whole files that
is a fingerprint of every element of every version: about 0.6 s each at 60k elements.

The recent versions are mostly the daemon's own writes: such a version differs from the
newest by a few elements, written the same way, and everywhere else holds the same
bytes. Then a version's count differs from the newest's only at the elements where the
two differ::

    apart(save, version) - apart(save, newest)
        = sum over those elements e of  apart_e(save, version) - apart_e(save, newest)

so only those elements are read, in the save and in both versions
(:func:`closest_by_differences`). Where they differ is found from the bytes: each file,
cut at every ``<`` into pieces (a tag and the text after it), holds the same pieces in
the same order except a few, and each of those is the start tag of an element with an id.
Anything else (another layout, a namespace declared below the root, a comment or CDATA
section, an element without an id that changed, an element given children or moved with
them, an id written twice) answers None: "not known here", and the whole comparison is
made.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from lxml import etree

from .svgdoc import _parser

__all__ = ["START_TAG", "closest_by_differences", "element_items", "parsed_root", "root_start"]

START_TAG = re.compile(rb"<[^!?/<>][^>\"']*+(?:\"[^\"]*+\"[^>\"']*+|'[^']*+'[^>\"']*+)*+>")
"""A start tag in bytes, its quoted values read whole (they may hold '>')."""
PROLOG = re.compile(rb"(?:\s++|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*+>)*+", re.S)
"""What may stand before the root's start tag: the XML declaration, PIs, comments, a
DOCTYPE without an internal subset, and space."""

FEW = 32
"""Up to this many elements apart, each is looked up on its own; beyond, in one pass."""

MOST_APART = 2000
"""Pieces in which a version may differ from the newest and still be read here: beyond
that, reading each of them costs more than the whole comparison."""

_ID = re.compile(rb"""\sid\s*+=\s*+(?:"([^"]*+)"|'([^']*+)')""")
_NAME = re.compile(rb"[^\s/>]++")

_Item = tuple[str, ...]


def root_start(data: bytes) -> int | None:
    """Where the root's start tag ends in ``data`` (None: not found where expected)."""
    prolog = PROLOG.match(data)
    match = START_TAG.match(data, prolog.end() if prolog is not None else 0)
    return None if match is None or match.group().endswith(b"/>") else match.end()


def parsed_root(data: bytes) -> Any:
    """``data`` parsed (None: not a whole XML file)."""
    try:
        return etree.fromstring(data, _parser())
    except (etree.XMLSyntaxError, ValueError):
        return None


def element_items(el: Any) -> set[_Item]:
    """What the fingerprint holds of one element, without its place: its tag, its text
    and tail (stripped), and each attribute."""
    items: set[_Item] = {
        ("#tag", str(el.tag)),
        ("#text", (el.text or "").strip(), (el.tail or "").strip()),
    }
    items.update(el.attrib.items())
    return items


def closest_by_differences(disk: bytes, versions: Sequence[bytes]) -> int | None:
    """The index in ``versions`` (newest first) of the version nearest to ``disk``, as
    the whole comparison counts it (ties go to the newer), read only at the elements
    where the versions differ from the newest; None when that is not known here (see
    the module's docstring), or ``disk`` does not parse."""
    newest = _Layout.read(versions[0])
    if newest is None:
        return None
    apart: list[dict[str, _Sides]] = []
    for version in versions[1:]:
        layout = _Layout.read(version)
        sides = newest.apart(layout) if layout is not None else None
        if sides is None:
            return None
        apart.append(sides)
    wanted = {ident for sides in apart for ident in sides}
    saved = _saved_items(disk, wanted)
    if saved is None:
        return None
    tails: dict[str, str] | None = None
    best, best_gain = 0, 0
    for index, sides in enumerate(apart, start=1):
        gain = 0  # how much nearer to the save this version is than the newest
        for ident, (ours, theirs) in sides.items():
            mine = saved.get(ident, set())
            if ours.tail_unknown and ours.text != theirs.text:
                # The text item holds the tail, which follows the end tag (the same in
                # both: the pieces around are the same).
                if tails is None and (tails := _tails(versions[0], wanted)) is None:
                    return None
                tail = tails.get(ident, "")
                gain += len(mine ^ ours.with_tail(tail)) - len(mine ^ theirs.with_tail(tail))
            else:
                # Left without their text items, elements with the same text and tail
                # count alike on both sides, whatever the save holds.
                gain += len(mine ^ ours.items) - len(mine ^ theirs.items)
        if gain > best_gain:
            best, best_gain = index, gain
    return best


@dataclass(frozen=True, slots=True)
class _Element:
    """One element's items, read from its start tag and the text after it."""

    items: frozenset[_Item]  # without "#text" when tail_unknown
    text: str
    tail_unknown: bool  # not self-closing: its tail follows its end tag, elsewhere
    piece: bytes = b""

    def with_tail(self, tail: str) -> frozenset[_Item]:
        return self.items | {("#text", self.text, tail)}


_ABSENT = _Element(frozenset(), "", tail_unknown=False)

_Sides = tuple[_Element, _Element]  # (the newest's, the other version's); _ABSENT: none


@dataclass(frozen=True)
class _Layout:
    """A version cut at each ``<`` from its root on: the root's start tag and the text
    after it, then each further tag with the text after it."""

    data: bytes
    root: bytes  # the root's start tag, in which every namespace is declared
    pieces: list[bytes]

    @staticmethod
    def read(data: bytes) -> _Layout | None:
        head = root_start(data)
        if head is None:
            return None
        if any(data.find(mark, head) >= 0 for mark in (b"<!", b"<?", b"xmlns", b"&#")):
            return None
        start = data.rfind(b"<", 0, head)
        return _Layout(data, data[start:head], data[start + 1 :].split(b"<"))

    def apart(self, other: _Layout) -> dict[str, _Sides] | None:
        """The elements in which ``other`` differs from this (the newest), by id, each as
        read here and there; None when that is not known from the pieces."""
        if other.pieces[0] != self.pieces[0]:  # the root start tag, and its text
            return None
        mine, theirs = self._piece_set, set(other.pieces)
        only_mine, only_theirs = mine - theirs, theirs - mine
        if len(only_mine) + len(only_theirs) > MOST_APART:
            return None
        common = [p for p in self.pieces if p not in only_mine]
        if common != [p for p in other.pieces if p not in only_theirs]:
            return None  # not the same pieces in the same order elsewhere
        ours, our_opens = self._read_pieces(only_mine)
        if ours is None:
            return None
        theirs_read, their_opens = other._read_pieces(only_theirs)
        if theirs_read is None or our_opens != their_opens:
            return None  # an element given or rid of children, or moved with them
        idents = ours.keys() | theirs_read.keys()
        if not (self._once(ours, idents) and other._once(theirs_read, idents)):
            return None
        return {i: (ours.get(i, _ABSENT), theirs_read.get(i, _ABSENT)) for i in idents}

    def _read_pieces(
        self, apart: AbstractSet[bytes]
    ) -> tuple[dict[str, _Element] | None, list[tuple[int, str]]]:
        """The elements of the pieces in ``apart``, by id, and where each that is not
        self-closing stands among the shared pieces; None when one is not the start
        tag of an element with a plain id (an id on two of them is seen by _once)."""
        out: dict[str, _Element] = {}
        opens: list[tuple[int, str]] = []
        for index, piece in enumerate(self.pieces):
            if piece not in apart:
                continue
            read = self._element(piece)
            if read is None:
                return None, []
            ident, element = read
            out[ident] = element
            if element.tail_unknown:
                opens.append((index - len(out) + 1, ident))
        return out, opens

    def _element(self, piece: bytes) -> tuple[str, _Element] | None:
        tag = START_TAG.match(b"<" + piece)
        if tag is None:
            return None
        closed = tag.group().endswith(b"/>")
        name = _NAME.match(piece)
        if name is None:
            return None
        inner = b"<" + piece if closed else b"<" + piece + b"</" + name.group() + b">"
        wrapped = parsed_root(self.root + inner + self._root_end)
        if wrapped is None or not len(wrapped):
            return None
        el = wrapped[0]
        ident = el.get("id")
        if not ident or not _plain(ident):
            return None
        items = element_items(el)
        text = (el.text or "").strip()
        if not closed:
            items = {item for item in items if item[0] != "#text"}
        return ident, _Element(frozenset(items), text, tail_unknown=not closed, piece=piece)

    def _once(self, read: dict[str, _Element], idents: set[str]) -> bool:
        """Whether each of ``idents`` is written here only on the elements ``read``
        holds (once or not at all): not also on an element the pieces share."""
        if len(idents) > FEW:
            counts = self._id_counts
            return all(counts.get(i.encode(), 0) == (i in read) for i in idents)
        # Quoted anywhere (as any attribute's value, or in a text) outside the pieces
        # read is taken to be an id as well: known is only what is sure.
        for ident in idents:
            dq, sq = b'"' + ident.encode() + b'"', b"'" + ident.encode() + b"'"
            element = read.get(ident)
            inside = 0 if element is None else element.piece.count(dq) + element.piece.count(sq)
            if self.data.count(dq) + self.data.count(sq) != inside:
                return False
        return True

    @cached_property
    def _piece_set(self) -> frozenset[bytes]:
        """The distinct pieces (of the newest: made once for all the versions)."""
        return frozenset(self.pieces)

    @cached_property
    def _root_end(self) -> bytes:
        """The root's end tag."""
        name = _NAME.match(self.root, 1)
        return b"</" + (name.group() if name is not None else b"") + b">"

    @cached_property
    def _id_counts(self) -> Counter[bytes]:
        """How often each id value is written (an id's text elsewhere counts too)."""
        return Counter(dq or sq for dq, sq in _ID.findall(self.data))


def _plain(ident: str) -> bool:
    """Whether ``ident`` is written as its own bytes wherever it is written (no
    reference, no space that an attribute's value normalisation would change)."""
    return ident.isascii() and ident.isprintable() and not any(c in ident for c in "&<>\"' ")


def _saved_items(disk: bytes, idents: set[str]) -> dict[str, set[_Item]] | None:
    """The items of the elements of ``disk`` with those ids (the union where an id is
    written twice); None when ``disk`` does not parse."""
    root = parsed_root(disk)
    if root is None:
        return None
    out: dict[str, set[_Item]] = {}
    if len(idents) > FEW:
        found = [el for el in root.iter(etree.Element) if el.get("id") in idents]
    elif idents:
        names = [f"v{n}" for n in range(len(idents))]
        test = " or ".join(f"@id=${name}" for name in names)
        found = etree.XPath(f"//*[{test}]")(root, **dict(zip(names, idents, strict=True)))
    else:
        found = []
    for el in found:
        out.setdefault(str(el.get("id")), set()).update(element_items(el))
    return out


def _tails(data: bytes, idents: set[str]) -> dict[str, str] | None:
    """The stripped tails of the elements of ``data`` with those ids."""
    root = parsed_root(data)
    if root is None:
        return None
    return {
        str(el.get("id")): (el.tail or "").strip()
        for el in root.iter(etree.Element)
        if el.get("id") in idents
    }
