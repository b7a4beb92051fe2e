"""One percentile, one table renderer, one server launcher, one redis launcher for all.

The command line, the benchmarks and the tests use the same helpers, so a
fix in one (nearest rank, alignment, start-up, clean-up) reaches them all.
"""

from __future__ import annotations

import benchmarks._common as bench_common
from benchmarks import bench_fleet
from tests.support import redis_servers
from tokensources.cli import _redis, _spawn, _stats, _table


def test_benchmarks_use_the_command_lines_helpers() -> None:
    """The benchmarks' percentile, table and server process are the command line's own."""
    assert bench_common.percentile is _stats.percentile
    assert bench_common.text_table is _table.text_table
    assert bench_common.ServerProcess is _spawn.ServerProcess


def test_tests_and_benchmarks_start_redis_with_the_one_launcher() -> None:
    """The tests' and the fleet benchmark's redis-servers come from tokensources.cli._redis."""
    assert issubclass(redis_servers.RedisServer, _redis.RedisServer)
    assert redis_servers.free_port is _redis.free_port
    assert isinstance(bench_fleet.redis_server(), _redis.RedisServer)


def test_the_table_aligns_names_left_and_numbers_right() -> None:
    """The first column is aligned left, the others right, with a rule under the headings."""
    rows = [
        {"mode": "RedisShared", "processes": 1, "µs per call": 0.125},
        {"mode": "naive", "processes": 10, "µs per call": 1234.5, "errors": 3},
    ]
    table = _table.text_table(rows, ["mode", "processes", "µs per call", "errors"])
    assert table.splitlines() == [
        "mode          processes   µs per call   errors",
        "-----------   ---------   -----------   ------",
        "RedisShared           1         0.125",
        "naive                10       1,234.5        3",
    ]


def test_a_missing_percentile_shows_as_a_dash() -> None:
    """NaN, the percentile of no samples, is shown as "–" in every table."""
    rows = [{"name": "empty", "p99": _stats.percentile([], 99)}]
    assert _table.text_table(rows, ["name", "p99"]).splitlines()[-1] == "empty     –"
