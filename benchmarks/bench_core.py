"""Costs of the document core on floor-plan-like documents of 1k, 10k and 100k elements.

Run: ``.venv/bin/python benchmarks/bench_core.py [--sizes 1000,10000] [--quick]``.
Prints median and p99 in milliseconds per step, with lxml baselines from the same run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from svgx_sync.core.diff import diff_documents
from svgx_sync.core.ops import apply_operation, coerce_operation
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.durable.atomic import write_atomic
from svgx_sync.git.store import Store


def floor_plan(n: int, seed: int = 1) -> bytes:
    """``n`` rects in a few rooms (groups), one element per line, like a drawn plan."""
    rng = random.Random(seed)
    rooms = max(1, min(50, n // 200))
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<svg xmlns="http://www.w3.org/2000/svg" width="10000" height="10000">',
    ]
    made = 0
    for room in range(rooms):
        lines.append(f'  <g id="room{room}" class="room">')
        count = n // rooms + (1 if room < n % rooms else 0)
        for _ in range(count):
            x, y = rng.randrange(10000), rng.randrange(10000)
            lines.append(
                f'    <rect id="e{made}" x="{x}" y="{y}" width="{rng.randrange(1, 90)}" '
                f'height="{rng.randrange(1, 90)}" fill="#ccc" stroke="black"/>'
            )
            made += 1
        lines.append("  </g>")
    lines.append("</svg>")
    return ("\n".join(lines) + "\n").encode()


def edited(data: bytes, edits: int, seed: int = 2) -> bytes:
    """A second version: ``edits`` attribute changes, deletes and additions."""
    doc = SvgDocument(data)
    rng = random.Random(seed)
    ids = [k for k in doc.ids if k.startswith("e")]
    for i, ident in enumerate(rng.sample(ids, edits)):
        el = doc.ids[ident]
        if i % 5 == 0:
            doc.remove(el)
        elif i % 5 == 1:
            parent = el.getparent()
            doc.insert(
                parent, len(parent), doc.new_element(el.tag, {"id": f"n{i}", "x": "1", "y": "2"})
            )
        else:
            doc.set_attribute(el, "x", str(rng.randrange(10000)))
    return doc.to_bytes()


def measure(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples) / 1e6, p99 / 1e6


def store_commit(folder: Path, data: bytes) -> Callable[[], object]:
    """A commit of the rendered file through the git store."""
    document = Store(folder / "store").open("bench", create=True)
    counter = iter(range(10**9))

    def commit() -> object:
        # A different byte at the end each time, so every commit writes a new blob.
        body = data + b"<!-- %d -->\n" % next(counter)
        return document.commit(
            {"document.svg": body}, user_id="bench", username="Bench", description="bench"
        )

    return commit


def run(sizes: list[int], quick: bool) -> None:
    rows: list[tuple[str, int, float, float, int]] = []
    for n in sizes:
        data = floor_plan(n)
        repeat = {1000: 200, 10000: 40}.get(n, 8) // (4 if quick else 1)
        repeat = max(repeat, 3)
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        doc = SvgDocument(data)
        target = doc.ids[f"e{n // 2}"]
        counter = iter(range(10**9))

        def one_op() -> object:
            return apply_operation(
                doc,
                coerce_operation(
                    {
                        "type": "update",
                        "user_id": "u",
                        "element_id": target.get("id"),
                        "data": {"position": {"x": next(counter), "y": 5}},
                    }
                ),
            )

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "document.svg"
            path.write_bytes(data)

            def write_after_op() -> object:
                one_op()
                body = doc.commit_render()
                write_atomic(path, body)
                return body

            second = edited(data, 100)
            steps: list[tuple[str, Callable[[], object], int]] = [
                ("baseline: lxml parse", lambda: etree.fromstring(data, parser), repeat),
                (
                    "baseline: lxml parse of the changed file",
                    lambda: etree.fromstring(second, parser),
                    max(3, repeat // 2),
                ),
                ("baseline: lxml tostring", lambda: etree.tostring(doc.root), repeat),
                ("parse + index (SvgDocument)", lambda: SvgDocument(data), repeat),
                ("apply one operation", one_op, repeat * 10),
                ("op + commit_render + atomic write", write_after_op, repeat),
                (
                    "diff two versions (100 edits)",
                    lambda: diff_documents(data, second, "d.svg"),
                    max(3, repeat // 2),
                ),
                ("git commit of the file (store)", store_commit(Path(tmp), data), repeat),
            ]
            for name, fn, times in steps:
                median, p99 = measure(fn, times)
                rows.append((name, n, median, p99, times))
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'elements':>8}  {'median ms':>10}  {'p99 ms':>9}  {'runs':>5}")
    for name, n, median, p99, times in rows:
        print(f"{name:<{width}}  {n:>8}  {median:>10.3f}  {p99:>9.3f}  {times:>5}")
    print_goals(rows)


GOALS = [
    # (what, step, floor step, at most this many times the floor)
    (
        "diff / parse of the changed file",
        "diff two versions (100 edits)",
        "baseline: lxml parse of the changed file",
        2.0,
    ),
    ("parse + index / lxml parse", "parse + index (SvgDocument)", "baseline: lxml parse", 1.5),
]


def print_goals(rows: list[tuple[str, int, float, float, int]]) -> None:
    """Each goal of docs/performance.md as a ratio to its floor measured in the same run."""
    found = {(name, n): (median, p99) for name, n, median, p99, _times in rows}
    sizes = sorted({n for _name, n, *_rest in rows})
    print(f"\n{'goal':<34}  {'elements':>8}  {'median x':>9}  {'p99 x':>7}  {'target':>7}")
    for what, step, floor, target in GOALS:
        for n in sizes:
            if (step, n) not in found or (floor, n) not in found:
                continue
            (m, p), (fm, fp) = found[step, n], found[floor, n]
            verdict = "met" if m / fm <= target else "NOT met"
            print(f"{what:<34}  {n:>8}  {m / fm:>9.2f}  {p / fp:>7.2f}  {target:>6.1f}x  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    run([int(s) for s in args.sizes.split(",")], args.quick)


if __name__ == "__main__":
    main()
