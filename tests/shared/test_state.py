"""Parsing the read script's reply: every shape of reply gives a bounded state, never an error."""

from __future__ import annotations

import pytest

from tokensources.shared._state import MAX_COOLDOWN, RedisState, parse_state

VALUE = b'{"v":1}'


@pytest.mark.parametrize(
    "reply",
    [
        [],
        [None, None, None, None, None],
        [b"x", "y", 3.5, 7, 8],
        [True, True, True, VALUE, b"429"],
        [-2, -2, -2],
    ],
    ids=["empty", "nils", "wrong-types", "booleans", "all-missing"],
)
def test_odd_replies_mean_nothing_is_stored(reply: list[object]) -> None:
    """A reply with missing or mistyped parts reads as no value, no lock and no cooldown."""
    assert parse_state(reply) == RedisState(None, 0.0, False, 0.0, 429)


def test_a_full_reply_is_read_in_seconds() -> None:
    """TTLs in milliseconds become seconds; a str value becomes bytes."""
    state = parse_state([90_500, 3000, 1500, VALUE.decode(), b"503"])
    assert state == RedisState(VALUE, 90.5, True, 1.5, 503)


@pytest.mark.parametrize("ttl", [-1, 0])
def test_a_value_that_does_not_expire_is_not_read(ttl: int) -> None:
    """A value without expiry (or at its very end) is treated as absent."""
    state = parse_state([ttl, -2, -2, VALUE, None])
    assert state.value is None
    assert state.ttl == 0.0


def test_a_cooldown_is_capped_when_read() -> None:
    """Even if Redis reported more, the cooldown read is at most MAX_COOLDOWN."""
    state = parse_state([-2, -2, 10 * 86_400_000, None, b"429"])
    assert state.cooldown == MAX_COOLDOWN
    assert state.problem is None


@pytest.mark.parametrize(
    ("status", "ttl", "problem"),
    [
        (b"teapot", 5000, "not an HTTP error status"),
        (b"399", 5000, "not an HTTP error status"),
        (None, 5000, "not an HTTP error status"),
        (b"429", -1, "no expiry"),
    ],
)
def test_a_malformed_cooldown_is_absent_with_a_reason(
    status: bytes | None, ttl: int, problem: str
) -> None:
    """A cooldown a member could not have written is no cooldown, and says why."""
    state = parse_state([-2, -2, ttl, None, status])
    assert state.cooldown == 0.0
    assert state.problem is not None
    assert problem in state.problem
