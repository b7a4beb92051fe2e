"""A fake wall clock for tests: time moves only when the test says so."""

from __future__ import annotations


class FakeClock:
    """A callable clock (like ``time.time``) that the test advances explicitly."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds
