"""The learned margin's estimator and rules: a decayed high quantile, bounded by skew and lifetime.

Pure units (no event loop): ``DelayQuantile`` on a fake clock, and the
instants ``deadlines()`` works out from a margin and a refresh room.
"""

from __future__ import annotations

import math

import pytest

from tests.support.clock import FakeClock
from tokensources import Token
from tokensources.wrappers._margin import DelayQuantile
from tokensources.wrappers._policy import Settings, deadlines

NOW = 1_800_000_000.0
SETTINGS = Settings(10.0, None, 1.0, lambda: NOW, None, None)


def test_nothing_observed_is_a_zero_margin() -> None:
    """Before any observation the quantile is 0.0, so nothing moves."""
    estimate = DelayQuantile(FakeClock(NOW))
    assert not estimate.observed
    assert estimate.quantile() == 0.0


def test_the_quantile_covers_the_high_delays_within_one_bucket() -> None:
    """1 000 delays of 10 ms to 1 s: the 99th percentile is about 0.99 s, never below it."""
    clock = FakeClock(NOW)
    estimate = DelayQuantile(clock)
    for step in range(1000):
        estimate.observe(0.01 + step * 0.98 / 999)
    assert 0.98 <= estimate.quantile() <= 0.98 * 2**0.25 * 1.01


def test_one_freak_delay_in_a_thousand_does_not_move_the_quantile() -> None:
    """A single 60 s delay among 999 of 50 ms leaves the 99th percentile near 50 ms."""
    estimate = DelayQuantile(FakeClock(NOW))
    for _ in range(999):
        estimate.observe(0.05)
    estimate.observe(60.0)
    assert estimate.quantile() < 0.07


def test_raise_to_moves_the_quantile_at_once() -> None:
    """After 10 000 short delays, one expiry in flight of 3 s puts the quantile at 3 s or more."""
    estimate = DelayQuantile(FakeClock(NOW))
    for _ in range(10_000):
        estimate.observe(0.02)
    estimate.raise_to(3.0)
    assert estimate.quantile() >= 3.0


def test_the_quantile_shrinks_back_when_delays_fall() -> None:
    """Long delays then short ones, one a second: within a few half-lives the quantile follows."""
    clock = FakeClock(NOW)
    estimate = DelayQuantile(clock, half_life=30.0)
    for _ in range(200):
        estimate.observe(2.0)
    estimate.raise_to(5.0)
    assert estimate.quantile() >= 5.0
    for _ in range(300):  # five minutes of short delays, one a second
        clock.advance(1.0)
        estimate.observe(0.01)
    assert estimate.quantile() < 0.05


def test_weights_never_overflow_over_a_long_run() -> None:
    """A year of observations, one an hour: the estimate stays finite and follows the latest."""
    clock = FakeClock(NOW)
    estimate = DelayQuantile(clock, half_life=30.0)
    for _ in range(24 * 365):
        clock.advance(3600.0)
        estimate.observe(0.1)
    assert math.isfinite(estimate.quantile())
    assert 0.1 <= estimate.quantile() < 0.13


@pytest.mark.parametrize("delay", [-1.0, 0.0, 0.0005, math.nan])
def test_negligible_or_nonsense_delays_count_as_zero(delay: float) -> None:
    """Negative, sub-millisecond and NaN delays are recorded as no delay at all."""
    estimate = DelayQuantile(FakeClock(NOW))
    estimate.observe(delay)
    assert estimate.observed
    assert estimate.quantile() == 0.0


def test_without_a_margin_the_instants_are_those_of_skew() -> None:
    """An hour-long token, no margin: spent at expires_at - skew, due then too."""
    token = Token("t", expires_at=NOW + 3600)
    assert deadlines(token, NOW, SETTINGS) == (NOW + 3590, NOW + 3590)


def test_a_margin_larger_than_skew_moves_hard_expiry() -> None:
    """A learned 25 s margin on an hour-long token: spent 25 s before expiry."""
    token = Token("t", expires_at=NOW + 3600)
    _, spent = deadlines(token, NOW, SETTINGS, margin=25.0)
    assert spent == NOW + 3600 - 25


@pytest.mark.parametrize("margin", [0.0, 1.0, 5.0])
def test_a_margin_smaller_than_skew_changes_nothing(margin: float) -> None:
    """The margin is never below skew: tokens are never held past expires_at - skew."""
    token = Token("t", expires_at=NOW + 3600)
    assert deadlines(token, NOW, SETTINGS, margin=margin)[1] == NOW + 3590


def test_the_margin_never_takes_more_than_half_the_lifetime() -> None:
    """A 1 000 s margin on a 60 s token leaves it usable for 30 s."""
    token = Token("t", expires_at=NOW + 60)
    _, spent = deadlines(token, NOW, SETTINGS, margin=1000.0)
    assert spent == NOW + 30


def test_the_soft_window_leaves_room_for_a_refresh() -> None:
    """No buffer, a 4 s refresh room: due 4 s before spent; at most half of what is left."""
    token = Token("t", expires_at=NOW + 3600)
    assert deadlines(token, NOW, SETTINGS, room=4.0) == (NOW + 3586, NOW + 3590)
    short = Token("t", expires_at=NOW + 10)
    due, spent = deadlines(short, NOW, SETTINGS, room=100.0)
    assert spent == NOW + 9
    assert due == NOW + 4.5


def test_an_earlier_refresh_at_from_buffer_is_kept() -> None:
    """buffer()'s refresh_at before the room's point wins."""
    token = Token("t", expires_at=NOW + 3600, refresh_at=NOW + 3300)
    assert deadlines(token, NOW, SETTINGS, margin=20.0, room=4.0) == (NOW + 3300, NOW + 3580)


def test_a_token_without_expiry_is_unaffected() -> None:
    """No expires_at: never due, never spent, whatever the margin and room."""
    token = Token("t")
    assert deadlines(token, NOW, SETTINGS, margin=50.0, room=50.0) == (math.inf, math.inf)
