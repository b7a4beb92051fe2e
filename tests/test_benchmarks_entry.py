"""``python -m benchmarks`` says what to install instead of failing or silently leaving things out.

Each test runs the real entry point in a child process in which some
modules cannot be imported, as when they are not installed: a
``sitecustomize`` on ``PYTHONPATH`` puts a finder first on the import path
that refuses the names in ``BLOCKED_MODULES``. The child processes the
suite starts inherit it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALL_BENCH = 'pip install -e ".[bench]"'

_BLOCKER = """\
import os
import sys
from importlib.abc import MetaPathFinder

BLOCKED = set(filter(None, os.environ.get("BLOCKED_MODULES", "").split(",")))


class Blocked(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Blocked())
"""


def run_benchmarks(
    tmp_path: Path, *args: str, blocked: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m benchmarks ARGS`` from the project root, with ``blocked`` modules missing."""
    (tmp_path / "sitecustomize.py").write_text(_BLOCKER, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "BLOCKED_MODULES": blocked,
    }
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_report_without_matplotlib_names_the_extra(tmp_path: Path) -> None:
    """``benchmarks report`` without matplotlib exits 1 with the install command, no traceback."""
    completed = run_benchmarks(tmp_path, "report", blocked="matplotlib")
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert "matplotlib" in completed.stderr
    assert INSTALL_BENCH in completed.stderr


def test_full_suite_without_matplotlib_stops_before_measuring(tmp_path: Path) -> None:
    """The publishing run checks for matplotlib first, instead of failing after the long run."""
    completed = run_benchmarks(tmp_path, "--only", "cache", blocked="matplotlib")
    assert completed.returncode == 1
    assert INSTALL_BENCH in completed.stderr
    assert "===" not in completed.stdout  # no benchmark was started
    assert "Traceback" not in completed.stderr


def test_peers_benchmark_says_which_peers_it_left_out(tmp_path: Path) -> None:
    """Without Authlib and httpx-auth, ``benchmarks peers`` names both and how to install them."""
    completed = run_benchmarks(
        tmp_path, "peers", "--quick", blocked="authlib,httpx_auth", timeout=180
    )
    assert completed.returncode == 0, completed.stderr
    assert "left out (not installed): authlib, httpx-auth" in completed.stdout
    assert "pip install authlib httpx-auth" in completed.stdout
    assert INSTALL_BENCH in completed.stdout
    # The contenders that are there still ran.
    assert "tokensources" in completed.stdout
    assert "naive" in completed.stdout


def test_suite_names_missing_peers_once_at_the_start(tmp_path: Path) -> None:
    """The suite prints the left-out peers before its first benchmark."""
    completed = run_benchmarks(
        tmp_path, "--quick", "--only", "cache", blocked="authlib,httpx_auth,matplotlib"
    )
    assert completed.returncode == 0, completed.stderr
    first, _, rest = completed.stdout.partition("=== cache")
    assert "left out (not installed): authlib, httpx-auth" in first
    assert rest
