"""Shared fixtures: both anyio backends, an injectable clock, global state reset."""

from __future__ import annotations

import pytest

from tests.clock import FakeClock


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param("trio", id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every anyio test on asyncio and on trio."""
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    """A wall clock the test moves by hand, starting at a fixed instant."""
    return FakeClock()


@pytest.fixture(autouse=True)
def _forget_learned_auth_styles() -> None:
    """AuthStyle.AUTO learns per process; every test starts from nothing learned."""
    from tokensources.sources._client_credentials import forget_learned_auth_styles

    forget_learned_auth_styles()
