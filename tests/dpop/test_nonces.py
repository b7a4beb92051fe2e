"""DPoPNonces: one nonce per origin, malformed values ignored with one log line, memory bounded."""

from __future__ import annotations

import logging

import pytest

from tokensources import ConfigError
from tokensources.sources._dpop_nonces import (
    MAX_NONCE_LENGTH,
    DPoPNonces,
    asks_for_nonce,
    origin,
    valid_nonce,
)


def test_a_nonce_belongs_to_its_origin_only() -> None:
    """Scheme, host and port decide; the path and query do not."""
    nonces = DPoPNonces()
    nonces.learn("https://auth.example.com/oauth/token", "n-1")

    assert nonces.get("https://auth.example.com/other?x=1") == "n-1"
    assert nonces.get("https://AUTH.example.com:443/") == "n-1"
    assert nonces.get("https://auth.example.com:8443/oauth/token") is None
    assert nonces.get("http://auth.example.com/oauth/token") is None
    assert nonces.get("https://api.example.com/") is None


def test_the_latest_nonce_wins_and_a_missing_header_keeps_it() -> None:
    """A new DPoP-Nonce replaces the old one; an answer without one changes nothing."""
    nonces = DPoPNonces()
    nonces.learn("https://a.example/", "n-1")
    nonces.learn("https://a.example/", "n-2")

    assert nonces.learn("https://a.example/", None) == "n-2"
    assert nonces.get("https://a.example/") == "n-2"


@pytest.mark.parametrize(
    "value",
    ["", "has space", 'has"quote', "back\\slash", "é", "x" * (MAX_NONCE_LENGTH + 1)],
    ids=["empty", "space", "quote", "backslash", "non-ascii", "too-long"],
)
def test_a_malformed_nonce_is_ignored_logged_once_and_counted(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 9449 §8.1 NQCHARs only: anything else keeps the old nonce and never raises."""
    nonces = DPoPNonces()
    nonces.learn("https://a.example/", "good")
    caplog.set_level(logging.WARNING, logger="tokensources")

    for _ in range(3):
        assert nonces.learn("https://a.example/", value) == "good"

    assert nonces.get("https://a.example/") == "good"
    assert nonces.ignored == 3
    warnings = [r for r in caplog.records if "malformed DPoP-Nonce" in r.getMessage()]
    assert len(warnings) == 1
    assert "https://a.example" in warnings[0].getMessage()
    if value.strip():
        assert value not in warnings[0].getMessage()


def test_valid_nonces_are_the_rfc_characters() -> None:
    """Every visible ASCII character but the double quote and backslash is allowed."""
    allowed = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\')
    assert valid_nonce(allowed)
    assert not valid_nonce(None)


def test_memory_is_bounded_oldest_origin_first() -> None:
    """Past max_origins, the origin learned longest ago is forgotten."""
    nonces = DPoPNonces(max_origins=2)
    nonces.learn("https://a.example/", "a")
    nonces.learn("https://b.example/", "b")
    nonces.learn("https://a.example/", "a2")  # a is now the most recent
    nonces.learn("https://c.example/", "c")

    assert nonces.get("https://b.example/") is None
    assert nonces.get("https://a.example/") == "a2"
    assert nonces.get("https://c.example/") == "c"


def test_the_memory_of_logged_origins_is_bounded_too(caplog: pytest.LogCaptureFixture) -> None:
    """Malformed nonces from more origins than max_origins: the oldest is forgotten, logged anew."""
    nonces = DPoPNonces(max_origins=2)
    caplog.set_level(logging.WARNING, logger="tokensources")

    for name in ("a", "b", "c", "a"):
        nonces.learn(f"https://{name}.example/", "bad nonce")

    logged = [r.getMessage() for r in caplog.records if "malformed DPoP-Nonce" in r.getMessage()]
    assert len(logged) == 4  # a was forgotten when c came, so it is logged again


def test_bad_settings_are_refused() -> None:
    """max_origins must be a positive integer; origins need absolute http(s) URLs."""
    with pytest.raises(ConfigError):
        DPoPNonces(max_origins=0)
    with pytest.raises(ConfigError):
        origin("mailto:someone@example.com")
    assert origin("https://[::1]:8443/x") == "https://[::1]:8443"


@pytest.mark.parametrize(
    ("status", "header", "asks"),
    [
        (
            401,
            'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce"',
            True,
        ),
        (401, 'DPoP algs="ES256 RS256", error="use_dpop_nonce"', True),
        (401, 'Bearer realm="api", DPoP error="use_dpop_nonce"', True),
        (401, 'DPoP realm="a, b", error="use_dpop_nonce"', True),
        (401, "dpop error = use_dpop_nonce", True),
        (401, 'DPoP error="invalid_token"', False),
        (401, 'Bearer error="use_dpop_nonce", DPoP algs="ES256"', False),
        (401, 'DPoP error_description="error=use_dpop_nonce"', False),
        (401, 'DPoP error="use_dpop_nonce"x', False),
        (401, "", False),
        (401, None, False),
        (400, 'DPoP error="use_dpop_nonce"', False),
        (403, 'DPoP error="use_dpop_nonce"', False),
    ],
)
def test_a_resource_nonce_challenge_is_recognised(
    status: int, header: str | None, asks: bool
) -> None:
    """Only a 401 whose DPoP challenge says use_dpop_nonce asks for a nonce (RFC 9449 §9)."""
    assert asks_for_nonce(status, header) is asks


def test_a_hostile_challenge_costs_little() -> None:
    """Long or unbalanced headers are read once, with a bound, and never match by accident."""
    for header in ("a" * 50_000, 'DPoP x="' + "\\" * 50_000, "DPoP " + "a, " * 20_000):
        assert asks_for_nonce(401, header) is False
