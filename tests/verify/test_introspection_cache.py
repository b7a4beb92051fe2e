"""Introspection's verdict cache: one request per token at a time, bounded by exp.

Refusals are remembered briefly.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from tests.support.clock import FakeClock
from tests.support.introspection_world import IntrospectionWorld
from tokensources import InvalidTokenError
from tokensources.verify import Claims

pytestmark = pytest.mark.anyio


async def test_concurrent_verifications_of_one_token_make_one_request(
    world: IntrospectionWorld,
) -> None:
    """200 verifications of one token that overlap the request make one request and all pass."""
    token = world.opaque("read:messages")
    results: list[Claims] = []
    async with world.http() as http, world.verifier(http) as verifier:

        async def one() -> None:
            results.append(await verifier.verify(token, scopes="read:messages"))

        world.gate.close()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for _ in range(200):
                    tg.start_soon(one)
                await anyio.wait_all_tasks_blocked()
                assert world.gate.arrived == 1  # every other caller waits for that one
                world.gate.open()
    assert len(results) == 200
    assert world.endpoint.requests == 1
    assert len({id(claims) for claims in results}) == 1


async def test_a_cancelled_requester_hands_over_to_a_waiter(world: IntrospectionWorld) -> None:
    """Cancelling the caller whose request is under way lets a waiting caller ask."""
    token = world.opaque()
    passed = 0
    async with world.http() as http, world.verifier(http) as verifier:

        async def one() -> None:
            nonlocal passed
            await verifier.verify(token)
            passed += 1

        world.gate.close()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                first = anyio.CancelScope()
                tg.start_soon(_run_in, first, one)
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(one)
                tg.start_soon(one)
                await anyio.wait_all_tasks_blocked()
                first.cancel()
                await anyio.wait_all_tasks_blocked()
                world.gate.open()
    assert passed == 2
    assert world.gate.arrived == 2  # the abandoned request, and the one taken over


async def _run_in(scope: anyio.CancelScope, function: object) -> None:
    """Run ``function`` under the cancel scope ``scope`` (so the test can cancel it alone)."""
    with scope:
        await function()  # type: ignore[operator]


async def test_an_acceptance_is_reused_until_the_max_age(
    world: IntrospectionWorld, clock: FakeClock
) -> None:
    """Within cache_max_age a token is not asked about again; after it, once more."""
    token = world.opaque(lifetime=3600)
    async with world.http() as http, world.verifier(http, cache_max_age=60) as verifier:
        for _ in range(50):
            await verifier.verify(token)
        assert world.endpoint.requests == 1
        clock.advance(59)
        await verifier.verify(token)
        assert world.endpoint.requests == 1
        clock.advance(1)
        await verifier.verify(token)
        assert world.endpoint.requests == 2


async def test_a_revoked_token_is_refused_once_its_acceptance_ages_out(
    world: IntrospectionWorld, clock: FakeClock
) -> None:
    """Revocation shows at most cache_max_age seconds later."""
    token = world.opaque()
    async with world.http() as http, world.verifier(http, cache_max_age=30) as verifier:
        await verifier.verify(token)
        world.endpoint.revoke(token)
        await verifier.verify(token)  # still the cached acceptance
        clock.advance(30)
        with pytest.raises(InvalidTokenError, match="not active"):
            await verifier.verify(token)


async def test_an_acceptance_never_outlives_the_token(
    world: IntrospectionWorld, clock: FakeClock
) -> None:
    """A token expiring before cache_max_age is refused from its exp (plus leeway) on."""
    token = world.opaque(lifetime=20)
    async with world.http() as http, world.verifier(http, leeway=2, cache_max_age=600) as verifier:
        await verifier.verify(token)
        clock.advance(21.9)
        await verifier.verify(token)  # within the leeway
        assert world.endpoint.requests == 1
        clock.advance(0.1)
        with pytest.raises(InvalidTokenError):
            await verifier.verify(token)


async def test_a_refusal_is_kept_briefly(world: IntrospectionWorld, clock: FakeClock) -> None:
    """A flood of one inactive token costs one request per inactive_max_age."""
    async with world.http() as http, world.verifier(http, inactive_max_age=5) as verifier:
        for _ in range(100):
            with pytest.raises(InvalidTokenError, match="not active"):
                await verifier.verify("never-issued")
        assert world.endpoint.requests == 1
        clock.advance(5)
        with pytest.raises(InvalidTokenError):
            await verifier.verify("never-issued")
        assert world.endpoint.requests == 2


async def test_the_cache_is_bounded(world: IntrospectionWorld) -> None:
    """With cache_size=3, a fourth token pushes out the least recently used one."""
    tokens = [world.opaque() for _ in range(4)]
    async with world.http() as http, world.verifier(http, cache_size=3) as verifier:
        for token in tokens[:3]:
            await verifier.verify(token)
        await verifier.verify(tokens[0])  # now the most recently used
        await verifier.verify(tokens[3])  # pushes out tokens[1]
        assert world.endpoint.requests == 4
        await verifier.verify(tokens[0])
        await verifier.verify(tokens[2])
        assert world.endpoint.requests == 4
        await verifier.verify(tokens[1])
        assert world.endpoint.requests == 5


async def test_cache_size_zero_asks_every_time(world: IntrospectionWorld) -> None:
    """cache_size=0 makes one request per verification."""
    token = world.opaque()
    async with world.http() as http, world.verifier(http, cache_size=0) as verifier:
        for _ in range(3):
            await verifier.verify(token)
    assert world.endpoint.requests == 3


async def test_a_token_differing_in_one_character_is_its_own_entry(
    world: IntrospectionWorld,
) -> None:
    """A forged variant of an accepted token is asked about, never served its verdict."""
    token = world.opaque()
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    async with world.http() as http, world.verifier(http) as verifier:
        await verifier.verify(token)
        with pytest.raises(InvalidTokenError, match="not active"):
            await verifier.verify(forged)
    assert world.endpoint.requests == 2
