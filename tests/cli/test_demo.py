"""``tokensources demo`` with small numbers, through the real script."""

from __future__ import annotations

import re

import pytest

from tests.support.cli import run_cli


def _tables(stdout: str) -> list[dict[str, list[str]]]:
    """Every table of the output: its headings (key ``""``) and its rows, by label."""
    lines = stdout.splitlines()
    tables = []
    for index, line in enumerate(lines[1:], start=1):
        if not line.startswith("  ---"):
            continue
        table = {"": re.split(r"\s{3,}", lines[index - 1].strip())}
        for row in lines[index + 1 :]:
            if not row.strip():
                break
            label, *cells = re.split(r"\s{3,}", row.strip())
            table[label] = cells
        tables.append(table)
    return tables


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_small_demo_succeeds_and_prints_the_table(backend: str) -> None:
    """A small demo exits 0; its tables count every request and one token per cached run."""
    outcome = run_cli(
        "demo", "--tasks", "20", "--requests", "5", "--compare-requests", "20",
        "--backend", backend,
        timeout=120,
    )  # fmt: skip
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    main, comparison = _tables(outcome.stdout)
    assert main[""] == ["with reuse()"]
    assert main["requests sent"] == main["succeeded"] == ["100"]
    assert main["failed"] == ["0"]
    # One token for the whole (short) run: the ideal.
    assert main["token requests made"] == main["ideal"] == ["1"]
    for label in ("latency p50", "latency p95", "latency p99"):
        assert main[label][0].endswith(" ms")
    assert comparison[""] == ["with reuse()", "without reuse()"]
    assert comparison["requests sent"] == comparison["succeeded"] == ["20", "20"]
    # With reuse(): one token; without: one per request, against an ideal of one.
    assert comparison["token requests made"] == ["1", "20"]
    assert comparison["ideal"] == ["1", "1"]
    assert "the server counted 22 token requests and 140 API requests" in outcome.stdout
    # stderr is not a terminal, and the run is shorter than the logging interval.
    assert outcome.stderr == ""


def test_comparison_columns_run_the_same_workload() -> None:
    """With and without reuse() send the same requests from the same clients, side by side."""
    outcome = run_cli(
        "demo", "--tasks", "30", "--requests", "4", "--compare-requests", "60", timeout=120
    )
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    main, comparison = _tables(outcome.stdout)
    assert main["clients × requests each"] == ["30 × 4"]
    assert comparison["clients × requests each"] == ["30 × 2", "30 × 2"]
    assert comparison["requests sent"] == ["60", "60"]
    assert comparison["token requests made"] == ["1", "60"]
    assert "comparison: 60 requests (30 clients × 2 each), sent once" in outcome.stdout
    assert "both columns sent the same 60 requests from 30 clients" in outcome.stdout


def test_demo_without_comparison() -> None:
    """--compare-requests 0 leaves out the run without reuse()."""
    outcome = run_cli(
        "demo", "--tasks", "5", "--requests", "4", "--compare-requests", "0", timeout=120
    )
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert "without reuse()" not in outcome.stdout
    (main,) = _tables(outcome.stdout)
    assert main["requests sent"] == ["20"]


def test_counts_of_one_are_singular() -> None:
    """One client sending one request reads "1 client × 1 request", and "1 token request"."""
    outcome = run_cli(
        "demo", "--tasks", "1", "--requests", "1", "--compare-requests", "0", timeout=120
    )
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert outcome.stdout.startswith("tokensources demo: 1 client × 1 request = 1 request,")
    assert "the server counted 1 token request and 1 API request in all" in outcome.stdout
    assert "1 token requests" not in outcome.stdout
    assert "1 API requests" not in outcome.stdout


def test_fleet_mode_shares_one_token_across_processes() -> None:
    """--processes 2 runs two client processes that make one token request between them."""
    outcome = run_cli(
        "demo", "--processes", "2", "--tasks", "10", "--requests", "5", "--compare-requests", "0",
        timeout=180,
    )  # fmt: skip
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    (main,) = _tables(outcome.stdout)
    assert main[""] == ["RedisShared × 2 processes"]
    assert main["requests sent"] == ["50"]
    assert main["failed"] == ["0"]
    assert main["token requests made"] == ["1"]
    assert "2 client processes sharing one token through redis://127.0.0.1:" in outcome.stdout
    assert "the server counted 1 token request and 50 API requests" in outcome.stdout


def test_fleet_mode_without_a_redis_server_is_a_config_error() -> None:
    """A redis-server that cannot be run gives status 3 and says which binary."""
    outcome = run_cli(
        "demo", "--processes", "2", "--tasks", "2", "--requests", "1",
        env={"REDIS_SERVER": "/nonexistent/redis-server"},
    )  # fmt: skip
    assert outcome.code == 3
    assert "cannot run redis-server '/nonexistent/redis-server'" in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_fleet_mode_refuses_trio() -> None:
    """--processes with --backend trio is refused before anything starts (status 3)."""
    outcome = run_cli("demo", "--processes", "2", "--backend", "trio")
    assert outcome.code == 3
    assert "asyncio" in outcome.stderr
    assert outcome.stdout == ""


def test_demo_raises_a_low_open_file_limit() -> None:
    """With a soft limit of 256 open files, 300 clients still run (the limit is raised)."""
    import resource
    import subprocess

    from tests.support.cli import console_script

    def low_limit() -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    completed = subprocess.run(
        [*console_script(), "demo", "--tasks", "300", "--requests", "1", "--compare-requests", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=low_limit,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    (main,) = _tables(completed.stdout)
    assert main["succeeded"] == ["300"]
