"""buffer()'s default leaves room for a refresh at the observed latency; an explicit one is kept."""

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock
from tokensources import Token
from tokensources.wrappers import Buffer, buffer, reuse

pytestmark = pytest.mark.anyio


class SlowSource:
    """A token endpoint that takes ``latency`` seconds of the fake clock to answer."""

    def __init__(self, clock: FakeClock, latency: float, lifetime: float = 86_400.0) -> None:
        self.clock = clock
        self.latency = latency
        self.lifetime = lifetime
        self.calls = 0

    async def token(self) -> Token:
        self.calls += 1
        self.clock.advance(self.latency)
        return Token(f"token-{self.calls}", expires_at=self.clock() + self.lifetime)

    def invalidate(self, token: Token) -> None:
        pass


async def test_a_slow_endpoint_widens_the_default_buffer(clock: FakeClock) -> None:
    """Answers taking 100 s: the default buffer becomes at least 400 s instead of 300 s."""
    source = Buffer(SlowSource(clock, latency=100.0), jitter=0, clock=clock)
    assert source.seconds == 300.0
    token = await source.token()
    assert token.expires_at is not None
    assert token.refresh_at is not None
    assert source.seconds >= 400.0
    assert token.expires_at - token.refresh_at == pytest.approx(source.seconds)


async def test_a_fast_endpoint_keeps_the_default_of_300_seconds(clock: FakeClock) -> None:
    """Answers taking 50 ms: the default stays 300 s."""
    source = Buffer(SlowSource(clock, latency=0.05), jitter=0, clock=clock)
    token = await source.token()
    assert token.expires_at is not None
    assert token.refresh_at == pytest.approx(token.expires_at - 300.0)


async def test_an_explicit_buffer_is_kept_whatever_the_latency(clock: FakeClock) -> None:
    """seconds=60 given: 60 s before expiry, even at 100 s per answer."""
    source = Buffer(SlowSource(clock, latency=100.0), 60, jitter=0, clock=clock)
    token = await source.token()
    assert token.expires_at is not None
    assert token.refresh_at == pytest.approx(token.expires_at - 60.0)
    assert source.seconds == 60.0


async def test_reuse_leaves_room_for_a_refresh_even_with_buffer_zero(clock: FakeClock) -> None:
    """buffer(0) under reuse() with 2 s refreshes: the soft window opens 4 s (+19 %) before."""
    slow = SlowSource(clock, latency=2.0, lifetime=3600.0)
    cache = reuse(buffer(slow, 0, clock=clock), clock=clock)
    first = await cache.token()
    assert first.expires_at is not None
    hard = first.expires_at - 10.0  # skew
    clock.now = hard - 4.0 * 2**0.25 - 0.01  # the estimate errs long by one bucket at most
    assert cache.fresh() is first
    clock.now = hard - 4.0
    assert cache.fresh() is None  # due: the next call refreshes while others get `first`
    assert await cache.token() is not first
    assert slow.calls == 2


async def test_without_learning_buffer_zero_has_no_soft_window(clock: FakeClock) -> None:
    """learn_margin=False: buffer(0) is fresh until hard expiry, as before."""
    slow = SlowSource(clock, latency=2.0, lifetime=3600.0)
    cache = reuse(buffer(slow, 0, clock=clock), clock=clock, learn_margin=False)
    first = await cache.token()
    assert first.expires_at is not None
    clock.now = first.expires_at - 10.0 - 0.01
    assert cache.fresh() is first


@pytest.mark.parametrize(("lifetime", "buffered"), [(2.0, 0.5), (600.0, 150.0), (3600.0, 300.0)])
async def test_the_default_takes_at_most_a_quarter_of_a_short_token(
    clock: FakeClock, lifetime: float, buffered: float
) -> None:
    """Fast answers: a quarter of the life of a token living under 20 minutes, else 300 s."""
    source = Buffer(SlowSource(clock, latency=0.001, lifetime=lifetime), jitter=0, clock=clock)
    token = await source.token()
    assert token.expires_at is not None
    assert token.refresh_at == pytest.approx(token.expires_at - buffered, abs=0.01)


async def test_a_slow_endpoint_widens_the_default_for_short_tokens_too(clock: FakeClock) -> None:
    """Answers taking 60 s, tokens of 10 minutes: the room for a refresh beats a quarter."""
    source = Buffer(SlowSource(clock, latency=60.0, lifetime=600.0), jitter=0, clock=clock)
    await source.token()
    token = await source.token()
    assert token.expires_at is not None
    assert token.refresh_at is not None
    assert token.expires_at - token.refresh_at > 150.0
