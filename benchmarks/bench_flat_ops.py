"""One operation on a flat drawing: every element a child of the root, as CAD exports are.

A live session (``LiveDocument``) of ``n`` rects directly under ``<svg>`` takes one
operation at a time from a client, each kind in turn: ``update`` (a fill), ``create`` at
the end (no index), ``create`` at index 5, ``delete`` of an element in the middle, and
``move`` of an element to the middle. Timed: ``submit`` (arbitration, the edit, its
inverse and the served entry), median and p99 in ms. Beside it, in the same run, the
floor: lxml alone doing the same to a parse of the file (``set``, ``append``, ``insert``
at 5, ``remove``, and ``remove`` plus ``insert`` in the middle).

The first operation of each kind is timed apart (the first edit of a session maps the
file's source, and the first to read a place far among many children keeps the
parent's places, :mod:`svgx_sync.core.siblings`). The cost should follow the edit, not
the file: no operation grows with ``n`` after the first.

    .venv/bin/python benchmarks/bench_flat_ops.py                  # 10k and 60k
    .venv/bin/python benchmarks/bench_flat_ops.py --sizes 1000,60000,200000 --runs 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from svgx_sync.core.ops import coerce_operation
from svgx_sync.core.session import LiveDocument

FILE = "document.svg"
SVG = "{http://www.w3.org/2000/svg}"


def flat_drawing(n: int) -> bytes:
    rows = "".join(
        f'  <rect id="r{i}" x="{i % 100}" y="{i // 100}" width="1" height="1" fill="gray"/>\n'
        for i in range(n)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">\n{rows}</svg>\n'
    ).encode()


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(step: Callable[[int], Any], runs: int) -> list[float]:
    out = []
    for k in range(runs):
        start = time.perf_counter()
        step(k)
        out.append((time.perf_counter() - start) * 1000)
    return out


def ours(n: int, kind: str, runs: int) -> tuple[float, list[float]]:
    live = LiveDocument("doc", "main", {FILE: flat_drawing(n)})

    def wire(k: int) -> dict[str, Any]:
        middle = f"r{n // 2 + k}"
        return {
            "update": {"element_id": "r7", "data": {"attributes": {"fill": f"#{k:06x}"}}},
            "create at the end": {"element_id": f"n{k}", "data": {"type": "rect"}},
            "create at index 5": {"element_id": f"m{k}", "data": {"type": "rect", "index": 5}},
            "delete": {"element_id": middle, "data": {}},
            "move to the middle": {"element_id": f"r{k}", "data": {"index": n // 2}},
        }[kind]

    def step(k: int) -> None:
        op = coerce_operation({"operation_type": kind.split()[0], "user_id": "ada",
                               "file": FILE, **wire(k)})  # fmt: skip
        outcome = live.submit(op, base_seq=None, now=0.0)
        assert outcome.status == "applied", outcome

    # The first edit of a session maps the file's source spans, and the first to read a
    # place far among many children keeps the parent's places: timed apart.
    first = timed(lambda _k: step(runs), 1)[0]
    return first, timed(step, runs)


def floor(n: int, kind: str, runs: int) -> list[float]:
    root = etree.fromstring(flat_drawing(n))
    rects = list(root)

    def step(k: int) -> None:
        if kind == "update":
            rects[7].set("fill", f"#{k:06x}")
        elif kind == "create at the end":
            root.append(etree.Element(f"{SVG}rect", id=f"n{k}"))
        elif kind == "create at index 5":
            root.insert(5, etree.Element(f"{SVG}rect", id=f"m{k}"))
        elif kind == "delete":
            root.remove(rects[n // 2 + k])
        else:
            el = rects[k]
            root.remove(el)
            root.insert(n // 2, el)

    return timed(step, runs)


KINDS = ("update", "create at the end", "create at index 5", "delete", "move to the middle")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,60000")
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    print(
        "| elements | operation | first submit ms | submit median / p99 ms"
        " | lxml alone median / p99 ms |"
    )
    print("|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        for kind in KINDS:
            (first, got), bare = ours(n, kind, args.runs), floor(n, kind, args.runs)
            print(
                f"| {n} | {kind} | {first:.1f} | {statistics.median(got):.3f} /"
                f" {pct(got, 0.99):.3f} | {statistics.median(bare):.3f} / {pct(bare, 0.99):.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
