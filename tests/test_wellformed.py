"""The well-formedness check other tests rely on refuses what it must."""

from __future__ import annotations

import pytest
from wellformed import assert_wellformed, namespace_declarations, wellformed_problem

SVG = 'xmlns="http://www.w3.org/2000/svg"'


def test_a_file_with_its_prefixes_declared_passes() -> None:
    data = (
        f'<svg {SVG} xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"'
        ' sodipodi:docname="a.svg"><g xmlns:q="urn:q" q:a="1"/></svg>'
    ).encode()
    assert_wellformed(data)
    assert namespace_declarations(data) == {
        (None, "http://www.w3.org/2000/svg"): 1,
        ("sodipodi", "http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"): 1,
        ("q", "urn:q"): 1,
    }


@pytest.mark.parametrize(
    "data",
    [
        f'<svg {SVG} ns0:docname="x"/>'.encode(),  # an attribute's prefix never declared
        f"<svg {SVG}><ns0:g/></svg>".encode(),  # an element's prefix never declared
        f'<svg {SVG} xmlns:svgx="urn:s" xmlns:svgx="urn:s"/>'.encode(),  # declared twice
        f"<svg {SVG}><g></svg>".encode(),  # not well-formed at all
    ],
)
def test_undeclared_or_repeated_prefixes_are_refused(data: bytes) -> None:
    assert wellformed_problem(data) is not None
    with pytest.raises(AssertionError, match="not well-formed"):
        assert_wellformed(data)


def test_repeated_declarations_are_counted() -> None:
    data = f'<svg {SVG} xmlns:svgx="urn:s" xmlns:svgx="urn:s"/>'.encode()
    assert namespace_declarations(data)[("svgx", "urn:s")] == 2
