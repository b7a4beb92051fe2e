"""The ``Commands`` of coredis's clients, which run on asyncio and on trio (through anyio).

coredis (version 6 on) runs its connections in a task group of the
client's own, opened by ``async with client:``; a client that was never
entered (or has been closed) cannot send anything, which ``check_runnable``
reports as a ``ConfigError`` rather than as a store outage: it is a
mistake in the program, not trouble with the server. This module imports
coredis, so it is imported only once a coredis client exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import coredis
import coredis.exceptions

from .._errors import ConfigError
from ._commands import as_bytes

__all__ = ["CoredisCommands", "coredis_commands"]


def coredis_commands(client: object) -> CoredisCommands | None:
    """The adapter for ``client`` if it is a coredis ``Redis`` or ``RedisCluster``."""
    if isinstance(client, (coredis.Redis, coredis.RedisCluster)):
        return CoredisCommands(client)
    return None


class CoredisCommands:
    """``Commands`` through a coredis client (``Sentinel.primary_for()``'s included)."""

    __slots__ = ("_client",)

    def __init__(self, client: Any) -> None:
        # Any: the client is generic in its reply type (bytes or str, by decode_responses).
        self._client = client

    @property
    def library(self) -> str:
        """The client's library and class."""
        return f"coredis.{type(self._client).__qualname__}"

    @property
    def failures(self) -> tuple[type[BaseException], ...]:
        """coredis's errors, and the socket and stream errors that may reach through."""
        return (
            coredis.exceptions.RedisError,
            OSError,
            TimeoutError,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            anyio.EndOfStream,
        )

    def check_runnable(self) -> None:
        """Refuse a client whose connections are not running (never entered, or closed)."""
        try:
            self._client.connection_pool.task_group  # noqa: B018 - raises when not entered
        except RuntimeError:
            raise ConfigError(
                f"the {self.library} client is not open: enter it (async with client: ...) "
                "around the code that uses RedisShared, as coredis requires"
            ) from None

    def refused(self, error: BaseException) -> bool:
        """ACL refusals (``NOPERM``), ``NOSCRIPT``, and renamed or disabled commands."""
        errors = coredis.exceptions
        if isinstance(
            error, (errors.AuthorizationError, errors.NoScriptError, errors.UnknownCommandError)
        ):
            return True
        text = str(error).lower()
        return isinstance(error, errors.ResponseError) and (
            "unknown command" in text or "disabled" in text
        )

    def denied(self, error: BaseException) -> bool:
        """Authentication required or refused, and ACL refusals."""
        errors = coredis.exceptions
        return isinstance(error, (errors.AuthenticationError, errors.AuthorizationError))

    def secrets(self) -> tuple[str, ...]:
        """The password in the client's connection settings, if any."""
        settings = getattr(self._client.connection_pool, "connection_kwargs", None)
        password = settings.get("password") if isinstance(settings, dict) else None
        return (password,) if isinstance(password, str) and password else ()

    async def get(self, key: str) -> bytes | None:
        """``GET``."""
        return as_bytes(await self._client.get(key))

    async def set(self, key: str, value: bytes, ttl_ms: int, *, only_if_absent: bool) -> bool:
        """``SET ... PX [NX]``."""
        condition = coredis.PureToken.NX if only_if_absent else None
        return bool(await self._client.set(key, value, px=ttl_ms, condition=condition))

    async def pttl(self, key: str) -> int:
        """``PTTL``."""
        return int(await self._client.pttl(key))

    async def strlen(self, key: str) -> int | None:
        """``STRLEN``; None for a key of another type."""
        try:
            return int(await self._client.strlen(key))
        except coredis.exceptions.WrongTypeError:
            return None

    async def pexpire(self, key: str, ttl_ms: int) -> bool:
        """``PEXPIRE``."""
        return bool(await self._client.pexpire(key, ttl_ms))

    async def delete(self, key: str) -> bool:
        """``DEL``."""
        return bool(await self._client.delete([key]))

    async def eval(self, script: str, keys: Sequence[str], args: Sequence[int | str]) -> object:
        """``EVAL``."""
        reply: object = await self._client.eval(script, keys=list(keys), args=list(args))
        return reply
