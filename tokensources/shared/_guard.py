"""Redis commands with a time bound, whose failures become one internal signal."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import anyio

from .._log import logger

__all__ = ["Guard", "RedisUnavailable", "describe"]

T = TypeVar("T")


class RedisUnavailable(Exception):  # noqa: N818 - an internal signal, never escapes
    """A Redis command failed or timed out; the cause is chained."""


class Guard:
    """Runs Redis commands for ``FleetSource``: each within ``timeout`` seconds.

    Args:
        errors: the exception types that mean "Redis failed" (they depend
            on the client: cluster errors are not ``RedisError``s).
        timeout: seconds each command may take. A command cut short is
            cancelled; redis-py then drops that connection instead of
            reusing it with an answer still pending.
    """

    __slots__ = ("_errors", "_timeout")

    def __init__(self, errors: tuple[type[BaseException], ...], timeout: float) -> None:
        self._errors = errors
        self._timeout = timeout

    async def call(self, awaitable: Awaitable[T]) -> T:
        """Await a command; any Redis failure, the timeout included, raises ``RedisUnavailable``."""
        try:
            with anyio.fail_after(self._timeout):
                return await awaitable
        except self._errors as exc:
            raise RedisUnavailable from exc

    async def quietly(self, awaitable: Awaitable[object], what: str) -> None:
        """Await a command whose failure must not fail the caller: log it and carry on."""
        try:
            await self.call(awaitable)
        except RedisUnavailable as failure:
            logger.warning("could not %s in Redis (%s); carrying on", what, describe(failure))


def describe(failure: RedisUnavailable) -> str:
    """The cause of ``failure`` for a log line: its type, and its message if it has one."""
    cause = failure.__cause__
    if cause is None:
        return "unknown cause"
    text = str(cause)
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
