"""Namespace bindings as a file's text makes them, while it is being edited.

lxml's own bindings are not used for writing: its calls move declarations around in ways
the text does not follow. :class:`TextBindings` keeps, per element, what its start tag
declares in the source and what edits added, so that every name the writer puts out
uses a binding in scope where it is written, and no prefix is written undeclared or
declared twice. A namespace an edit brings in is declared once, on the root, under the
prefix its source used (or its usual one, or a fresh ``nsN``), never a prefix bound to
another namespace anywhere in the file, so no declaration below can shadow it.
"""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING, Any

from lxml import etree

from ..errors import DocumentError
from .namespaces import KNOWN_PREFIXES, XML_NS
from .xmltext import DECLARATION, declaration, declared, is_element

if TYPE_CHECKING:
    from .svgdoc import SvgDocument

__all__ = ["TextBindings"]

Bindings = dict[str | None, str]

_NCNAME = re.compile(r"^[A-Za-z_][\w.\-]*$")


class TextBindings:
    """The bindings of one document's text: the source's and those edits added."""

    def __init__(self, doc: SvgDocument) -> None:
        # Not a reference: a document and its bindings in a cycle would keep a dropped
        # document's whole tree alive until the collector's rare full pass.
        self._doc = weakref.ref(doc)
        self.added: dict[Any, Bindings] = {}  # declarations to write, per start tag
        self._in_source: dict[Any, Bindings] = {}  # cache of each start tag's own
        self._scope_before: dict[Any, Bindings] = {}  # of removed elements
        # prefix -> namespaces, of every declaration in the source (read once per source)
        self._source_prefixes: tuple[str, dict[str, frozenset[str]]] | None = None

    @property
    def doc(self) -> SvgDocument:
        doc = self._doc()
        assert doc is not None, "the bindings of a document that is gone"
        return doc

    def clear(self) -> None:
        """Forget the edits' declarations (they are in the source now)."""
        self.added.clear()
        self._in_source.clear()
        self._scope_before.clear()
        self._source_prefixes = None  # not to hold an old source's text

    def scope(self, el: Any) -> Bindings:
        """The bindings in scope at ``el`` as the text (being) written has them: the
        declarations of its start tag and its ancestors', with those edits added."""
        chain = [el, *el.iterancestors()]
        out: Bindings = {}
        for node in reversed(chain):
            out.update(self.declarations(node))
        return out

    def declarations(self, el: Any) -> Bindings:
        """What ``el``'s start tag declares: its source's, and those added by edits."""
        own = self._in_source.get(el)
        if own is None:
            doc = self.doc
            if el is doc.root:  # read without mapping the whole source
                start, end = doc.root_start_tag()
                own = declared(doc.source[start:end])
            else:
                span = doc.spans.get(el)
                own = {} if span is None else declared(doc.source[span.start : span.stag_end])
            self._in_source[el] = own
        added = self.added.get(el)
        return {**own, **added} if added else own

    def qname(self, el: Any, key: str, *, attr: bool = False) -> str:
        """The prefixed name for lxml's ``key`` at ``el``, by a binding in scope there (which
        the text declares too): the default namespace for elements, else the usual
        prefix, else any other prefix bound to it."""
        if not key.startswith("{"):
            return key
        qn = etree.QName(key)
        ns, local = qn.namespace, qn.localname
        if ns == XML_NS:
            return f"xml:{local}"
        nsmap = self.scope(el)
        if not attr and nsmap.get(None) == ns:
            return local
        usual = KNOWN_PREFIXES.get(ns) if ns is not None else None
        if usual is not None and nsmap.get(usual) == ns:
            return f"{usual}:{local}"
        for prefix, uri in nsmap.items():
            if uri == ns and prefix is not None:
                return f"{prefix}:{local}"
        raise DocumentError(f"{self.doc.name}: no prefix in scope for {key} (a bug: not written)")

    def bind(self, el: Any, ns: str | None, hint: str | None, *, tag: bool = False) -> None:
        """Make ``ns`` usable at ``el`` by a prefix (for a ``tag`` the default namespace
        does too): when it is not in scope, it is declared on the root under a prefix
        that binds nothing else anywhere in the file, so that no declaration below can
        shadow it."""
        if ns is None or ns == XML_NS:
            return
        if any(u == ns and (p is not None or tag) for p, u in self.scope(el).items()):
            return
        prefix = _free_prefix(ns, hint, self._all_bindings())
        doc = self.doc
        root = doc.root
        self.added.setdefault(root, {})[prefix] = ns
        doc.edits.attributes.setdefault(root, dict(root.attrib))
        doc.size_bound += doc.bytes_of(declaration(prefix, ns)) + 1

    def _all_bindings(self) -> dict[str, set[str]]:
        """prefix -> the namespaces it is bound to anywhere in the text being written."""
        bound = {p: set(u) for p, u in self._declared_in_source().items()}
        for decls in self.added.values():
            for p, u in decls.items():
                if p is not None:
                    bound.setdefault(p, set()).add(u)
        return bound

    def _declared_in_source(self) -> dict[str, frozenset[str]]:
        """prefix -> the namespaces it is bound to anywhere in the source: the whole text
        is read once per source, not once per namespace an edit brings."""
        source = self.doc.source
        cached = self._source_prefixes
        if cached is not None and cached[0] is source:
            return cached[1]
        found: dict[str, set[str]] = {}
        for match in DECLARATION.finditer(source):
            if match.group(1):
                found.setdefault(match.group(1), set()).add(match.group(2) or match.group(3) or "")
        prefixes = {p: frozenset(u) for p, u in found.items()}
        self._source_prefixes = (source, prefixes)
        return prefixes

    def bind_new(self, el: Any) -> None:
        """Bind the names of a new subtree where it now sits.

        An element in a default namespace other than the one in scope declares it itself
        (as its source did); any other namespace missing is declared on the root, under
        the prefix the subtree's source used for it. Elements inside that the file
        already has keep their text and their bindings (:meth:`keep`), also when the new
        element carries them out of the scope they were moved into it from.
        """
        spans = self.doc.spans
        pending = [el]
        while pending:
            node = pending.pop()
            if node is not el and node in spans:
                self.keep(node)  # moved in earlier: its text needs the scope it had then
                continue
            self.added.pop(node, None)
            ns = etree.QName(node).namespace
            scope = self.scope(node)
            if ns is not None and ns != XML_NS:
                if scope.get(None) != ns and not any(p and u == ns for p, u in scope.items()):
                    if node.prefix is None:
                        self.added[node] = {None: ns}
                    else:
                        self.bind(node, ns, node.prefix, tag=True)
            elif ns is None and scope.get(None):
                self.added[node] = {None: ""}  # xmlns="": in no namespace
            for key in node.attrib:
                if key.startswith("{"):
                    ans = etree.QName(key).namespace
                    hint = next((p for p, u in node.nsmap.items() if p and u == ans), None)
                    self.bind(node, ans, hint)
            pending.extend(c for c in reversed(node) if is_element(c))

    def leaving(self, el: Any, parent: Any) -> None:
        """``el`` is taken out from under ``parent``: remember what its text was written
        for, in case it comes back elsewhere (:meth:`keep`)."""
        self._scope_before[el] = self.scope(parent)

    def keep(self, el: Any) -> None:
        """A spanned element back in the tree (moved, or a removal undone): its text was
        written for the bindings it had; those the new place lacks go on its start tag."""
        before = self._scope_before.get(el)
        if before is None:
            return
        own = self.declarations(el)
        parent = el.getparent()
        now = self.scope(parent) if parent is not None else {}
        missing = {p: u for p, u in before.items() if p not in own and now.get(p) != u}
        if None in now and None not in before and None not in own:
            missing[None] = ""
        if missing:
            self.added.setdefault(el, {}).update(missing)
            self.doc.edits.attributes.setdefault(el, dict(el.attrib))
            written = " ".join(declaration(p, u) for p, u in missing.items())
            self.doc.size_bound += self.doc.bytes_of(written) + 1


def _free_prefix(ns: str, hint: str | None, bound: dict[str, set[str]]) -> str:
    """A prefix for ``ns`` that binds nothing else anywhere in the document: ``hint``, the
    usual one, or ``ns1``, ``ns2``..."""

    def free(p: str | None) -> bool:
        return (
            p is not None
            and bool(_NCNAME.match(p))
            and not p.lower().startswith("xml")
            and bound.get(p, {ns}) == {ns}
        )

    elsewhere = sorted(p for p, uris in bound.items() if ns in uris)
    for candidate in (hint, KNOWN_PREFIXES.get(ns), *elsewhere):
        if free(candidate):
            return candidate  # type: ignore[return-value]
    n = 1
    while not free(f"ns{n}"):
        n += 1
    return f"ns{n}"
