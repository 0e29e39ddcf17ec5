"""Cost of live conflict detection: time to arbitrate one operation.

Prints median and p99 (microseconds) for an operation that conflicts with a concurrent
edit of the same attribute, beside the baseline of the same operation with no conflict
(plain apply plus the history look-up), on generated documents of 1k and 10k elements.

    .venv/bin/python benchmarks/bench_conflicts.py
"""

from __future__ import annotations

import statistics
import time

from svgx_sync.core.conflicts import ConflictBook, Strategy, arbitrate
from svgx_sync.core.ops import coerce_operation
from svgx_sync.core.svgdoc import SvgDocument


def document(n: int) -> bytes:
    rows = "\n".join(
        f'  <rect id="r{i}" x="{i % 100}" y="{i // 100}" width="10" height="10"/>' for i in range(n)
    )
    return f'<svg xmlns="http://www.w3.org/2000/svg">\n{rows}\n</svg>\n'.encode()


def op(user: str, element: str, x: int, op_id: str):
    return coerce_operation(
        {
            "operation_type": "update",
            "user_id": user,
            "element_id": element,
            "data": {"attributes": {"x": str(x)}},
            "op_id": op_id,
        }
    )


def measure(n: int, strategy: Strategy, conflicting: bool, rounds: int = 2000) -> list[float]:
    files = {"document.svg": SvgDocument(document(n))}
    book = ConflictBook()
    samples = []
    seq = 0
    for i in range(rounds):
        element = f"r{i % n}"
        first = op("alice", element, i, f"a{i}")
        verdict = arbitrate(
            files, book, first, file="document.svg", base_seq=seq, strategy=strategy, now=0.0
        )
        seq += 1
        book.record(seq, verdict.effective, verdict.inverse)
        # bob's edit was made on top of the state before alice's: a conflict.
        base = seq - 1 if conflicting else seq
        second = op("bob", element, i + 1, f"b{i}")
        start = time.perf_counter_ns()
        verdict = arbitrate(
            files, book, second, file="document.svg", base_seq=base, strategy=strategy, now=0.0
        )
        samples.append((time.perf_counter_ns() - start) / 1000)
        if verdict.status == "applied":
            seq += 1
            book.record(seq, verdict.effective, verdict.inverse)
    return samples


def p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99) - 1]


def main() -> None:
    print(f"{'elements':>8} {'strategy':>16} {'case':>12} {'median µs':>10} {'p99 µs':>10}")
    for n in (1_000, 10_000):
        for strategy in (
            Strategy.AUTOMATIC,
            Strategy.MANUAL,
            Strategy.LAST_WRITE_WINS,
            Strategy.REJECT,
        ):
            for conflicting in (False, True):
                samples = measure(n, strategy, conflicting)
                case = "conflict" if conflicting else "baseline"
                print(
                    f"{n:>8} {strategy.value:>16} {case:>12} "
                    f"{statistics.median(samples):>10.1f} {p99(samples):>10.1f}"
                )


if __name__ == "__main__":
    main()
