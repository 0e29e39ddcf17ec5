"""Where a child sits among many siblings, without walking the ones before it.

libxml2 keeps a parent's children as a linked list: lxml's ``parent.index(child)``,
``parent[i]`` and ``insert(i, ...)`` walk it from the first child. On a flat drawing (a
CAD export: every element a child of the root) a delete or a move reads its element's
place for the inverse operation, and that walk was the whole cost: at 561k children,
about 100 ms on the event loop per delete in the middle.

:class:`Siblings` mirrors one parent's child nodes (elements and the comments,
instructions and entities lxml counts with them) in blocks of about :data:`BLOCK`, each
node mapped to its block. A position is its block's start plus its place in the block;
the starts are summed again only from the first block that changed, when next asked.
The document (:class:`~svgx_sync.core.svgdoc.SvgDocument`) keeps one for each parent
whose children it found many of (:data:`INDEXED_FROM`), and tells it of every child it
inserts or removes there: it is the one place the live tree's structure changes.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from .xmltext import OTHER_CHILDREN, is_element

__all__ = ["BLOCK", "INDEXED_FROM", "Siblings"]

INDEXED_FROM = 2048
"""A parent gets a :class:`Siblings` once a walk to one of its children passed this
many: below it, lxml's walk in C costs less than keeping the blocks up to date."""

BLOCK = 512
"""Nodes per block as built; a block that grows to twice this is split."""


class _Block:
    __slots__ = ("estart", "items", "ordinal", "others", "start")

    def __init__(self, items: list[Any], others: int | None = None) -> None:
        self.items = items
        # Comments and the like among them (reading a node's tag costs: counted once).
        self.others = sum(1 for node in items if not is_element(node)) if others is None else others
        self.start = 0  # node index of items[0]
        self.estart = 0  # element index of its first element
        self.ordinal = 0  # its place in the list of blocks


class Siblings:
    """One parent's child nodes in order, in blocks (see the module docstring)."""

    def __init__(self, parent: Any) -> None:
        nodes = list(parent)
        # Found in lxml's C code: most parents hold no comment, and no tag is read then.
        others = set(parent.iterchildren(*OTHER_CHILDREN))
        self._blocks = []
        for i in range(0, len(nodes), BLOCK):
            items = nodes[i : i + BLOCK]
            self._blocks.append(_Block(items, len(others.intersection(items)) if others else 0))
        if not self._blocks:
            self._blocks.append(_Block([], 0))
        self._of: dict[Any, _Block] = {}
        for block in self._blocks:
            self._of.update(dict.fromkeys(block.items, block))
        self._stale = 0  # the first block whose start may be wrong
        self._renumber(0)

    # -- reading ----------------------------------------------------------------------

    def position(self, node: Any) -> tuple[int, int]:
        """``node``'s index among all child nodes, and among the element children (what
        ``parent.index(node)`` and :func:`~.xmltext.index_among_elements` answer)."""
        block = self._of[node]
        self._sum_to(block.ordinal)
        i = block.items.index(node)
        before = block.items[:i]
        others = sum(1 for n in before if not is_element(n)) if block.others else 0
        return block.start + i, block.estart + i - others

    def node_at(self, index: int) -> Any:
        """The child node at ``index`` (``parent[index]``), or None past the last."""
        self._sum_to(len(self._blocks) - 1)
        k = bisect_right([b.start for b in self._blocks], index) - 1
        block = self._blocks[max(k, 0)]
        i = index - block.start
        return block.items[i] if 0 <= i < len(block.items) else None

    def element_at(self, index: int) -> Any:
        """The ``index``-th element child, or None past the last."""
        self._sum_to(len(self._blocks) - 1)
        k = bisect_right([b.estart for b in self._blocks], index) - 1
        for block in self._blocks[max(k, 0) :]:
            if not block.others:
                i = index - block.estart
                if 0 <= i < len(block.items):
                    return block.items[i]
                continue
            seen = block.estart
            for node in block.items:
                if is_element(node):
                    if seen == index:
                        return node
                    seen += 1
        return None

    # -- changes ----------------------------------------------------------------------

    def inserted(self, node: Any, before: Any) -> None:
        """``node`` was put just before the child ``before`` (None: after the last)."""
        if before is None:
            block = self._blocks[-1]
            block.items.append(node)
        else:
            block = self._of[before]
            block.items.insert(block.items.index(before), node)
        self._of[node] = block
        if not is_element(node):
            block.others += 1
        k = block.ordinal
        if len(block.items) >= 2 * BLOCK:
            half = len(block.items) // 2
            tail = _Block(block.items[half:])
            del block.items[half:]
            block.others -= tail.others
            for moved in tail.items:
                self._of[moved] = tail
            self._blocks.insert(k + 1, tail)
            self._renumber(k + 1)
        else:
            self._stale = min(self._stale, k + 1)

    def removed(self, node: Any) -> None:
        """``node`` was taken out of the parent."""
        block = self._of.pop(node)
        i = block.items.index(node)
        del block.items[i]
        if not is_element(node):
            block.others -= 1
        k = block.ordinal
        if not block.items and len(self._blocks) > 1:
            del self._blocks[k]
            self._renumber(k)
        else:
            self._stale = min(self._stale, k + 1)

    # -- the starts ---------------------------------------------------------------------

    def _renumber(self, k: int) -> None:
        """The blocks from the ``k``-th on have new places in the list, and new starts."""
        for j in range(k, len(self._blocks)):
            self._blocks[j].ordinal = j
        self._stale = min(self._stale, k)

    def _sum_to(self, k: int) -> None:
        """Make the starts of the blocks up to the ``k``-th true."""
        j = self._stale
        if j > k:
            return
        blocks = self._blocks
        if j == 0:
            start = estart = 0
        else:
            prev = blocks[j - 1]
            start = prev.start + len(prev.items)
            estart = prev.estart + len(prev.items) - prev.others
        for block in blocks[j : k + 1]:
            block.start, block.estart = start, estart
            start += len(block.items)
            estart += len(block.items) - block.others
        self._stale = k + 1
