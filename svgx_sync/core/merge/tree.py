"""Each version's elements by key, the identity that lines the three versions up.

An element's key is ``("id", id)`` when it has an id that is unique in all three
versions, otherwise a positional key under its parent's key, found by aligning the
id-less children of matched parents on their tag, attributes and text (the same tag in
order when the content changed).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from lxml import etree

from ..svgdoc import SvgDocument, is_element
from .style import style_of

__all__ = [
    "ROOT",
    "Key",
    "Node",
    "Tree",
    "align",
    "attr_state",
    "deep",
    "markup",
    "norm",
    "shallow",
]


Key = tuple[Any, ...]
ROOT: Key = ("root",)


def norm(text: str | None) -> str:
    """Text that is only whitespace is formatting, not content."""
    return text if text and not text.isspace() else ""


def shallow(el: Any) -> tuple[Any, ...]:
    return (el.tag, tuple(sorted(el.attrib.items())), norm(el.text))


def deep(el: Any) -> tuple[Any, ...]:
    return (shallow(el), tuple(deep(c) for c in el if is_element(c)))


@dataclass(slots=True)
class Node:
    key: Key
    el: Any
    parent: Key | None
    children: list[Key]

    @property
    def tag(self) -> str:
        return str(self.el.tag)

    @property
    def attrs(self) -> dict[str, str]:
        return dict(self.el.attrib)

    @property
    def text(self) -> str:
        return norm(self.el.text)

    @property
    def tail(self) -> str:
        return norm(self.el.tail)


class Tree:
    """One version's elements by key."""

    def __init__(self, doc: SvgDocument) -> None:
        self.doc = doc
        self.nodes: dict[Key, Node] = {}
        self.key_of: dict[Any, Key] = {}
        self._signatures: dict[Key, tuple[Any, ...]] = {}

    def shallow(self, key: Key) -> tuple[Any, ...]:
        """:func:`_shallow` of an element, computed once (for the base, which never changes)."""
        sig = self._signatures.get(key)
        if sig is None:
            sig = self._signatures[key] = shallow(self.nodes[key].el)
        return sig

    @classmethod
    def build(
        cls,
        doc: SvgDocument,
        base: Tree | None,
        side: str,
        unusable: frozenset[str],
        alias: dict[Key, Key] | None = None,
    ) -> Tree:
        """Key every element of ``doc``: by id unless ``unusable``, else by position,
        aligned with ``base``'s children when given (``alias`` renames new keys)."""
        tree = cls(doc)
        nodes, key_of = tree.nodes, tree.key_of
        root = nodes[ROOT] = Node(ROOT, doc.root, None, [])
        key_of[doc.root] = ROOT
        stack = [root]
        alias = alias or {}
        while stack:
            pnode = stack.pop()
            if not len(pnode.el):
                continue  # a leaf: nothing to key
            pkey = pnode.key
            kids = list(pnode.el.iterchildren(etree.Element))
            keys = _child_keys(kids, pkey, base, side, unusable, alias)
            children = pnode.children
            for child, key in zip(kids, keys, strict=True):
                if key in nodes:  # cannot happen with unique ids; never lose an element
                    key = ("dup", key, id(child))
                node = nodes[key] = Node(key, child, pkey, [])
                key_of[child] = key
                children.append(key)
                stack.append(node)
        return tree

    def __contains__(self, key: object) -> bool:
        return key in self.nodes

    def parent(self, key: Key) -> Key | None:
        return self.nodes[key].parent

    def subtree(self, key: Key) -> Iterator[Key]:
        stack = [key]
        while stack:
            k = stack.pop()
            yield k
            stack.extend(reversed(self.nodes[k].children))

    def address(self, key: Key) -> str:
        if key[0] == "id":
            return str(key[1])
        return self.doc.address_of(self.nodes[key].el)

    def markup(self, key: Key) -> str:
        return markup(self.nodes[key].el)

    def states(self) -> set[tuple[Any, ...]]:
        """What an element-level comparison sees: per key, its content and parent."""
        return {(k, n.tag, attr_state(n.attrs), n.text, n.parent) for k, n in self.nodes.items()}


def _child_keys(
    kids: list[Any],
    pkey: Key,
    base: Tree | None,
    side: str,
    unusable: frozenset[str],
    alias: dict[Key, Key],
) -> list[Key]:
    """The keys of one parent's element children: ids first; the others by position,
    matched to base's positional children of the same parent where they align."""
    keys: list[Key | None] = [None] * len(kids)
    loose: list[int] = []
    for i, child in enumerate(kids):
        ident = child.get("id")
        if ident is not None and ident not in unusable:
            keys[i] = ("id", ident)
        else:
            loose.append(i)
    if loose:
        bnode = base.nodes.get(pkey) if base is not None else None
        counts: dict[str, int] = {}
        if bnode is None:
            for i in loose:
                tag = kids[i].tag
                keys[i] = ("pos", pkey, tag, counts.get(tag, 0))
                counts[tag] = counts.get(tag, 0) + 1
        else:
            assert base is not None
            bkeys = [k for k in bnode.children if k[0] == "pos"]
            matched = align([base.shallow(k) for k in bkeys], [shallow(kids[i]) for i in loose])
            for j, i in enumerate(loose):
                b = matched.get(j)
                if b is not None:
                    keys[i] = bkeys[b]
                else:
                    tag = kids[i].tag
                    new = ("new", side, pkey, tag, counts.get(tag, 0))
                    counts[tag] = counts.get(tag, 0) + 1
                    keys[i] = alias.get(new, new)
    return [k for k in keys if k is not None]


def attr_state(attrs: dict[str, str]) -> tuple[Any, ...]:
    out = []
    for k, v in sorted(attrs.items()):
        out.append((k, tuple(sorted(style_of(v).items())) if k == "style" else v))
    return tuple(out)


def align(base: list[Any], side: list[Any]) -> dict[int, int]:
    """Pair id-less children: equal content first, then the same tag in order."""
    out: dict[int, int] = {}
    sm = SequenceMatcher(None, base, side, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            for n in range(i2 - i1):
                out[j1 + n] = i1 + n
        elif op == "replace":
            i = i1
            for j in range(j1, j2):
                for b in range(i, i2):
                    if base[b][0] == side[j][0]:
                        out[j] = b
                        i = b + 1
                        break
    return out


def markup(el: Any) -> str:
    clone = copy.deepcopy(el)
    clone.tail = None
    text: str = etree.tostring(clone, encoding="unicode")
    return text
