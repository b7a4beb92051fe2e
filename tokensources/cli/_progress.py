"""How a demo run is going, on stderr while it runs.

At a terminal one line is redrawn in place a few times a second. Anywhere
else (a file, a pipe, a CI log) redrawing would leave hundreds of lines, or
none until the end; instead a short line is printed every few seconds, so
that whoever reads the log knows the run is alive. A run shorter than that
prints nothing at all.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from ._load import LoadResult
from ._words import counted

__all__ = ["LOG_INTERVAL", "Progress"]

LOG_INTERVAL = 5.0  # seconds between progress lines off a terminal


class Progress:
    """The progress of one load run, reported on ``stream`` (stderr by default).

    Called with the run's ``LoadResult`` as it stands (``run_load`` does so
    about four times a second). When ``stream`` is a terminal the line is
    redrawn in place and ``done()`` erases it; otherwise a line is written
    every ``interval`` seconds, the first one ``interval`` seconds after the
    start, and ``done()`` writes nothing.

    Args:
        label: what the run is, e.g. ``"with reuse()"``.
        total: the requests the run will send.
        stream: where to write; None for ``sys.stderr`` as it is at the time.
        clock: seconds on a monotonic clock (injectable for tests).
        interval: seconds between lines off a terminal.
    """

    def __init__(
        self,
        label: str,
        total: int,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = LOG_INTERVAL,
    ) -> None:
        self._label = label
        self._total = total
        self._stream = sys.stderr if stream is None else stream
        isatty = getattr(self._stream, "isatty", None)
        self._live = bool(isatty and isatty())
        self._clock = clock
        self._interval = interval
        self._next_at = clock() + interval
        self._width = 0

    def __call__(self, result: LoadResult) -> None:
        """Report ``result`` as it is now: redraw the line, or log one if it is time."""
        line = (
            f"{self._label}: {result.sent:,}/{self._total:,} requests, {result.failed:,} failed, "
            f"{counted(result.token_requests, 'token request')}, {result.duration:.1f} s"
        )
        if self._live:
            self._width = max(self._width, len(line) + 2)
            self._stream.write("\r" + ("  " + line).ljust(self._width))
        else:
            now = self._clock()
            if now < self._next_at:
                return
            self._next_at = now + self._interval
            self._stream.write(f"  {line}\n")
        self._stream.flush()

    def done(self) -> None:
        """Erase the live line, so that what follows starts on a clean line."""
        if self._live and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
