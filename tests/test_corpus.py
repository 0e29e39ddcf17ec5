"""Every file of the shared corpus: clean load or clean refusal, exact round trip, minimal edit.

The corpus lives outside the project (``../shared/corpus``) and is read, never copied.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from lxml import etree

from svgx_sync.core.svgdoc import SvgDocument, is_element
from svgx_sync.errors import DocumentError

CORPUS = Path(__file__).parents[1] / ".." / "shared" / "corpus"
FOLDERS = ["resvg", "w3c-svg11"]


def shape(el: etree._Element) -> tuple[object, ...]:
    return (
        el.tag,
        dict(el.attrib),
        el.text,
        el.tail if el.getparent() is not None else None,
        [shape(c) for c in el if is_element(c)],
    )


def start_tag_lines(source: str, doc: SvgDocument, el: etree._Element) -> set[int]:
    span = doc.spans[el]
    first = source.count("\n", 0, span.start)
    last = source.count("\n", 0, span.stag_end - 1)
    return set(range(first, last + 1))


def middle_element(doc: SvgDocument) -> etree._Element:
    elements = [el for el in doc.elements() if el is not doc.root] or [doc.root]
    return elements[len(elements) // 2]


def check_file(path: Path) -> str | None:
    """None when the file behaves, else what went wrong."""
    data = path.read_bytes()
    try:
        doc = SvgDocument(data, name=path.name)
    except DocumentError:
        return None  # a clean refusal
    except Exception as exc:  # any other exception is the failure we report
        return f"load raised {exc!r}"
    if doc.to_bytes() != data:
        return "unchanged round trip differs"
    # The root's start tag read past the prolog alone is where the whole map puts it.
    unmapped = SvgDocument(data).root_start_tag()
    if unmapped != (doc.spans[doc.root].start, doc.spans[doc.root].stag_end):
        return f"root start tag read at {unmapped}, mapped elsewhere"
    target = middle_element(doc)
    lines = start_tag_lines(doc.source, doc, target)
    expected = SvgDocument(data)
    middle_element(expected).set("data-svgx", "1")
    doc.set_attribute(target, "data-svgx", "1")
    out = doc.to_bytes()
    try:
        again = SvgDocument(out)
    except DocumentError as exc:
        return f"edited output does not parse: {exc}"
    if shape(again.root) != shape(expected.root):
        return "edited output parses to another tree"
    before, after = doc.source.splitlines(), doc.render().splitlines()
    touched = {
        i
        for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(
            None, before, after, autojunk=False
        ).get_opcodes()
        if tag != "equal"
        for i in range(i1, max(i2, i1 + 1))
    }
    if not touched <= lines:
        return f"edit touched lines {sorted(touched - lines)[:5]} outside the start tag {sorted(lines)}"
    return None


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_corpus_file(folder: str) -> None:
    root = CORPUS / folder
    if not root.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS.resolve()}")
    files = sorted(root.rglob("*.svg"))
    assert files, f"no SVG files under {root}"
    failures = [f"{p.relative_to(CORPUS)}: {problem}" for p in files if (problem := check_file(p))]
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} of {len(files)} files)"
