"""The fleet-wide cooldown: recorded as soon as any attempt meets a Retry-After.

A ``retry()`` inside ``RedisShared`` waits out a ``Retry-After`` itself; the
rest of the fleet must hear of it at once, not after that ``retry()`` has
spent its attempts. So ``CooldownReporter`` finds every ``Retry`` in the
source's chain of wrappers and observes it (``Retry.observe``) while the
fleet's fetch runs, recording each ``Retry-After`` in Redis from a task of
the fetch's task group. A ``Retry`` hidden behind a wrapper without
``.source`` cannot be found; its final error is still recorded.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager

import anyio.abc

from .._chain import wrapper_chain
from .._errors import TokenEndpointError, TokenSourceError
from .._log import logger
from .._source import TokenSource
from ..wrappers._retry import FailureObserver, Retry

__all__ = ["CooldownReporter", "cooldown_error"]


class CooldownReporter:
    """Records the ``Retry-After``s met while the fleet fetches, for the whole fleet.

    Args:
        source: the source the fleet fetches from; the ``Retry`` wrappers in
            its chain are found once, here.
        record: records a cooldown (seconds, HTTP status) for the fleet; it
            logs its own failures and never raises.
        on_cooldown: told of each ``Retry-After`` recorded (for an event).
    """

    __slots__ = ("_on_cooldown", "_record", "_retries")

    def __init__(
        self,
        source: TokenSource,
        record: Callable[[float, int], Awaitable[None]],
        on_cooldown: Callable[[TokenEndpointError], None],
    ) -> None:
        self._retries = _retries_in(source)
        self._record = record
        self._on_cooldown = on_cooldown

    @contextmanager
    def during(self, tg: anyio.abc.TaskGroup) -> Iterator[FailureObserver]:
        """Observe the chain's retries while the block runs; record what they meet in ``tg``.

        Yields the observer itself, for the fetch's own final error (which
        is reported once, whoever reports it first).
        """
        reported: list[TokenSourceError] = []
        home = threading.get_ident()

        def observe(error: TokenSourceError) -> None:
            # A Retry may serve callers on other threads meanwhile: their
            # failures are not this fetch's, and this task group is not theirs.
            if threading.get_ident() != home or any(e is error for e in reported):
                return
            reported.append(error)
            if isinstance(error, TokenEndpointError):
                tg.start_soon(self._share, error)

        with ExitStack() as observing:
            for wrapper in self._retries:
                observing.enter_context(wrapper.observe(observe))
            yield observe

    async def _share(self, error: TokenEndpointError) -> None:
        if error.retry_after is None or error.retry_after <= 0 or not error.transient:
            return
        logger.warning(
            "token endpoint answered %s with Retry-After %.1fs; the fleet waits",
            error.status_code,
            error.retry_after,
        )
        self._on_cooldown(error)
        await self._record(error.retry_after, error.status_code)


def cooldown_error(seconds: float, status: int) -> TokenEndpointError:
    """The error for a caller with no valid token while the fleet sits a cooldown out."""
    return TokenEndpointError(
        f"the token endpoint asked the fleet to wait {math.ceil(seconds)}s "
        "(a Retry-After recorded in Redis by another process); no valid token meanwhile",
        status_code=status,
        retry_after=seconds,
    )


def _retries_in(source: TokenSource) -> tuple[Retry, ...]:
    """Every ``Retry`` in the chain of wrappers from ``source`` down (through ``.source``)."""
    return tuple(wrapper for wrapper in wrapper_chain(source) if isinstance(wrapper, Retry))
