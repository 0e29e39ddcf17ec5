"""A file as a checker sees it: every element with an id (and the root) by key.

Formatting (quotes, attribute order, indentation, namespace declarations, line endings)
is not part of it, so two files with the same elements and attributes compare equal.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

EXISTS = "#exists"
ROOT = "/"

Key = tuple[str, str]
"""(element id, or "/" for the root; an attribute in Clark notation, or "#exists")"""


def keys_of(data: bytes) -> dict[Key, Any]:
    """Every element with an id (and the root), by key: existence and attributes."""
    root = etree.fromstring(data)
    out: dict[Key, Any] = {}
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        ident = ROOT if el is root else el.get("id")
        if ident is None:
            continue
        out[(ident, EXISTS)] = True
        for name, value in el.attrib.items():
            if name != "id":
                out[(ident, name)] = value
    return out


def key_changes(old: bytes, new: bytes) -> dict[Key, Any]:
    """What changed from ``old`` to ``new``, key by key (None: gone)."""
    before, after = keys_of(old), keys_of(new)
    return {k: after.get(k) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
