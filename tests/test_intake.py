"""What is taken in as an SVG file: pure, bytes in, a verdict out."""

from __future__ import annotations

from pathlib import Path

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


def _full_pass(data: bytes, monkeypatch: pytest.MonkeyPatch, **limits: int) -> Verdict:
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
]


@pytest.mark.parametrize("depth", [3, 4, 5, 256])
def test_the_quick_pass_gives_the_full_pass_verdict(
    depth: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for data in TRICKY:
        full = _full_pass(data, monkeypatch, max_depth=depth)
        assert screen_svg(data, max_depth=depth).verdict is full, data


def test_the_quick_pass_agrees_on_the_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS.resolve()}")
    quick = 0
    for path in sorted(CORPUS.rglob("*.svg")):
        data = path.read_bytes()
        for depth in (4, 256):
            if not data.strip():
                continue
            assert screen_svg(data, max_depth=depth).verdict is _full_pass(
                data, monkeypatch, max_depth=depth
            ), path
            quick += intake._plainly_svg(data, depth)
    assert quick  # the quick pass took most files in
