"""The Redis commands RedisShared sends, and the adapter that sends them for a given client.

``RedisShared`` works with several client libraries; each has its own
calling conventions, exceptions and event loops. ``Commands`` is the little
that ``RedisShared`` needs of one (a handful of commands and ``EVAL``), and
``commands_for`` picks the adapter from the client object passed in:

==================  ==========================================================  ==============
library             clients                                                     event loops
==================  ==========================================================  ==============
``redis.asyncio``   ``Redis``, ``RedisCluster``, ``Sentinel.master_for()``      asyncio
``valkey.asyncio``  ``Valkey``, ``ValkeyCluster``, ``Sentinel.master_for()``    asyncio
``coredis``         ``Redis``, ``RedisCluster``, ``Sentinel.primary_for()``     asyncio, trio
==================  ==========================================================  ==============

A library is looked up only in ``sys.modules``: a client of a library that
was never imported cannot exist, so choosing an adapter imports nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from .._errors import ConfigError

if TYPE_CHECKING:
    # Only for type checkers: the client libraries are optional extras, never imported here.
    import coredis
    import redis.asyncio
    import valkey.asyncio

__all__ = ["SUPPORTED", "Commands", "RedisClient", "as_bytes", "commands_for"]

RedisClient: TypeAlias = (
    "redis.asyncio.Redis | redis.asyncio.RedisCluster"
    " | valkey.asyncio.Valkey | valkey.asyncio.ValkeyCluster"
    " | coredis.Redis[Any] | coredis.RedisCluster[Any]"
)
"""The clients ``RedisShared`` accepts (each library is an optional extra)."""

SUPPORTED = (
    "a redis.asyncio client (Redis, RedisCluster, or Sentinel.master_for()), "
    "a valkey.asyncio client (Valkey, ValkeyCluster, or Sentinel.master_for()), "
    "or a coredis client (Redis, RedisCluster, or Sentinel.primary_for(); runs on trio too)"
)


class Commands(Protocol):
    """The commands of one Redis client library, as ``RedisShared`` sends them.

    Keys are strings, values bytes; replies come back as bytes whatever
    the client's ``decode_responses``. Every method may raise one of
    ``failures`` (the store failed, or refused the command).
    """

    @property
    def library(self) -> str:
        """The client's library and class, for messages (``redis.asyncio.Redis``)."""
        ...

    @property
    def failures(self) -> tuple[type[BaseException], ...]:
        """The exception types that mean "the store failed" for this client."""
        ...

    def check_runnable(self) -> None:
        """Raise ``ConfigError`` if the client cannot run in the current task."""
        ...

    def refused(self, error: BaseException) -> bool:
        """Whether ``error`` is the server refusing the command itself (ACL, disabled)."""
        ...

    def denied(self, error: BaseException) -> bool:
        """Whether ``error`` is the server refusing this client (authentication, ACL)."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Strings that must never reach a log line: the client's password."""
        ...

    async def get(self, key: str) -> bytes | None:
        """``GET``."""
        ...

    async def set(self, key: str, value: bytes, ttl_ms: int, *, only_if_absent: bool) -> bool:
        """``SET key value PX ttl_ms [NX]``; whether it was set."""
        ...

    async def pttl(self, key: str) -> int:
        """``PTTL``: milliseconds left, -1 without expiry, -2 when absent."""
        ...

    async def strlen(self, key: str) -> int | None:
        """``STRLEN``, or None when the key holds something other than a string."""
        ...

    async def pexpire(self, key: str, ttl_ms: int) -> bool:
        """``PEXPIRE``; whether the key existed."""
        ...

    async def delete(self, key: str) -> bool:
        """``DEL`` of one key; whether it existed."""
        ...

    async def eval(self, script: str, keys: Sequence[str], args: Sequence[int | str]) -> object:
        """``EVAL script len(keys) *keys *args``: the raw reply."""
        ...


def commands_for(client: object) -> Commands:
    """The adapter for ``client``, chosen by its type.

    Raises:
        ConfigError: ``client`` is none of the supported clients (the
            message names them, and the type that was given).
    """
    from ._redis_py import redis_py_commands

    found = redis_py_commands(client, "redis") or redis_py_commands(client, "valkey")
    if found is not None:
        return found
    if "coredis" in sys.modules:
        from ._coredis import coredis_commands

        core = coredis_commands(client)
        if core is not None:
            return core
    kind = type(client)
    raise ConfigError(
        f"redis must be {SUPPORTED}; got {kind.__module__}.{kind.__qualname__}" + _hint(kind)
    )


def _hint(kind: type) -> str:
    """A hint for the near misses: a synchronous client, or the Sentinel instead of its client."""
    module = kind.__module__
    top = module.partition(".")[0]
    if top in ("redis", "valkey") and not module.startswith(f"{top}.asyncio"):
        return f" (the synchronous client; use {top}.asyncio's)"
    if top in ("redis", "valkey", "coredis") and kind.__name__ == "Sentinel":
        method = "primary_for" if top == "coredis" else "master_for"
        return f" (the Sentinel itself; pass the client that its {method}(name) returns)"
    return ""


def as_bytes(value: object) -> bytes | None:
    """A reply as bytes (a client with ``decode_responses=True`` answers str); None for others."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return None
