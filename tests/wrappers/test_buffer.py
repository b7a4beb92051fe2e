"""buffer(): refresh_at = expires_at - min(seconds, lifetime/2) - jitter, expiry untouched."""

from __future__ import annotations

import random

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.clock import FakeClock
from tests.wrappers.conftest import ScriptedSource
from tokensources import ClientCredentials, ConfigError, Token
from tokensources.testing import AuthorizationServer
from tokensources.wrappers import Buffer, buffer, reuse

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0
DAY = 86_400.0


@given(
    lifetime=st.floats(min_value=1.0, max_value=DAY),
    seconds=st.floats(min_value=0.0, max_value=2 * DAY),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_refresh_point_rule_holds_for_every_lifetime(
    lifetime: float, seconds: float, jitter: float, seed: int
) -> None:
    """For lifetimes of 1 s to 1 day the refresh point follows the rule, within [now, expiry]."""
    wrapper = Buffer(
        ScriptedSource(FakeClock(NOW)), seconds, jitter=jitter, rng=random.Random(seed)
    )
    expires_at = NOW + lifetime
    refresh_at = wrapper.refresh_point(expires_at, NOW)
    margin = min(seconds, lifetime / 2)
    assert refresh_at <= expires_at
    assert refresh_at <= expires_at - margin + 1e-6
    assert refresh_at >= expires_at - margin - jitter * margin - 1e-6
    assert refresh_at >= NOW - 1e-6


@given(
    lifetime=st.floats(min_value=1.0, max_value=DAY),
    seconds=st.floats(min_value=0.0, max_value=2 * DAY),
)
def test_without_jitter_the_refresh_point_is_exact(lifetime: float, seconds: float) -> None:
    """With jitter=0 the refresh point is exactly expires_at - min(seconds, lifetime/2)."""
    wrapper = Buffer(ScriptedSource(FakeClock(NOW)), seconds, jitter=0)
    expires_at = NOW + lifetime
    assert wrapper.refresh_point(expires_at, NOW) == pytest.approx(
        expires_at - min(seconds, lifetime / 2), abs=1e-6
    )


def test_already_expired_token_refreshes_at_expiry() -> None:
    """A token that arrives already expired gets refresh_at = expires_at, never later."""
    wrapper = Buffer(ScriptedSource(FakeClock(NOW)), 300)
    assert wrapper.refresh_point(NOW - 5, NOW) == NOW - 5


def test_jitter_spreads_replicas() -> None:
    """Replicas given the same token pick different refresh points."""
    points = {
        Buffer(ScriptedSource(FakeClock(NOW)), 300).refresh_point(NOW + 3600, NOW)
        for _ in range(50)
    }
    assert len(points) == 50
    assert all(NOW + 3600 - 330 <= point <= NOW + 3600 - 300 for point in points)


async def test_tokens_from_the_server_get_a_refresh_point(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock
) -> None:
    """A real hour-long token gets refresh_at 300-330 s before expiry; expires_at is unchanged."""
    with anyio.fail_after(10):
        token = await buffer(credentials, 300, clock=clock).token()
    assert token.expires_at == clock() + 3600
    assert token.refresh_at is not None
    assert token.expires_at - 330 <= token.refresh_at <= token.expires_at - 300


async def test_short_token_is_refreshed_halfway(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock
) -> None:
    """A 2-second token is refreshed after about a second, not 300 s before it was issued."""
    server.token_lifetime = 2
    cache = reuse(buffer(credentials, 300, jitter=0, clock=clock), clock=clock)
    with anyio.fail_after(10):
        first = await cache.token()
        assert first.refresh_at == clock() + 1
        clock.advance(0.99)
        assert await cache.token() is first
        clock.advance(0.01)
        assert await cache.token() is not first
    assert server.counters.token_requests == 2


async def test_token_without_expiry_passes_through(clock: FakeClock) -> None:
    """A token of unknown expiry is returned untouched."""
    source = ScriptedSource(clock, lifetime=None)
    with anyio.fail_after(10):
        token = await buffer(source, clock=clock).token()
    assert token.refresh_at is None
    assert token.expires_at is None


async def test_an_earlier_inner_refresh_point_is_kept(clock: FakeClock) -> None:
    """buffer(buffer(src)) keeps the earlier of the two refresh points."""
    source = ScriptedSource(clock)
    with anyio.fail_after(10):
        token = await buffer(buffer(source, 600, jitter=0, clock=clock), 60, clock=clock).token()
    assert token.expires_at is not None
    assert token.refresh_at == token.expires_at - 600


async def test_invalidate_and_aclose_pass_down(clock: FakeClock) -> None:
    """invalidate() and aclose() reach the inner source."""
    source = ScriptedSource(clock)
    token = Token("abc")
    async with buffer(source) as wrapper:
        wrapper.invalidate(token)
        assert wrapper.source is source
    assert source.invalidated == [token]
    assert source.closed


@pytest.mark.parametrize(
    ("seconds", "jitter", "name"),
    [
        (-1, 0.1, "seconds"),
        (float("inf"), 0.1, "seconds"),
        (300, 1.5, "jitter"),
        (300, -0.1, "jitter"),
    ],
)
def test_bad_settings_are_refused(seconds: float, jitter: float, name: str) -> None:
    """Negative or infinite seconds and a jitter outside 0..1 raise ConfigError."""
    with pytest.raises(ConfigError, match=name):
        buffer(ScriptedSource(FakeClock()), seconds, jitter=jitter)
