"""Time the three-way merge against git's line merge on the same inputs.

Run: ``.venv/bin/python benchmarks/bench_merge.py [--runs N]``

Cases: a generated 10,000-element document with 100 attribute edits, inserts and
deletes on each side (different elements), and the 5 largest files of the shared corpus
with a few attribute edits per side. Each case is merged ``--runs`` times with
:func:`merge_documents` and with ``git merge-file -p`` (line-based, one process per merge,
as git's own merge would run a driver); the table shows median and p99 in milliseconds
and our median over git's.

Then the merge driver as people meet it: a generated 60,000-element drawing with 150
edits per side on different elements, committed on two branches of a real repository
set up with ``git-setup``; ``git merge`` through our driver is timed (``--driver-runs``
times, the repository reset between runs), beside ``git merge-file -p`` on the same
three files (the floor) and the driver process alone
(``python -m svgx_sync merge-driver O A B 7 P``), with the ratio to the floor.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from svgx_sync.core.merge import Versions, merge_documents
from svgx_sync.core.namespaces import SVG_NS
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.errors import DocumentError

CORPUS = Path(__file__).parents[1] / ".." / "shared" / "corpus"
GOAL_MS = 40
"""The target for the first case: a 3-way merge of 10k elements with 100 edits per side."""
DRIVER_GOAL = 8.0
"""The target for ``git merge`` through the driver on the 60k case, in git merge-file's."""
HERE = Path(__file__).resolve().parents[1]


def generated(elements: int = 10_000) -> bytes:
    groups = elements // 100
    lines = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1000 1000">']
    for g in range(groups):
        lines.append(f'  <g id="g{g}" transform="translate({g} 0)">')
        for r in range(99):
            lines.append(
                f'    <rect id="r{g}-{r}" x="{r * 10}" y="{g * 10}" width="8" height="8" fill="#888"/>'
            )
        lines.append("  </g>")
    lines.append("</svg>\n")
    return "\n".join(lines).encode()


def edited(base: bytes, ids: list[str], rng: random.Random, side: str, inserts: bool) -> bytes:
    """Attribute edits on ``ids``; with ``inserts`` every tenth is an insert or a delete."""
    doc = SvgDocument(base)
    for n, ident in enumerate(ids):
        el = doc.ids.get(ident)
        if el is None:
            continue
        if inserts and n % 10 == 3:
            new = doc.new_element(f"{{{SVG_NS}}}circle", {"id": f"{side}-{n}", "r": "3"})
            doc.insert(el.getparent(), el.getparent().index(el) + 1, new)
        elif inserts and n % 10 == 7:
            doc.remove(el)
        else:
            doc.set_attribute(el, "fill", f"#{rng.randrange(0x1000000):06x}")
    return doc.to_bytes()


def sides(base: bytes, edits: int, seed: int, inserts: bool) -> Versions[bytes]:
    rng = random.Random(seed)
    doc = SvgDocument(base)
    candidates = [i for i, el in doc.ids.items() if el is not doc.root and len(el) == 0]
    chosen = rng.sample(candidates, min(len(candidates), 2 * edits))
    half = len(chosen) // 2
    return Versions(
        base,
        edited(base, chosen[:half], rng, "ours", inserts),
        edited(base, chosen[half:], rng, "theirs", inserts),
    )


def time_ours(v: Versions[bytes], runs: int) -> tuple[list[float], int]:
    times, conflicts = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        result = merge_documents(v, file="bench.svg")
        times.append((time.perf_counter() - start) * 1000)
        conflicts = len(result.blocking)
    return times, conflicts


def time_git(v: Versions[bytes], runs: int) -> tuple[list[float], bool]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp, n) for n in ("base.svg", "ours.svg", "theirs.svg")]
        for path, data in zip(paths, v, strict=True):
            path.write_bytes(data)
        times, clean = [], True
        for _ in range(runs):
            start = time.perf_counter()
            done = subprocess.run(
                ["git", "merge-file", "-p", str(paths[1]), str(paths[0]), str(paths[2])],
                capture_output=True,
                check=False,
            )
            times.append((time.perf_counter() - start) * 1000)
            clean = done.returncode == 0
    return times, clean


def git_env(home: Path) -> dict[str, str]:
    """git with none of the machine's configuration, and this checkout's svgx_sync with
    its bytecode kept (under ``home``), as an installed package has it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GIT_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="Bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
        PYTHONPATH=str(HERE),
        PYTHONPYCACHEPREFIX=str(home / "pycache"),
    )
    return env


def run(args: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    """Run a command; its wall time in ms (refusing an exit code not in ``ok``)."""
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(args)}: exit {done.returncode}\n{done.stderr.decode()}")
    return elapsed


def time_driver(v: Versions[bytes], runs: int, folder: Path) -> dict[str, list[float]]:
    """``git merge`` through the driver in a real repository, ``git merge-file`` and the
    driver process alone on the same three files, interleaved run by run."""
    from svgx_sync.git.drivers import setup_repository

    env = git_env(folder)
    repo = folder / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo)]
    run([*git, "init", "-q", "-b", "main"], folder, env)
    (repo / "plan.svg").write_bytes(v.base)
    run([*git, "add", "plan.svg"], folder, env)
    run([*git, "commit", "-q", "-m", "base"], folder, env)
    run([*git, "checkout", "-q", "-b", "other"], folder, env)
    (repo / "plan.svg").write_bytes(v.theirs)
    run([*git, "commit", "-q", "-am", "theirs"], folder, env)
    run([*git, "checkout", "-q", "main"], folder, env)
    (repo / "plan.svg").write_bytes(v.ours)
    run([*git, "commit", "-q", "-am", "ours"], folder, env)
    setup_repository(repo)
    files = [folder / n for n in ("base.svg", "ours.svg", "theirs.svg", "work.svg")]
    for path, data in zip(files, (*v, v.ours), strict=False):
        path.write_bytes(data)
    base, ours, theirs, work = map(str, files)
    driver = [
        sys.executable,
        "-m",
        "svgx_sync",
        "merge-driver",
        base,
        work,
        theirs,
        "7",
        "plan.svg",
    ]
    times: dict[str, list[float]] = {
        "git merge (our driver)": [],
        "driver process": [],
        "git merge-file -p": [],
    }
    for n in range(runs + 1):  # the first round warms caches and compiles: not counted
        merge = run([*git, "merge", "-q", "--no-edit", "other"], folder, env)
        run([*git, "reset", "-q", "--hard", "ORIG_HEAD"], folder, env)
        shutil.copyfile(ours, work)
        alone = run(driver, folder, env)
        line = run(
            ["git", "merge-file", "-p", ours, base, theirs], folder, env, ok=tuple(range(128))
        )
        if n:
            times["git merge (our driver)"].append(merge)
            times["driver process"].append(alone)
            times["git merge-file -p"].append(line)
    return times


def driver_case(runs: int) -> None:
    v = sides(generated(60_000), 150, 3, True)
    print(
        f"\nmerge driver: generated 60k elements ({len(v.base) / 1e6:.1f} MB), 150 edits/side,"
        f" {runs} runs"
    )
    with tempfile.TemporaryDirectory(prefix="svgx-bench-merge-") as tmp:
        times = time_driver(v, runs, Path(tmp))
    print(f"{'':28} {'median':>9} {'p99':>9}")
    for name, values in times.items():
        print(f"{name:28} {statistics.median(values):9.1f} {p99(values):9.1f}")
    ratio = statistics.median(times["git merge (our driver)"]) / statistics.median(
        times["git merge-file -p"]
    )
    verdict = "met" if ratio <= DRIVER_GOAL else "NOT met"
    print(
        f"goal: git merge through the driver at most {DRIVER_GOAL:g}x git merge-file:"
        f" {ratio:.1f}x: {verdict}"
    )


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--driver-runs", type=int, default=10, help="runs of the 60k driver case (0: skip it)"
    )
    args = parser.parse_args()

    cases: list[tuple[str, Versions[bytes], int]] = [
        ("generated 10k elements, 100 edits/side", sides(generated(), 100, 1, True), args.runs)
    ]
    if CORPUS.exists():
        files = sorted(CORPUS.rglob("*.svg"), key=lambda p: p.stat().st_size, reverse=True)
        taken = 0
        for path in files:
            try:
                v = sides(path.read_bytes(), 3, 2, False)
            except DocumentError:
                continue
            if v.ours == v.base or v.theirs == v.base:
                continue
            cases.append(
                (f"{path.relative_to(CORPUS)} ({path.stat().st_size // 1024} KiB)", v, args.runs)
            )
            taken += 1
            if taken == 5:
                break
    else:
        print(f"(corpus not found at {CORPUS}; generated case only)")

    head = f"{'case':58} {'ours med':>9} {'ours p99':>9} {'git med':>8} {'git p99':>8} {'ratio':>6}  result"
    print(head)
    print("-" * len(head))
    for name, v, runs in cases:
        ours, conflicts = time_ours(v, runs)
        git, git_clean = time_git(v, runs)
        ratio = statistics.median(ours) / statistics.median(git)
        outcome = f"svgx {'clean' if not conflicts else f'{conflicts} conflicts'}, git {'clean' if git_clean else 'conflicts'}"
        print(
            f"{name[:58]:58} {statistics.median(ours):9.2f} {p99(ours):9.2f} "
            f"{statistics.median(git):8.2f} {p99(git):8.2f} {ratio:6.1f}x  {outcome}"
        )
    print(f"\ntimes in ms over {args.runs} runs; ratio = svgx median / git merge-file median")
    name, v, runs = cases[0]
    ours, _conflicts = time_ours(v, runs)
    median = statistics.median(ours)
    verdict = "met" if median <= GOAL_MS else "NOT met"
    print(
        f"goal: {name}: median {median:.1f} ms, p99 {p99(ours):.1f} ms "
        f"(at most {GOAL_MS} ms): {verdict}"
    )
    if args.driver_runs:
        driver_case(args.driver_runs)


if __name__ == "__main__":
    main()
