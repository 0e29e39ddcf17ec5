"""The shared SVG corpus (``../shared/corpus``: resvg's and the W3C's test files), for
the tests that run over all of it; they skip with the reason where it is absent."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.errors import DocumentError

CORPUS = Path(__file__).parents[1] / ".." / "shared" / "corpus"


def readable_corpus() -> list[tuple[Path, bytes, random.Random]]:
    """Every corpus file SvgDocument reads, with its bytes and a generator of its own
    (seeded by the file's place among all of them)."""
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS.resolve()}")
    out = []
    for n, path in enumerate(sorted(CORPUS.rglob("*.svg"))):
        data = path.read_bytes()
        try:
            SvgDocument(data)
        except DocumentError:
            continue
        out.append((path, data, random.Random(n)))
    return out
