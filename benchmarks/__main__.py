"""``python -m benchmarks``: the whole benchmark suite, or one benchmark by name.

Usage::

    python -m benchmarks                 # every benchmark, full size; JSON in benchmarks/results/,
                                         # plots in docs/assets/, tables for docs/benchmarks.md
    python -m benchmarks --quick         # every benchmark, tiny: checks each one runs (for CI)
    python -m benchmarks --only cache,peers
    python -m benchmarks NAME [options]  # one benchmark, e.g. ``cache --quick``
    python -m benchmarks report          # rebuild plots and tables from the JSON files

The benchmarks need the package; the peers they compare against (Authlib,
httpx-auth) and the plots (matplotlib) come from the ``bench`` extra
(``pip install -e ".[bench]"``). A missing peer is left out, and the run says
so; the plots cannot be left out, so a run that would draw them stops at
once, saying what to install, before measuring anything.

Each benchmark runs in its own process (its own event loops and global
state; one crashing does not stop the others), prints its tables, and
writes its JSON. The suite ends with a summary and exits non-zero if any
benchmark failed. ``--quick`` asserts nothing about speed and writes its
JSON to a temporary directory, so it never overwrites published results.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._extras import left_out_note, missing_peers, plotting_missing

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
ASSETS = ROOT / "docs" / "assets"
# What each benchmark measures, in the order the suite runs them.
ORDER = (
    "cache",
    "httpx",
    "otel",
    "clients",
    "peers",
    "defaults",
    "storm",
    "expiry",
    "dpop",
    "fleet",
    "verify",
)
# Quick-mode arguments for benchmarks without a ``--quick`` flag of their own.
QUICK_ARGS = {"httpx": ["--requests", "300", "--rounds", "3"]}
TIMEOUT = 600.0


def names() -> list[str]:
    """The benchmarks there are: ``benchmarks/bench_NAME.py``, in suite order."""
    found = {path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py")}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def run_one(name: str) -> int:
    """Run one benchmark in this process with the remaining command-line arguments."""
    module = importlib.import_module(f"benchmarks.bench_{name}")
    # Each benchmark parses sys.argv itself, as when run with ``python -m`` (argv[0] is then
    # the module's file, which the results' "command" field turns back into that command).
    sys.argv = [str(HERE / f"bench_{name}.py"), *sys.argv[2:]]
    result = module.main()
    return result if isinstance(result, int) else 0


def command_for(name: str, *, quick: bool, out: Path) -> list[str]:
    """The command line that runs benchmark ``name`` for the suite."""
    source = (HERE / f"bench_{name}.py").read_text(encoding="utf-8")
    command = [sys.executable, "-m", f"benchmarks.bench_{name}"]
    if quick:
        command += ["--quick"] if '"--quick"' in source else QUICK_ARGS.get(name, [])
    if '"--json"' in source:
        command += ["--json", str(out / f"{name}.json")]
    return command


def run_suite(selected: list[str], *, quick: bool, out: Path) -> list[tuple[str, str, float]]:
    """Run the benchmarks one after another; (name, status, seconds) for each."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    summary = []
    for name in selected:
        command = command_for(name, quick=quick, out=out)
        shown = " ".join(["python", *command[1:]])
        print(f"\n=== {name}: {shown}", flush=True)
        started = time.perf_counter()
        try:
            completed = subprocess.run(command, cwd=ROOT, env=env, timeout=TIMEOUT, check=False)
            status = "ok" if completed.returncode == 0 else f"exit {completed.returncode}"
        except subprocess.TimeoutExpired:
            status = f"timed out after {TIMEOUT:.0f} s"
        summary.append((name, status, time.perf_counter() - started))
    return summary


def report(results: Path = RESULTS) -> None:
    """Rebuild the plots and the results-page tables from the JSON files.

    Raises:
        SystemExit: matplotlib is missing (the message says what to install).
    """
    problem = plotting_missing()
    if problem is not None:
        raise SystemExit(f"python -m benchmarks report: {problem}")
    from benchmarks import plots

    for path in [*plots.render(results, ASSETS), *plots.write_tables(results)]:
        print(f"wrote {path.relative_to(ROOT)}")


def main() -> int:
    """Run one benchmark, the whole suite, or rebuild the report."""
    available = names()
    if len(sys.argv) > 1 and sys.argv[1] in available:
        return run_one(sys.argv[1])
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        report()
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: checks every benchmark runs"
    )
    parser.add_argument("--only", help=f"comma-separated names among: {', '.join(available)}")
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write JSON (default: results/, or a temporary directory with --quick)",
    )
    args = parser.parse_args()
    selected = args.only.split(",") if args.only else available
    unknown = sorted(set(selected) - set(available))
    if unknown:
        parser.error(
            f"unknown benchmark(s): {', '.join(unknown)}; there are: {', '.join(available)}"
        )
    with tempfile.TemporaryDirectory(prefix="benchmarks-") as scratch:
        out = args.out or (Path(scratch) if args.quick else RESULTS)
        publishing = not args.quick and out == RESULTS
        problem = plotting_missing()
        if publishing and problem is not None:
            # Fail before the long run, not after it.
            parser.exit(1, f"python -m benchmarks: {problem}\n")
        missing = missing_peers()
        if missing:
            print(f"peers {left_out_note(missing)}", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        summary = run_suite(selected, quick=args.quick, out=out)
        if publishing:
            report(out)
    print("\nsummary")
    for name, status, seconds in summary:
        print(f"  {name:<10} {status:<24} {seconds:6.1f} s")
    print(f"  {'total':<10} {'':<24} {time.perf_counter() - started:6.1f} s")
    return 0 if all(status == "ok" for _, status, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
