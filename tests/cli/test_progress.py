"""The progress of a demo run: redrawn at a terminal, a line every few seconds in a log."""

from __future__ import annotations

import io

from tests.support.clock import FakeClock
from tokensources.cli._load import LoadResult
from tokensources.cli._progress import LOG_INTERVAL, Progress


class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _result(sent: int, token_requests: int = 1, duration: float = 1.0) -> LoadResult:
    result = LoadResult(tasks=1, requests_per_task=10, succeeded=sent)
    result.token_requests, result.duration = token_requests, duration
    return result


def test_progress_redraws_one_line_on_a_terminal() -> None:
    """At a terminal the line is redrawn with carriage returns and erased at the end."""
    stream = _Terminal()
    progress = Progress("with reuse()", 10, stream=stream, clock=FakeClock())
    progress(_result(3))
    progress(_result(10, token_requests=2))
    progress.done()
    err = stream.getvalue()
    assert err.count("\r") == 4  # two redraws, then erase and return
    assert "3/10 requests, 0 failed, 1 token request," in err
    assert "10/10 requests, 0 failed, 2 token requests," in err
    assert err.endswith("\r")
    assert "\n" not in err


def test_progress_off_a_terminal_is_quiet_for_a_short_run() -> None:
    """In a log, a run shorter than the interval writes nothing at all, however often called."""
    clock = FakeClock()
    stream = io.StringIO()
    progress = Progress("with reuse()", 10, stream=stream, clock=clock)
    for sent in range(10):
        progress(_result(sent))
        clock.advance(LOG_INTERVAL / 20)
    progress.done()
    assert stream.getvalue() == ""


def test_progress_off_a_terminal_logs_a_line_every_interval() -> None:
    """In a log, one whole line is written per interval, four times a second of calls or not."""
    clock = FakeClock()
    stream = io.StringIO()
    progress = Progress("with reuse()", 1000, stream=stream, clock=clock, interval=5.0)
    for step in range(1, 81):  # 20 s of calls, four a second
        clock.advance(0.25)
        progress(_result(step * 10, duration=step * 0.25))
    progress.done()
    lines = stream.getvalue().splitlines(keepends=True)
    assert len(lines) == 4  # at 5, 10, 15 and 20 s
    assert all(line.endswith("\n") and "\r" not in line for line in lines)
    assert lines[0] == "  with reuse(): 200/1,000 requests, 0 failed, 1 token request, 5.0 s\n"
    assert lines[-1].startswith("  with reuse(): 800/1,000 requests")
