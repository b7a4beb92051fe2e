"""Store commands with a time bound, whose failures become one internal signal."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import TypeVar

import anyio

from .._log import logger
from .._redact import scrub

__all__ = ["Guard", "RedisUnavailable"]

T = TypeVar("T")


class RedisUnavailable(Exception):  # noqa: N818 - an internal signal, never escapes
    """A store command failed or timed out; the cause is chained."""


class Guard:
    """Runs store commands for ``FleetSource``: each within ``timeout`` seconds.

    Args:
        errors: the exception types that mean "the store failed" (they
            depend on the client library: see ``Commands.failures``).
        timeout: seconds each command may take. A command cut short is
            cancelled; the clients then drop that connection (or that
            reply) instead of reading it as the answer to another.
        secrets: strings never to show in a description (the client's
            password), whatever a library puts in its messages.
    """

    __slots__ = ("_errors", "_secrets", "_timeout")

    def __init__(
        self,
        errors: tuple[type[BaseException], ...],
        timeout: float,
        secrets: Iterable[str] = (),
    ) -> None:
        self._errors = errors
        self._timeout = timeout
        self._secrets = tuple(secrets)

    async def call(self, awaitable: Awaitable[T]) -> T:
        """Await a command; any store failure, the timeout included, raises ``RedisUnavailable``."""
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
            logger.warning("could not %s in Redis (%s); carrying on", what, self.describe(failure))

    def describe(self, failure: BaseException) -> str:
        """The cause of ``failure`` for a log line: its type and message, secrets masked."""
        cause = failure.__cause__ if isinstance(failure, RedisUnavailable) else failure
        if cause is None:
            return "unknown cause"
        text = scrub(str(cause), self._secrets)
        return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
