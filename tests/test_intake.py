"""What is taken in as an SVG file: pure, bytes in, a verdict out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from corpus import CORPUS
from samples import BASE

from svgx_sync.core import intake
from svgx_sync.core.intake import Verdict, screen_svg

SVGO = Path(__file__).parent.parent / "fixtures" / "tools" / "svgo-strip"


@pytest.mark.parametrize(
    "data",
    [
        BASE,
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
        b'<svg xmlns="http://www.w3.org/2000/svg"/>',
        b'<?xml version="1.0" encoding="windows-1252"?>'
        b'<svg xmlns="http://www.w3.org/2000/svg"><title>\xe9</title></svg>',
        b'<?xml version="1.0" encoding="shift_jis"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        "<?xml version='1.0' encoding='UTF-16'?><svg xmlns='http://www.w3.org/2000/svg'/>".encode(
            "utf-16"
        ),
    ],
    ids=["plain", "public-doctype", "windows-1252", "shift-jis", "utf-16"],
)
def test_svg_files_are_taken_in(data: bytes) -> None:
    assert screen_svg(data).verdict is Verdict.SVG


def test_svg_files_rewritten_by_svgo_are_taken_in() -> None:
    for name in ("before.svg", "after.svg"):
        assert screen_svg((SVGO / name).read_bytes()).verdict is Verdict.SVG


def test_a_file_cut_short_anywhere_is_incomplete_not_rejected() -> None:
    richer = BASE.replace(
        b"</svg>",
        "  <!-- é -->\n  <style><![CDATA[ rect {} ]]></style><text>&amp;é</text>\n</svg>".encode(),
    )
    for cut in range(len(richer.rstrip())):  # up to the last byte of the end tag
        screening = screen_svg(richer[:cut])
        assert screening.verdict is Verdict.INCOMPLETE, (cut, richer[:cut], screening)


ENTITIES = (
    b'<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY who "world">]>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>&who;</text></svg>'
)
LAUGHS = (
    b'<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><svg xmlns="http://www.w3.org/2000/svg">&c;</svg>'
)
XHTML = b'<html xmlns="http://www.w3.org/1999/xhtml"><body><svg xmlns="http://www.w3.org/2000/svg"/></body></html>'
HTML = b"<!DOCTYPE html>\n<html><head><title>Page</title></head><body><p>Hi<br></p></body></html>\n"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (bytes(range(255, -1, -1)) * 4, "not well-formed"),
        (b"hello, world\n", "not well-formed"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><g></svg>', "not well-formed"),
        (ENTITIES, "entity declarations"),
        (ENTITIES[:60], "entity declarations"),
        (LAUGHS, "entity declarations"),
        (XHTML, "root element is <{http://www.w3.org/1999/xhtml}html>"),
        (HTML, "root element is <html>"),
        (HTML[:40], "root element is <html>"),
        (b"<svg><rect/></svg>", "root element is <svg>, not an SVG <svg>"),
        (BASE + b"<svg/>", "not well-formed"),
    ],
    ids=[
        "random-bytes",
        "text",
        "mismatched-tag",
        "entities",
        "entities-cut-short",
        "billion-laughs",
        "xhtml-page",
        "html-page",
        "html-page-cut-short",
        "no-namespace",
        "two-roots",
    ],
)
def test_what_is_not_an_svg_file_is_rejected_with_the_reason(data: bytes, why: str) -> None:
    screening = screen_svg(data)
    assert screening.verdict is Verdict.REJECTED
    assert why in screening.reason


def test_size_and_depth_are_bounded() -> None:
    assert "larger than 100 bytes" in screen_svg(BASE, max_bytes=100).reason
    deep = b'<svg xmlns="http://www.w3.org/2000/svg">' + b"<g>" * 5 + b"</g>" * 5 + b"</svg>"
    assert screen_svg(deep, max_depth=6).verdict is Verdict.SVG
    assert "nested deeper than 5" in screen_svg(deep, max_depth=5).reason


def test_an_empty_file_is_incomplete() -> None:
    assert screen_svg(b"").verdict is Verdict.INCOMPLETE
    assert screen_svg(b"\n  \n").verdict is Verdict.INCOMPLETE


# -- the quick pass agrees with the full one ---------------------------------------------


def _full_pass(data: bytes, monkeypatch: pytest.MonkeyPatch, **limits: Any) -> Verdict:
    with monkeypatch.context() as patched:
        patched.setattr(intake, "_plainly_svg", lambda _data, _depth: False)
        return screen_svg(data, **limits).verdict


TRICKY = [
    b'<svg xmlns="http://www.w3.org/2000/svg"><!-- a << b </g> --><g><rect/></g></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><style><![CDATA[ a < b </g> ]]></style></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><text title="a>b/>">x > y /></text></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><?pi a < b?><g/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><g><g><g><rect/></g></g></g></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><g><g><g><g/></g></g></g></svg>',
    b'<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY a "b">]>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
    b'<html xmlns="http://www.w3.org/1999/xhtml"><svg xmlns="http://www.w3.org/2000/svg"/></html>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><g></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><g>',
    # What the documents' parser and expat must agree on, beyond the root's start tag.
    b'<svg xmlns="http://www.w3.org/2000/svg"><a:g/></svg>',  # a prefix never declared
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>&who;</text></svg>',  # no such entity
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>&#0;</text></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>&#x1F600;&lt;&#60;</text></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><rect x="1" x="2"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:a="urn:a"><g a:x="1" a:x="2"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:a="urn:a" xmlns:b="urn:a">'
    b'<g a:x="1" b:x="2"/></svg>',  # one attribute twice, under two prefixes
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:a="urn:a"><g xmlns:a=""/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><g xml:space="preserve"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><g xmlns:xml="urn:other"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><1g/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>\x01</text></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>\xff\xfe</text></svg>',  # not UTF-8
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>]]></text></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><!-- a -- b --></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"/>trailing text',
    b'<svg xmlns="http://www.w3.org/2000/svg"/><!-- after --><?pi after?>',
    b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?><svg xmlns="http://www.w3.org/2000/svg"/>',
    b' <?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
    b'<?xml version="1.1"?><svg xmlns="http://www.w3.org/2000/svg"><text>&#1;</text></svg>',
    b'<?xml version="1.0" standalone="yes"?><svg xmlns="http://www.w3.org/2000/svg"/>',
    b'<?xml version="1.0" encoding="ISO-8859-1"?><svg xmlns="http://www.w3.org/2000/svg">'
    b"<title>\xe9</title></svg>",
    b'<!DOCTYPE svg SYSTEM "svg.dtd"><svg xmlns="http://www.w3.org/2000/svg">&who;</svg>',
    b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "svg11.dtd">'
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>&nbsp;&amp;</text></svg>',
    b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "svg11.dtd">'
    b'<svg xmlns="http://www.w3.org/2000/svg"><a:g/></svg>',
    b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "svg11.dtd">'
    b'<svg xmlns="http://www.w3.org/2000/svg"><g>',
    b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "svg11.dtd">'
    b'<html xmlns="http://www.w3.org/1999/xhtml"/>',
    # The root's start tag past the first prefixes the head pass is fed, and across them.
    b"<!--" + b"x" * 5000 + b'--><svg xmlns="http://www.w3.org/2000/svg"/>',
    b"<?pi " + b"x" * 4090 + b'?><svg xmlns="http://www.w3.org/2000/svg" width="1"/>',
    b"<!--" + b"x" * 30000 + b'--><html xmlns="http://www.w3.org/1999/xhtml"/>',
    b"<!--" + b"x" * 30000 + b"-->",
]


@pytest.mark.parametrize("depth", [3, 4, 5, 256, None])
def test_the_quick_pass_gives_the_full_pass_verdict(
    depth: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None: the nesting left to the caller, as a save is judged (not read from the text).
    limits = {"max_depth": depth} if depth is not None else {"nesting": False}
    for data in TRICKY:
        full = _full_pass(data, monkeypatch, **limits)
        assert screen_svg(data, **limits).verdict is full, data


def test_the_quick_pass_agrees_on_the_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS.resolve()}")
    quick = 0
    for path in sorted(CORPUS.rglob("*.svg")):
        data = path.read_bytes()
        for depth in (4, 256, None):
            if not data.strip():
                continue
            limits = {"max_depth": depth} if depth is not None else {"nesting": False}
            assert screen_svg(data, **limits).verdict is _full_pass(data, monkeypatch, **limits), (
                path
            )
            quick += intake._plainly_svg(data, depth)
    assert quick  # the quick pass took most files in


def test_the_quick_pass_vouches_for_plain_files_and_public_doctypes() -> None:
    """The full pass is expat's, which holds Python's lock over a whole big save; the
    quick one reads it with libxml2, which does not."""
    public = BASE.replace(
        b"?>\n",
        b'?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n',
        1,
    )
    for data in (BASE, public):
        assert intake._plainly_svg(data, None)
        assert intake._plainly_svg(data, 256)
    assert not intake._plainly_svg(ENTITIES, None)  # entity declarations: the full pass


def test_a_file_cut_short_is_not_read_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """An editor's save caught mid-write goes to the full pass at once, which tells that
    its end is missing: libxml2 would read it all first, only to fail at the end."""
    read: list[bytes] = []
    monkeypatch.setattr(intake, "well_formed", lambda data: read.append(data) or False)
    for cut in range(len(BASE) // 3, len(BASE.rstrip()) - 1):
        if BASE[:cut].rstrip().endswith(b"/>"):
            continue  # where an element ends, a file may end too
        assert screen_svg(BASE[:cut]).verdict is Verdict.INCOMPLETE, cut
    assert read == []
    assert screen_svg(BASE).verdict is Verdict.SVG
    assert read == [BASE]
