"""Helpers for the shared-source tests: sources built from scratch, concurrent callers."""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from tests.clock import FakeClock
from tokensources import ClientCredentials, Token, TokenSource
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer


def make_source(
    server: AuthorizationServer, clock: FakeClock, **overrides: object
) -> ClientCredentials:
    """A ClientCredentials for the demo client, built from scratch with its own HTTP client."""
    settings: dict[str, object] = {
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "scopes": ("read:messages",),
    }
    settings.update(overrides)
    return ClientCredentials(
        server.token_endpoint,
        http=server.client(),
        clock=clock,
        allow_insecure_http=True,
        **settings,  # type: ignore[arg-type]
    )


async def call_many(sources: Sequence[TokenSource], callers: int) -> list[Token]:
    """Call token() ``callers`` times on each source, all at once; return every result."""
    results: list[Token] = []

    async def call(source: TokenSource) -> None:
        results.append(await source.token())

    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            for source in sources:
                for _ in range(callers):
                    tg.start_soon(call, source)
    return results
