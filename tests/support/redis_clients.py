"""Clients of every supported library, opened and closed for a test, on loopback servers.

A ``Flavour`` is a client library and the event loop it runs on: redis-py
and valkey-py run on asyncio only; coredis runs on asyncio and on trio.
``open_clients`` builds independent clients (each stands for one process of
a fleet) of one library, for one server, a cluster or a Sentinel group, and
closes them at the end of its block; coredis clients are entered there, as
coredis requires.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from tests.support.redis_topologies import MASTER_NAME

__all__ = ["FLAVOURS", "Flavour", "open_clients"]


@dataclass(frozen=True)
class Flavour:
    """A client library and the anyio backend it runs on."""

    library: str
    backend: str

    def __str__(self) -> str:
        return f"{self.library}-{self.backend}"


FLAVOURS = [
    Flavour("redis", "asyncio"),
    Flavour("valkey", "asyncio"),
    Flavour("coredis", "asyncio"),
    Flavour("coredis", "trio"),
]


@asynccontextmanager
async def open_clients(
    library: str,
    count: int,
    *,
    port: int | None = None,
    cluster: bool = False,
    sentinels: Sequence[tuple[str, int]] = (),
    timeout: float = 5.0,
    connect: bool = True,
    **options: Any,
) -> AsyncIterator[list[Any]]:
    """``count`` connected clients of ``library``: of the server on ``port``, or the cluster
    entered at ``port``, or the master that ``sentinels`` name. Closed on exit.

    ``options`` go to each client (or, for Sentinel, to the master's client).
    With ``connect``, each client sends a PING first (so that the members
    really race); without, nothing is sent (for servers that refuse them).
    """
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(count):
            if library == "coredis":
                client = await _coredis(stack, port, cluster, sentinels, timeout, options)
            else:
                client = _redis_py(stack, library, port, cluster, sentinels, timeout, options)
            if connect:
                await client.ping()
            clients.append(client)
        yield clients


def _redis_py(
    stack: AsyncExitStack,
    library: str,
    port: int | None,
    cluster: bool,
    sentinels: Sequence[tuple[str, int]],
    timeout: float,
    options: dict[str, Any],
) -> Any:
    if library == "redis":
        import redis.asyncio as package
        from redis.asyncio.retry import Retry
        from redis.asyncio.sentinel import Sentinel
        from redis.backoff import NoBackoff
    else:
        import valkey.asyncio as package  # type: ignore[no-redef]
        from valkey.asyncio.retry import Retry  # type: ignore[assignment]
        from valkey.asyncio.sentinel import Sentinel  # type: ignore[assignment]
        from valkey.backoff import NoBackoff  # type: ignore[assignment]
    settings: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if not cluster:
        # One quick retry: the default backoff only makes outages slower to notice.
        settings["retry"] = Retry(NoBackoff(), 1)
    settings.update(options)
    if sentinels:
        watch = Sentinel(list(sentinels), socket_timeout=timeout)  # type: ignore[no-untyped-call]
        for sentinel in watch.sentinels:  # its own connections, to each sentinel
            stack.push_async_callback(sentinel.aclose)
        client: Any = watch.master_for(MASTER_NAME, **settings)
    elif cluster:
        assert port is not None
        client = package.RedisCluster(host="127.0.0.1", port=port, **settings)
    else:
        assert port is not None
        client = package.Redis(port=port, **settings)
    stack.push_async_callback(client.aclose)
    return client


async def _coredis(
    stack: AsyncExitStack,
    port: int | None,
    cluster: bool,
    sentinels: Sequence[tuple[str, int]],
    timeout: float,
    options: dict[str, Any],
) -> Any:
    import coredis
    from coredis.connection import TCPLocation

    settings: dict[str, Any] = {"stream_timeout": timeout, "connect_timeout": timeout}
    settings.update(options)
    if sentinels:
        watch = coredis.Sentinel(
            sentinels=[TCPLocation(host, number) for host, number in sentinels],
            sentinel_kwargs={"stream_timeout": timeout, "connect_timeout": timeout},
        )
        await stack.enter_async_context(watch)
        client: Any = watch.primary_for(MASTER_NAME, **settings)
    elif cluster:
        assert port is not None
        client = coredis.RedisCluster(startup_nodes=[TCPLocation("127.0.0.1", port)], **settings)
    else:
        client = coredis.Redis(host="127.0.0.1", port=port, **settings)
    return await stack.enter_async_context(client)
