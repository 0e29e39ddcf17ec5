"""Time the merge driver as git runs it: a whole process per file, start-up included.

Run: ``.venv/bin/python benchmarks/bench_driver_startup.py [--runs N] [--checkout DIR ...]``

Each run merges the same small three-way case (a 24-element drawing, a different
element edited on each side) with ``python -m svgx_sync merge-driver O A B 7 P``, the
command ``git-setup`` configures, in a fresh process. Beside it, in the same rounds:
``python -c pass`` (the interpreter's own start-up, the floor for any Python driver),
``python -c "import svgx_sync.core.merge"`` (the import alone; ``svgx_sync.merge`` in a
checkout from before the layers) and ``git merge-file -p`` on the same files (git's line
merge, what git does without a driver). Every ``--checkout`` is put first on
``PYTHONPATH`` in turn, so a copy of an older revision
(``git archive main | tar -x -C /tmp/before``) is timed beside this one with the same
interpreter. The variants are interleaved round by round so that noise spreads over all.
Children write their bytecode under a scratch ``PYTHONPYCACHEPREFIX`` (even when
``PYTHONDONTWRITEBYTECODE`` is set here), so every timed run starts from compiled
modules, as an installed package does; the first, uncounted round compiles them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def drawing(fills: dict[int, str]) -> bytes:
    lines = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 240 100">']
    for n in range(24):
        fill = fills.get(n, "#888")
        lines.append(f'  <rect id="r{n}" x="{n * 10}" y="10" width="8" height="8" fill="{fill}"/>')
    lines.append("</svg>\n")
    return "\n".join(lines).encode()


def timed(run: Callable[[], subprocess.CompletedProcess[bytes]]) -> float:
    start = time.perf_counter()
    done = run()
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{done.args}: exit {done.returncode}\n{done.stderr.decode()}")
    return elapsed * 1000


def merge_module(checkout: Path) -> str:
    """The merge rules' module in ``checkout``: older trees kept every module at the top."""
    layered = (checkout / "svgx_sync" / "core").is_dir()
    return "svgx_sync.core.merge" if layered else "svgx_sync.merge"


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="processes per variant (default 40)")
    parser.add_argument("--python", default=sys.executable, help="interpreter (default: this one)")
    parser.add_argument(
        "--checkout",
        type=Path,
        action="append",
        help="source tree whose svgx_sync is timed (repeatable; default: this checkout)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="svgx-driver-") as scratch:
        measure(args, [c.resolve() for c in args.checkout or [HERE]], Path(scratch))


def measure(args: argparse.Namespace, checkouts: list[Path], folder: Path) -> None:
    base, ours, theirs = (folder / n for n in ("base.svg", "ours.svg", "theirs.svg"))
    ours_bytes = drawing({3: "orange"})
    base.write_bytes(drawing({}))
    theirs.write_bytes(drawing({17: "purple"}))
    merged = drawing({3: "orange", 17: "purple"})
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    child_env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")

    def python(checkout: Path, *argv: str) -> Callable[[], subprocess.CompletedProcess[bytes]]:
        env = {**child_env, "PYTHONPATH": str(checkout)}
        return lambda: subprocess.run(
            [args.python, *argv], env=env, cwd=folder, capture_output=True, timeout=60
        )

    def driver(checkout: Path) -> Callable[[], subprocess.CompletedProcess[bytes]]:
        run = python(
            checkout,
            "-m",
            "svgx_sync",
            "merge-driver",
            str(base),
            str(ours),
            str(theirs),
            "7",
            "drawing.svg",
        )

        def once() -> subprocess.CompletedProcess[bytes]:
            done = run()
            if done.returncode == 0 and ours.read_bytes() != merged:
                raise SystemExit(f"{checkout}: the driver did not merge the case cleanly")
            return done

        return once

    variants: dict[str, Callable[[], subprocess.CompletedProcess[bytes]]] = {
        "floor: python -c pass": python(HERE, "-c", "pass"),
        "floor: git merge-file -p": lambda: subprocess.run(
            ["git", "merge-file", "-p", str(ours), str(base), str(theirs)],
            cwd=folder,
            capture_output=True,
            timeout=60,
        ),
    }
    for checkout in checkouts:
        where = python(checkout, "-c", "import svgx_sync; print(svgx_sync.__file__)")()
        print(f"{checkout}: svgx_sync from {where.stdout.decode().strip()}")
        module = merge_module(checkout)
        variants[f"import {module}  [{checkout}]"] = python(checkout, "-c", f"import {module}")
        variants[f"merge-driver process    [{checkout}]"] = driver(checkout)

    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.runs + 1):
        for name, run in variants.items():
            ours.write_bytes(ours_bytes)
            elapsed = timed(run)
            if round_:  # the first round compiles and warms caches: not counted
                times[name].append(elapsed)

    print(f"\n{args.runs} runs each, whole process, ms ({args.python})")
    width = max(map(len, times))
    print(f"{'variant':<{width}}  {'median':>8}  {'p99':>8}")
    for name, values in times.items():
        print(f"{name:<{width}}  {statistics.median(values):8.1f}  {p99(values):8.1f}")


if __name__ == "__main__":
    main()
