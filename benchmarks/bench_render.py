"""The render of a file write after one edit, beside copying the file's text once.

A live document renders its changed files before each write (``SvgDocument.commit_render``,
on the event loop): the new text, then the new text made the source (the places of the
nodes after the edit moved along). Per drawing, one attribute of one element in the middle
is changed and the file rendered, again and again: with the value's length kept (nothing
after it moves) and with it changed (everything after it moves); then an element added
as the last child of that element's parent, and deleted again, each rendered. The floor,
in the same run: the file's text copied once and encoded (what any render of the whole
file costs).

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

from svgx_sync.core.ops import apply_operation, coerce_operation
from svgx_sync.core.svgdoc import SvgDocument

SIZES = {"1k": 1_000, "10k": 10_000, "60k": 60_000, "561k": 561_000}


def measure(data: bytes, rounds: int) -> dict[str, list[float]]:
    """Render times (ms) per kind of edit, and the floor's."""
    doc = SvgDocument(data)
    doc.spans  # noqa: B018 -- mapped before the timing, as a live document's is by then
    rects = [ident for ident in doc.ids if ident[0] == "r" and ident[1].isdigit()]
    el = doc.ids[rects[len(rects) // 2]]
    parent = doc.address_of(el.getparent())
    doc.set_attribute(el, "fill", "#000000")
    doc.commit_render()
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    length = 7

    def timed(kind: str) -> None:
        started = time.perf_counter()
        doc.commit_render()
        times[kind].append((time.perf_counter() - started) * 1000)

    def apply(kind: str, element_id: str, data: dict[str, object]) -> None:
        op = {"operation_type": kind, "user_id": "u", "element_id": element_id, "data": data}
        apply_operation(doc, coerce_operation(op))

    for r in range(rounds):
        doc.set_attribute(el, "fill", f"#{r:06x}".ljust(length, "0"))
        timed("length kept")
        length = 15 - length  # 7 and 8 characters in turn
        doc.set_attribute(el, "fill", f"#{r:06x}".ljust(length, "0"))
        timed("length changed")
        apply("create", f"new{r}", {"type": "rect", "parent": parent})
        timed("added at the end")
        apply("delete", f"new{r}", {})
        timed("deleted")
        started = time.perf_counter()
        (doc.source + " ").encode(doc.encoding)
        times["floor"].append((time.perf_counter() - started) * 1000)
    return times


KINDS = ("length kept", "length changed", "added at the end", "deleted", "floor")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="60k,561k")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    columns = [*KINDS[:-1], "floor (text copied and encoded)"]
    print("| drawing | elements | " + " | ".join(f"{c}: median / p99 ms" for c in columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for size in args.sizes.split(","):
        n = SIZES[size]
        for name, data in (("flat", document(n)), ("rooms", drawing(n))):
            times = measure(data, args.rounds)
            cells = [
                f"{statistics.median(times[k]):.1f} / {pct(times[k], 0.99):.1f}" for k in KINDS
            ]
            print(f"| {name} | {size} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
