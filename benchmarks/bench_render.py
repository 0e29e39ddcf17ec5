"""The render of a file write after one edit, beside copying the file's text once.

A live document renders its changed files before each write (``SvgDocument.commit_render``,
on the event loop): the new text, then the new text made the source (the places of the
nodes after the edit moved along). Per drawing, one attribute of one element in the middle
is changed and the file rendered, again and again: with the value's length kept (nothing
after it moves) and with it changed (everything after it moves). The floor, in the same
run: the file's text copied once and encoded (what any render of the whole file costs).

    .venv/bin/python benchmarks/bench_render.py [--sizes 60k,561k] [--rounds 30]

Drawings: ``flat``, every element a child of the root (``bench_watch.document``), and
``rooms``, groups of 100 (``bench_memory.drawing``).
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench_memory import drawing
from bench_watch import document, pct

from svgx_sync.core.svgdoc import SvgDocument

SIZES = {"1k": 1_000, "10k": 10_000, "60k": 60_000, "561k": 561_000}


def measure(data: bytes, rounds: int) -> tuple[list[float], list[float], list[float]]:
    """Render times (ms) with the length kept and changed, and the floor's."""
    doc = SvgDocument(data)
    doc.spans  # noqa: B018 -- mapped before the timing, as a live document's is by then
    rects = [ident for ident in doc.ids if ident[0] == "r" and ident[1].isdigit()]
    el = doc.ids[rects[len(rects) // 2]]
    doc.set_attribute(el, "fill", "#000000")
    doc.commit_render()
    kept, changed, floor = [], [], []
    length = 7
    for r in range(rounds):
        for grow, out in ((False, kept), (True, changed)):
            if grow:
                length = 15 - length  # 7 and 8 characters in turn
            doc.set_attribute(el, "fill", f"#{r:06x}".ljust(length, "0"))
            started = time.perf_counter()
            doc.commit_render()
            out.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        (doc.source + " ").encode(doc.encoding)
        floor.append((time.perf_counter() - started) * 1000)
    return kept, changed, floor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="60k,561k")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(
        "| drawing | elements | length kept: median / p99 ms | length changed: median / p99 ms"
        " | floor (text copied and encoded): median / p99 ms |"
    )
    print("|---|---|---|---|---|")
    for size in args.sizes.split(","):
        n = SIZES[size]
        for name, data in (("flat", document(n)), ("rooms", drawing(n))):
            kept, changed, floor = measure(data, args.rounds)
            print(
                f"| {name} | {size} | {statistics.median(kept):.1f} / {pct(kept, 0.99):.1f}"
                f" | {statistics.median(changed):.1f} / {pct(changed, 0.99):.1f}"
                f" | {statistics.median(floor):.1f} / {pct(floor, 0.99):.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
