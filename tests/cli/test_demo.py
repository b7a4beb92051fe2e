"""``tokensources demo`` with small numbers, through the real script."""

from __future__ import annotations

import pytest

from .conftest import run_cli


def _row(stdout: str, label: str) -> list[str]:
    """The cells of the table row starting with ``label``."""
    for line in stdout.splitlines():
        if line.strip().startswith(label):
            return line.strip()[len(label) :].split()
    raise AssertionError(f"no row {label!r} in:\n{stdout}")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_small_demo_succeeds_and_prints_the_table(backend: str) -> None:
    """A small demo exits 0 and its table counts every request and one token per run."""
    outcome = run_cli(
        "demo", "--tasks", "20", "--requests", "5", "--compare-requests", "20",
        "--backend", backend,
        timeout=120,
    )  # fmt: skip
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert _row(outcome.stdout, "requests sent") == ["100", "20"]
    assert _row(outcome.stdout, "succeeded") == ["100", "20"]
    assert _row(outcome.stdout, "failed") == ["0", "0"]
    # With reuse(): one token for the whole (short) run; without: one per request.
    assert _row(outcome.stdout, "token requests made") == ["1", "20"]
    assert _row(outcome.stdout, "ideal") == ["1", "1"]
    for label in ("latency p50", "latency p95", "latency p99"):
        assert _row(outcome.stdout, label)[1] == "ms"
    assert "the server counted 21 token requests and 120 API requests" in outcome.stdout
    # stderr is not a terminal here: no progress line.
    assert outcome.stderr == ""


def test_demo_without_comparison() -> None:
    """--compare-requests 0 leaves out the run without reuse()."""
    outcome = run_cli(
        "demo", "--tasks", "5", "--requests", "4", "--compare-requests", "0", timeout=120
    )
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert "without reuse()" not in outcome.stdout
    assert _row(outcome.stdout, "requests sent") == ["20"]


def test_fleet_mode_shares_one_token_across_processes() -> None:
    """--processes 2 runs two client processes that make one token request between them."""
    outcome = run_cli(
        "demo", "--processes", "2", "--tasks", "10", "--requests", "5", "--compare-requests", "0",
        timeout=180,
    )  # fmt: skip
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert "RedisShared × 2 processes" in outcome.stdout
    assert _row(outcome.stdout, "requests sent") == ["50"]
    assert _row(outcome.stdout, "failed") == ["0"]
    assert _row(outcome.stdout, "token requests made") == ["1"]
    assert "the server counted 1 token requests and 50 API requests" in outcome.stdout


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

    from .conftest import console_script

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
    assert _row(completed.stdout, "succeeded") == ["300"]
