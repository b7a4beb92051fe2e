"""DPoPNonce: a shared secret makes workers demand one nonce; no nonce outlives its grace."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from typing import Any

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tests.verify.conftest import MakeVerifier
from tokensources import ConfigError, DPoPKey, Static, Token, TokenAuth
from tokensources.testing import AuthorizationServer
from tokensources.verify import BearerAuth, DPoPNonce, DPoPProofChecker, claims_from
from tokensources.wrappers._hooks import event_counts

pytestmark = pytest.mark.anyio

SECRET = b"a shared secret of 32 bytes min."
REQUESTS = 40
CONCURRENT = 20


async def _app(scope: Any, receive: Any, send: Any) -> None:
    body = claims_from(scope)["sub"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def _round_robin(
    make_verifier: MakeVerifier,
    server: AuthorizationServer,
    clock: FakeClock,
    nonces: list[DPoPNonce],
) -> tuple[list[int], int]:
    """REQUESTS calls through a round-robin of one BearerAuth worker per nonce.

    Returns the statuses and the nonce retries the client made.
    """
    key = DPoPKey.generate(clock=clock)
    token = server.issue_token(claims={"cnf": {"jkt": key.thumbprint}})
    workers = [
        BearerAuth(_app, make_verifier(), dpop=DPoPProofChecker(clock=clock), dpop_nonce=nonce)
        for nonce in nonces
    ]
    turn = itertools.cycle(workers)

    async def balancer(scope: Any, receive: Any, send: Any) -> None:
        await next(turn)(scope, receive, send)

    auth = TokenAuth(Static(Token(token, token_type="DPoP", jkt=key.thumbprint)), clock=clock)
    before = event_counts().get("dpop_nonce_retry", 0)
    statuses: list[int] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=balancer), base_url="https://api.test", auth=auth
    ) as client:
        statuses.append((await client.get("/m")).status_code)  # learns the nonce

        async def call() -> None:
            statuses.append((await client.get("/m")).status_code)

        for _ in range(REQUESTS // CONCURRENT):
            async with anyio.create_task_group() as group:
                for _ in range(CONCURRENT):
                    group.start_soon(call)
    return statuses, event_counts().get("dpop_nonce_retry", 0) - before


async def test_workers_sharing_a_secret_accept_each_others_nonces(
    make_verifier: MakeVerifier, server: AuthorizationServer, clock: FakeClock
) -> None:
    """Two workers, one secret, round-robin: every request 200, after one nonce retry in all."""
    nonces = [DPoPNonce(secret=SECRET, clock=clock) for _ in range(2)]

    statuses, retries = await _round_robin(make_verifier, server, clock, nonces)

    assert statuses == [200] * (REQUESTS + 1)
    assert retries == 1


async def test_workers_with_random_nonces_refuse_each_others(
    make_verifier: MakeVerifier, server: AuthorizationServer, clock: FakeClock
) -> None:
    """Why the secret exists: per-process nonces behind a round-robin fail the first request."""
    nonces = [DPoPNonce(clock=clock) for _ in range(2)]

    statuses, _ = await _round_robin(make_verifier, server, clock, nonces)

    assert statuses[0] == 401


def test_the_shared_nonce_is_the_documented_hmac_of_the_window(clock: FakeClock) -> None:
    """base64url(HMAC-SHA256(secret, label || window)), window = floor(now / lifetime)."""
    nonce = DPoPNonce(secret=SECRET, lifetime=300, clock=clock)
    window = int(clock.now // 300)
    message = b"tokensources DPoP nonce\x00" + window.to_bytes(8, "big")
    digest = hmac.new(SECRET, message, hashlib.sha256).digest()

    assert nonce.current == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert DPoPNonce(secret=SECRET.decode(), lifetime=300, clock=clock).current == nonce.current
    assert DPoPNonce(secret=SECRET[::-1], lifetime=300, clock=clock).current != nonce.current


def test_the_shared_nonce_keeps_the_previous_window_for_the_grace_only(clock: FakeClock) -> None:
    """At a window's start the previous nonce is accepted for `grace` seconds, never older."""
    clock.now = 1_800_000_000.0 - (1_800_000_000.0 % 60)  # a window's first instant
    nonce = DPoPNonce(secret=SECRET, lifetime=60, grace=5, clock=clock)
    first = nonce.current
    assert nonce.accepted() == (first, _previous_window(nonce, clock, 60))
    clock.advance(5)
    assert nonce.accepted() == (first,)

    clock.advance(55)
    second = nonce.current
    assert second != first
    assert nonce.accepted() == (second, first)
    clock.advance(60)
    assert first not in nonce.accepted()


def _previous_window(nonce: DPoPNonce, clock: FakeClock, lifetime: float) -> str:
    """The nonce the same secret gave one window earlier."""
    earlier = FakeClock(clock.now - lifetime)
    return DPoPNonce(secret=SECRET, lifetime=lifetime, clock=earlier).current


@pytest.mark.parametrize("secret", [b"short", "x" * 31, b""], ids=["5", "31", "empty"])
def test_a_short_secret_is_a_config_error_that_does_not_show_it(secret: bytes | str) -> None:
    """Fewer than 32 bytes: ConfigError naming the rule, not the secret."""
    with pytest.raises(ConfigError, match="32 bytes") as caught:
        DPoPNonce(secret=secret)

    if secret:
        shown = secret if isinstance(secret, str) else secret.decode()
        assert shown not in str(caught.value)


def test_a_secret_that_is_not_bytes_or_str_is_a_config_error() -> None:
    """An int or a list is not a secret."""
    for secret in (12345, [1, 2]):
        with pytest.raises(ConfigError, match="secret"):
            DPoPNonce(secret=secret)  # type: ignore[arg-type]


def test_the_secret_never_shows_and_cannot_be_rotated_by_hand(clock: FakeClock) -> None:
    """repr names the mode, not the secret; rotate() is refused (the windows are the rotation)."""
    nonce = DPoPNonce(secret=SECRET, clock=clock)

    assert SECRET.decode() not in repr(nonce)
    assert "secret=<shared>" in repr(nonce)
    with pytest.raises(ConfigError, match="windows"):
        nonce.rotate()


def test_after_a_long_idle_the_old_random_nonce_is_not_accepted(clock: FakeClock) -> None:
    """Rotated lazily long after its lifetime: the old nonce is past its window + grace, refused."""
    nonce = DPoPNonce(lifetime=60, grace=5, clock=clock)
    first = nonce.current
    clock.advance(3600)

    assert nonce.accepted() == (nonce.current,)
    assert first not in nonce.accepted()


def test_a_random_nonce_rotated_on_time_keeps_its_grace(clock: FakeClock) -> None:
    """Read a second after its due rotation: the previous one is accepted until due + grace."""
    nonce = DPoPNonce(lifetime=60, grace=5, clock=clock)
    first = nonce.current
    clock.advance(61)
    second = nonce.current

    assert nonce.accepted() == (second, first)
    clock.advance(4)
    assert nonce.accepted() == (second,)
    assert nonce.rotate() != second
    assert second in nonce.accepted()
