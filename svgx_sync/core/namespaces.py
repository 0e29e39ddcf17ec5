"""Namespaces and the two spellings of a namespaced attribute name.

The wire and the SVG text name an attribute ``prefix:local`` (``xlink:href``); lxml keys
it ``{namespace}local``. This module holds the namespaces svgx_sync knows, their usual
prefixes, and the conversions both ways:

- :func:`attribute_name` (lxml key to wire name) uses a prefix bound where the
  attribute is, so the name it gives can be written there as it is.
- :func:`clark` (prefixed name to lxml key) looks the prefix up in the bindings it is
  given, in order; each reader passes its own: the writer only the scope of the tag it
  reads, the merge the element's bindings and then the usual prefixes, and
  :func:`attribute_key` (an operation's names) the operation's own ``namespaces``, the
  scope at the element and the usual prefixes, refusing a prefix none of them binds.
- ``xml:`` always means the XML namespace and needs no declaration; only the first
  colon separates prefix and local name.

Pure: no I/O, and no pydantic, since git's merge driver imports this per merged file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import OperationError

if TYPE_CHECKING:
    from .svgdoc import SvgDocument

__all__ = [
    "CC_NS",
    "DC_NS",
    "INKSCAPE_NS",
    "KNOWN_PREFIXES",
    "RDF_NS",
    "SODIPODI_NS",
    "SVGX_NS",
    "SVG_NS",
    "USUAL_NAMESPACES",
    "XLINK_NS",
    "XML_NS",
    "attribute_key",
    "attribute_name",
    "clark",
    "namespaces_of",
]

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
SVGX_NS = "https://svgx-sync.dev/ns/1"
"""Our namespace, for constraints, assemblies and merge-conflict marks inside SVG files."""
SODIPODI_NS = "http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"
INKSCAPE_NS = "http://www.inkscape.org/namespaces/inkscape"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
CC_NS = "http://creativecommons.org/ns#"
DC_NS = "http://purl.org/dc/elements/1.1/"

KNOWN_PREFIXES = {
    SVGX_NS: "svgx",
    XLINK_NS: "xlink",
    XML_NS: "xml",
    SODIPODI_NS: "sodipodi",
    INKSCAPE_NS: "inkscape",
    RDF_NS: "rdf",
    CC_NS: "cc",
    DC_NS: "dc",
}
"""Namespaces with a usual prefix: an operation may name their attributes by it
(``inkscape:label``) whether or not the file declares it yet; Inkscape writes all of them."""

USUAL_NAMESPACES: Mapping[str, str] = {prefix: ns for ns, prefix in KNOWN_PREFIXES.items()}
""":data:`KNOWN_PREFIXES` the other way: the namespace each usual prefix stands for."""


def clark(name: str, *bindings: Mapping[str, str] | Mapping[str | None, str]) -> str | None:
    """lxml's key for ``prefix:local``, the prefix looked up in each of ``bindings`` in
    turn; None when none binds it. A name without a colon is its own key."""
    if ":" not in name:
        return name
    prefix, local = name.split(":", 1)
    if prefix == "xml":
        return f"{{{XML_NS}}}{local}"
    ns = next((found for scope in bindings if (found := scope.get(prefix))), None)
    return None if ns is None else f"{{{ns}}}{local}"


def attribute_name(doc: SvgDocument, el: Any, key: str) -> str:
    """The wire name (``xlink:href``) of lxml's ``key`` at ``el``, where its namespace is
    in scope: the usual prefix if it is bound there, else the one the document uses."""
    if not key.startswith("{"):
        return key
    ns, local = key[1:].split("}", 1)
    if ns == XML_NS:
        return f"xml:{local}"
    nsmap = doc.scope(el)
    usual = KNOWN_PREFIXES.get(ns)
    if usual is not None and nsmap.get(usual, ns) == ns:
        return f"{usual}:{local}"
    prefix = next((p for p, u in nsmap.items() if p and u == ns), None)
    if prefix is None:
        raise OperationError(f"namespace {ns} is not declared where {key} is")
    return f"{prefix}:{local}"


def namespaces_of(doc: SvgDocument, el: Any, keys: Iterable[str]) -> dict[str, dict[str, str]]:
    """``{"namespaces": {prefix: uri}}`` for the names :func:`attribute_name` gives these
    keys whose prefix is not the usual one of their namespace; ``{}`` when there is none.

    Sent along with ``attributes`` so that a document that does not declare the prefix
    (yet) still knows the namespace meant."""
    bindings: dict[str, str] = {}
    for key in keys:
        if key.startswith("{"):
            ns = key[1:].split("}", 1)[0]
            prefix = attribute_name(doc, el, key).split(":", 1)[0]
            if ns != XML_NS and KNOWN_PREFIXES.get(ns) != prefix:
                bindings[prefix] = ns
    return {"namespaces": bindings} if bindings else {}


def attribute_key(
    doc: SvgDocument | None, el: Any, name: str, namespaces: Mapping[str, str] | None = None
) -> str:
    """The lxml key (``{ns}local``) for an attribute named as in the wire (``xlink:href``).

    The prefix means what ``namespaces`` (the operation's ``data.namespaces``) binds it
    to, else what it is bound to at ``el``, else its usual namespace
    (:data:`KNOWN_PREFIXES`); one that none binds is refused."""
    scope = doc.scope(el) if doc is not None else el.nsmap
    key = clark(name, namespaces or {}, scope, USUAL_NAMESPACES)
    if key is None:
        raise OperationError(
            f"unknown namespace prefix in attribute {name!r}: declare it in data.namespaces"
        )
    return key
