"""The ``Commands`` of redis-py's asyncio clients, and of valkey-py's (its fork, same API).

redis-py and valkey-py share their calling conventions but not their
classes or exceptions, so one adapter serves both, given the library's
module name. Both run on asyncio only; under trio they refuse with a
``ConfigError`` naming coredis, which runs there.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from .._errors import ConfigError
from ._commands import as_bytes

__all__ = ["RedisPyCommands", "redis_py_commands"]

_ASYNCIO_ONLY = (
    "{library} runs only on asyncio, not under trio (or any event loop other than "
    "asyncio): pass a coredis client instead (pip install 'tokensources[coredis]'), "
    "which runs on both, or use InMemoryShared"
)


def redis_py_commands(client: object, top: str) -> RedisPyCommands | None:
    """The adapter for ``client`` if it is an asyncio client of ``top`` (redis or valkey)."""
    package = sys.modules.get(f"{top}.asyncio")
    if package is None:
        return None  # never imported: no client of it can exist
    classes = tuple(
        getattr(package, name)
        for name in ("Redis", "RedisCluster", "Valkey", "ValkeyCluster")
        if hasattr(package, name)
    )
    if not isinstance(client, classes):
        return None
    return RedisPyCommands(client, top)


class RedisPyCommands:
    """``Commands`` through a ``redis.asyncio`` or ``valkey.asyncio`` client.

    Args:
        client: a ``Redis``/``RedisCluster`` (or ``Valkey``/``ValkeyCluster``),
            including the ``Redis`` that ``Sentinel.master_for()`` returns.
        top: ``"redis"`` or ``"valkey"``: whose exceptions to expect.
    """

    __slots__ = ("_client", "_errors", "_library")

    def __init__(self, client: Any, top: str) -> None:
        # Any: two libraries with one API and separately declared types.
        self._client = client
        self._library = f"{top}.asyncio.{type(client).__qualname__}"
        self._errors = importlib.import_module(f"{top}.exceptions")

    @property
    def library(self) -> str:
        """The client's library and class."""
        return self._library

    @property
    def failures(self) -> tuple[type[BaseException], ...]:
        """The library's errors, cluster trouble (not a RedisError) and socket errors."""
        errors = self._errors
        cluster = getattr(errors, "RedisClusterException", None) or errors.ValkeyClusterException
        base = getattr(errors, "RedisError", None) or errors.ValkeyError
        # TimeoutError is also what RedisShared's redis_timeout raises.
        return (base, cluster, OSError, TimeoutError)

    def check_runnable(self) -> None:
        """Refuse any event loop but asyncio's."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise ConfigError(_ASYNCIO_ONLY.format(library=self._library)) from None

    def refused(self, error: BaseException) -> bool:
        """ACL refusals (``NOPERM``), ``NOSCRIPT``, and renamed or disabled commands."""
        errors = self._errors
        if isinstance(error, (errors.NoPermissionError, errors.NoScriptError)):
            return True
        text = str(error).lower()
        return isinstance(error, errors.ResponseError) and (
            "unknown command" in text or "disabled" in text
        )

    def denied(self, error: BaseException) -> bool:
        """Authentication required, refused or impossible, and ACL refusals."""
        errors = self._errors
        return isinstance(
            error,
            (
                errors.AuthenticationError,
                errors.AuthenticationWrongNumberOfArgsError,
                errors.NoPermissionError,
            ),
        )

    def secrets(self) -> tuple[str, ...]:
        """The password in the client's connection settings, if any."""
        found: list[str] = []
        for holder in (self._client, getattr(self._client, "connection_pool", None)):
            settings = getattr(holder, "connection_kwargs", None)
            if isinstance(settings, dict):
                password = settings.get("password")
                if isinstance(password, str) and password:
                    found.append(password)
        return tuple(found)

    async def get(self, key: str) -> bytes | None:
        """``GET``."""
        return as_bytes(await self._client.get(key))

    async def set(self, key: str, value: bytes, ttl_ms: int, *, only_if_absent: bool) -> bool:
        """``SET ... PX [NX]``."""
        return bool(await self._client.set(key, value, px=ttl_ms, nx=only_if_absent))

    async def pttl(self, key: str) -> int:
        """``PTTL``."""
        return int(await self._client.pttl(key))

    async def strlen(self, key: str) -> int | None:
        """``STRLEN``; None for a key of another type."""
        try:
            return int(await self._client.strlen(key))
        except self._errors.ResponseError as exc:
            if str(exc).startswith("WRONGTYPE"):
                return None
            raise

    async def pexpire(self, key: str, ttl_ms: int) -> bool:
        """``PEXPIRE``."""
        return bool(await self._client.pexpire(key, ttl_ms))

    async def delete(self, key: str) -> bool:
        """``DEL``."""
        return bool(await self._client.delete(key))

    async def eval(self, script: str, keys: Sequence[str], args: Sequence[int | str]) -> object:
        """``EVAL`` (not ``EVALSHA``: the same on one server and on a cluster)."""
        reply: object = await self._client.eval(script, len(keys), *keys, *args)
        return reply
