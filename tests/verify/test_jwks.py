"""The JWKS cache: one fetch for a storm, bounded refetches, rotation, outages."""

from __future__ import annotations

import secrets

import anyio
import pytest

from tests.support.clock import FakeClock
from tests.verify.conftest import MakeVerifier, resign, unpublished_key
from tokensources import InvalidTokenError, TokenEndpointError, TokenSourceError
from tokensources.testing import AuthorizationServer
from tokensources.verify import JWTVerifier

pytestmark = pytest.mark.anyio

_KEY = unpublished_key()


async def verify_all(verifier: JWTVerifier, tokens: list[str]) -> tuple[int, int]:
    """Verify every token concurrently; return (accepted, refused)."""
    outcome = {"ok": 0, "refused": 0}

    async def one(token: str) -> None:
        try:
            await verifier.verify(token)
        except InvalidTokenError:
            outcome["refused"] += 1
        else:
            outcome["ok"] += 1

    async with anyio.create_task_group() as tg:
        for token in tokens:
            tg.start_soon(one, token)
    return outcome["ok"], outcome["refused"]


async def test_cold_storm_makes_one_fetch(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """5 000 concurrent verifications on a cold cache make one discovery and one JWKS fetch."""
    verifier = make_verifier()
    token = server.issue_token()
    with anyio.fail_after(60):
        assert await verify_all(verifier, [token] * 5000) == (5000, 0)
    assert server.counters.jwks_requests == 1
    assert server.counters.discovery_requests == 1


async def test_forged_kids_cost_at_most_one_refetch(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """1 000 tokens with random forged kids, concurrent then sequential, add at most one fetch."""
    verifier = make_verifier()
    with anyio.fail_after(10):
        await verifier.verify(server.issue_token())
    clock.advance(120)  # past the cool-down since the first fetch
    template = server.issue_token()
    forged = [resign(template, _KEY, kid=secrets.token_hex(8)) for _ in range(1000)]
    with anyio.fail_after(60):
        assert await verify_all(verifier, forged[:500]) == (0, 500)
        for token in forged[500:]:
            with pytest.raises(InvalidTokenError, match="key id is not in"):
                await verifier.verify(token)
    assert server.counters.jwks_requests == 2


async def test_unknown_kid_within_cooldown_makes_no_fetch(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """Right after a fetch, an unknown kid is refused without refetching."""
    verifier = make_verifier()
    with anyio.fail_after(10):
        await verifier.verify(server.issue_token())
        with pytest.raises(InvalidTokenError):
            await verifier.verify(resign(server.issue_token(), _KEY, kid="nope"))
    assert server.counters.jwks_requests == 1


async def test_rotation_is_picked_up_by_unknown_kid(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """After a key rotation, the first token with the new kid triggers one refetch and passes."""
    verifier = make_verifier()
    old = server.issue_token()
    with anyio.fail_after(10):
        await verifier.verify(old)
        server.rotate_keys()
        clock.advance(61)
        new = [server.issue_token() for _ in range(100)]
        assert await verify_all(verifier, new) == (100, 0)
        with pytest.raises(InvalidTokenError, match="key id is not in"):
            await verifier.verify(old)
    assert server.counters.jwks_requests == 2


async def test_rotation_is_picked_up_by_max_age(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """After jwks_max_age the key set is refreshed, so a withdrawn key stops verifying."""
    verifier = make_verifier(jwks_max_age=200)  # shorter than the server's max-age=300
    old = server.issue_token(lifetime=7200)
    with anyio.fail_after(10):
        await verifier.verify(old)
        server.rotate_keys()
        clock.advance(199)
        await verifier.verify(old)
        assert server.counters.jwks_requests == 1
        clock.advance(2)
        # The refresh happens on this call; the old key is gone afterwards.
        with pytest.raises(InvalidTokenError):
            await verifier.verify(old)
    assert server.counters.jwks_requests == 2


async def test_endpoint_cache_control_shortens_the_refresh_interval(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """The JWKS endpoint's max-age=300 wins over a longer jwks_max_age."""
    verifier = make_verifier(jwks_max_age=600)
    token = server.issue_token(lifetime=7200)
    with anyio.fail_after(10):
        await verifier.verify(token)
        clock.advance(299)
        await verifier.verify(token)
        assert server.counters.jwks_requests == 1
        clock.advance(2)
        await verifier.verify(token)
    assert server.counters.jwks_requests == 2


async def test_keep_old_rotation_accepts_both(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """During a key rollover both the old and the new key verify."""
    verifier = make_verifier()
    old = server.issue_token()
    with anyio.fail_after(10):
        await verifier.verify(old)
        server.rotate_keys(keep_old=True)
        clock.advance(61)
        await verifier.verify(server.issue_token())
        await verifier.verify(old)
    assert server.counters.jwks_requests == 2


async def test_endpoint_down_keeps_cached_keys(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """With the JWKS endpoint failing, the cached keys keep verifying through refreshes."""
    verifier = make_verifier(jwks_max_age=600, jwks_stale_if_error=3600)
    token = server.issue_token(lifetime=86400)
    with anyio.fail_after(10):
        await verifier.verify(token)
        server.faults.jwks_fail_next(1000, 503)
        for _ in range(10):
            clock.advance(300)
            for _ in range(5):
                assert (await verifier.verify(token)).subject == "demo-client"
        # An unknown kid forces a refetch, which fails: the keys stay.
        with pytest.raises(InvalidTokenError):
            await verifier.verify(resign(token, _KEY, kid="rotated?"))
        await verifier.verify(token)
    # 1 good fetch, then at most one failing attempt per call after max_age (with backoff).
    assert 2 <= server.counters.jwks_requests <= 1 + 10 * 5 + 1


async def test_endpoint_down_past_the_stale_window_is_a_transient_error(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """Once the stale-if-error window is over, verification fails with a transient fetch error."""
    verifier = make_verifier(jwks_max_age=600, jwks_stale_if_error=600)
    token = server.issue_token(lifetime=86400)
    with anyio.fail_after(10):
        await verifier.verify(token)
        server.faults.jwks_fail_next(1000, 503)
        clock.advance(1201)
        with pytest.raises(TokenEndpointError) as info:
            await verifier.verify(token)
        assert not isinstance(info.value, InvalidTokenError)
        assert info.value.transient
        assert info.value.status_code == 503
        server.faults.reset()
        clock.advance(60)  # past the backoff that follows a failure with nothing usable cached
        assert (await verifier.verify(token)).subject == "demo-client"


async def test_cold_cache_with_endpoint_down_fails_transiently(clock: FakeClock) -> None:
    """Over real HTTP, 50 concurrent callers on a cold cache share one failing fetch's error."""
    server = AuthorizationServer(clock=clock)
    server.faults.jwks_fail_next(1, 500)
    errors: list[BaseException] = []

    async def one(verifier: JWTVerifier, token: str) -> None:
        try:
            await verifier.verify(token)
        except TokenSourceError as exc:
            errors.append(exc)

    with anyio.fail_after(20):
        async with server.serve() as url:
            token = server.issue_token()  # the issuer is the served URL from here on
            async with JWTVerifier(url, server.audience, clock=clock) as verifier:
                async with anyio.create_task_group() as tg:
                    for _ in range(50):
                        tg.start_soon(one, verifier, token)
                assert server.counters.jwks_requests == 1
                assert len(errors) == 50
                assert len({id(e) for e in errors}) == 1
                assert isinstance(errors[0], TokenEndpointError)
                assert errors[0].transient
                clock.advance(60)  # past the backoff that follows a failure with nothing cached
                await verifier.verify(token)
    assert server.counters.jwks_requests == 2


async def test_cold_storm_over_real_http(clock: FakeClock) -> None:
    """Over real HTTP (the fetch really waits), 1 000 concurrent verifications make one fetch."""
    server = AuthorizationServer(clock=clock)
    with anyio.fail_after(60):
        async with server.serve() as url:
            token = server.issue_token()
            async with JWTVerifier(url, server.audience, clock=clock) as verifier:
                assert await verify_all(verifier, [token] * 1000) == (1000, 0)
    assert server.counters.jwks_requests == 1
    assert server.counters.discovery_requests == 1


async def test_explicit_jwks_url_skips_discovery(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """With jwks_url given, no discovery request is made."""
    verifier = make_verifier(jwks_url=server.jwks_uri)
    with anyio.fail_after(10):
        await verifier.verify(server.issue_token())
    assert server.counters.discovery_requests == 0
    assert server.counters.jwks_requests == 1


async def test_over_real_http_on_loopback(clock: FakeClock) -> None:
    """The verifier works over real HTTP on loopback, with a client it owns and closes."""
    server = AuthorizationServer(clock=clock)
    with anyio.fail_after(20):
        async with server.serve() as url:
            async with JWTVerifier(url, server.audience, clock=clock) as verifier:
                claims = await verifier.verify(server.issue_token())
    assert claims["iss"] == url
    assert server.counters.jwks_requests == 1


async def test_endpoint_down_retries_back_off(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """While the JWKS fails, refetches are spaced 2, 4, 8 … seconds apart, keys still served."""
    verifier = make_verifier(jwks_url=server.jwks_uri, jwks_max_age=600)
    token = server.issue_token(lifetime=86400)
    with anyio.fail_after(10):
        await verifier.verify(token)
        server.faults.jwks_fail_next(1000, 503)
        clock.advance(600)
        expected = 1
        for wait in (2, 4, 8, 16):
            for _ in range(20):
                await verifier.verify(token)
            expected += 1
            assert server.counters.jwks_requests == expected
            clock.advance(wait - 0.5)
            await verifier.verify(token)
            assert server.counters.jwks_requests == expected
            clock.advance(0.5)
        server.faults.reset()
        await verifier.verify(token)
        assert server.counters.jwks_requests == expected + 1
        clock.advance(299)  # the server's max-age=300 sets the next interval
        await verifier.verify(token)
    assert server.counters.jwks_requests == expected + 1
