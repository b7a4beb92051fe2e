"""retry(): full-jitter backoff, Retry-After, a deadline, and only transient errors retried."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from email.utils import formatdate

import anyio
import anyio.lowlevel
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.clock import FakeClock
from tests.wrappers.conftest import ScriptedSource
from tokensources import (
    ClientCredentials,
    ConfigError,
    TokenEndpointError,
    TokenRequestError,
    TokenSourceError,
)
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import retry

pytestmark = pytest.mark.anyio


class Sleeper:
    """An injected sleep: records each delay and moves its own clock instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 0.0

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()

    def clock(self) -> float:
        """The time this sleeper has slept so far (a monotonic clock)."""
        return self.now


class MaxRandom(random.Random):
    """A random source whose uniform() always draws the upper bound."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def sleeper() -> Sleeper:
    """A fresh injected sleep."""
    return Sleeper()


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
async def test_transient_statuses_are_retried(
    server: AuthorizationServer, credentials: ClientCredentials, sleeper: Sleeper, status: int
) -> None:
    """Two failures with a transient status, then a token: three requests, two waits."""
    server.faults.fail_next(2, status)
    source = retry(credentials, sleep=sleeper, clock=sleeper.clock, rng=random.Random(1))
    with anyio.fail_after(10):
        token = await source.token()
    server.verify_access_token(token.access_token)
    assert server.counters.token_requests == 3
    assert len(sleeper.delays) == 2


async def test_transport_errors_are_retried(
    server: AuthorizationServer, credentials: ClientCredentials, sleeper: Sleeper
) -> None:
    """Dropped connections (TokenRequestError) are retried until a token comes."""
    server.faults.drop_next(3)
    source = retry(credentials, sleep=sleeper, clock=sleeper.clock)
    with anyio.fail_after(10):
        await source.token()
    assert server.counters.token_requests == 4


@pytest.fixture
async def impatient(server: AuthorizationServer) -> AsyncIterator[ClientCredentials]:
    """The real source over loopback with a 50 ms timeout, against a server that takes 10 s."""
    server.faults.latency = 10
    async with server.serve() as url, httpx.AsyncClient(timeout=0.05) as http:
        yield ClientCredentials(url + "/oauth/token", DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, http=http)


async def test_timeouts_are_retried(
    server: AuthorizationServer, impatient: ClientCredentials, sleeper: Sleeper
) -> None:
    """Requests that time out are retried, then the last timeout is raised."""
    source = retry(impatient, attempts=3, sleep=sleeper, clock=sleeper.clock)
    failures: list[TokenSourceError] = []
    with anyio.fail_after(10), source.observe(failures.append):
        with pytest.raises(TokenRequestError) as caught:
            await source.token()
    assert len(failures) == 3
    assert all(isinstance(failure, TokenRequestError) for failure in failures)
    assert caught.value is failures[-1]
    assert len(sleeper.delays) == 2
    # Counted as they fail, not as they arrive: a loaded machine may time a
    # request out before the server has even read it.
    assert server.counters.token_requests <= 3


@pytest.mark.parametrize(
    "error",
    ["invalid_client", "invalid_grant", "unauthorized_client", "invalid_scope", "invalid_request"],
)
@pytest.mark.parametrize("status", [400, 401, 503])
async def test_definitive_oauth_errors_are_never_retried(
    server: AuthorizationServer,
    credentials: ClientCredentials,
    sleeper: Sleeper,
    error: str,
    status: int,
) -> None:
    """A definitive OAuth error is raised after one request, whatever the status."""
    server.faults.fail_next(5, status, error=error)
    source = retry(credentials, sleep=sleeper, clock=sleeper.clock)
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await source.token()
    assert caught.value.error == error
    assert server.counters.token_requests == 1
    assert sleeper.delays == []


async def test_the_last_error_itself_is_raised(clock: FakeClock, sleeper: Sleeper) -> None:
    """When attempts run out, the error of the last attempt is raised, unwrapped."""
    source = ScriptedSource(clock)
    errors = [TokenEndpointError(f"attempt {n}", status_code=503) for n in range(4)]
    source.errors.extend(errors)
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await retry(source, attempts=4, sleep=sleeper, clock=sleeper.clock).token()
    assert caught.value is errors[3]
    assert caught.value.__context__ is None
    assert source.calls == 4


async def test_other_exceptions_are_not_retried(clock: FakeClock, sleeper: Sleeper) -> None:
    """An exception outside the TokenSourceError tree (a bug) is raised at once."""
    source = ScriptedSource(clock)
    source.errors.append(RuntimeError("bug"))
    with anyio.fail_after(10), pytest.raises(RuntimeError):
        await retry(source, sleep=sleeper, clock=sleeper.clock).token()
    assert source.calls == 1


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    base_delay=st.floats(min_value=0.0, max_value=5.0),
    max_delay=st.floats(min_value=0.0, max_value=30.0),
    attempts=st.integers(min_value=1, max_value=12),
)
async def test_backoff_is_full_jitter(
    seed: int, base_delay: float, max_delay: float, attempts: int
) -> None:
    """Wait n is uniform(0, min(max_delay, base_delay * 2**(n-1))), drawn from the injected rng."""
    sleeper = Sleeper()
    source = ScriptedSource(FakeClock())
    source.errors.extend(TokenRequestError("down") for _ in range(attempts))
    wrapper = retry(
        source,
        attempts=attempts,
        base_delay=base_delay,
        max_delay=max_delay,
        rng=random.Random(seed),
        sleep=sleeper,
        clock=sleeper.clock,
    )
    with anyio.fail_after(10), pytest.raises(TokenRequestError):
        await wrapper.token()
    assert source.calls == attempts
    expected = random.Random(seed)
    assert len(sleeper.delays) == attempts - 1
    for n, delay in enumerate(sleeper.delays, start=1):
        ceiling = min(max_delay, base_delay * 2 ** (n - 1))
        assert 0 <= delay <= ceiling
        assert delay == expected.uniform(0.0, ceiling)


# RFC 6749 §5.2 (and RFC 6749 §4.1.2.1 access_denied): errors no retry can fix.
DEFINITIVE = (
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "access_denied",
)


@settings(max_examples=300, deadline=None)
@given(
    status=st.integers(min_value=400, max_value=599),
    error=st.sampled_from([None, "temporarily_unavailable", "server_error", *DEFINITIVE]),
)
async def test_an_endpoint_error_is_retried_exactly_when_transient(
    status: int, error: str | None
) -> None:
    """For every status and error code, retry() retries exactly the transient errors."""
    failure = TokenEndpointError("failed", status_code=status, error=error)
    source = ScriptedSource(FakeClock())
    source.errors.append(failure)
    sleeper = Sleeper()
    with anyio.fail_after(10):
        wrapper = retry(source, attempts=2, sleep=sleeper, clock=sleeper.clock)
        if failure.transient:
            await wrapper.token()
        else:
            with pytest.raises(TokenEndpointError):
                await wrapper.token()
    assert source.calls == (2 if failure.transient else 1)
    retried = status in (408, 425, 429) or status >= 500
    assert failure.transient == (retried and error not in DEFINITIVE)


async def test_retry_after_seconds_is_a_floor(
    server: AuthorizationServer, credentials: ClientCredentials, sleeper: Sleeper
) -> None:
    """A 429 with Retry-After: 7 waits 7 s although the backoff alone would be shorter."""
    server.faults.fail_next(1, 429, retry_after=7)
    source = retry(credentials, base_delay=0.1, sleep=sleeper, clock=sleeper.clock)
    with anyio.fail_after(10):
        await source.token()
    assert sleeper.delays == [7.0]


async def test_each_failed_attempt_is_reported_before_its_wait(
    server: AuthorizationServer, credentials: ClientCredentials, sleeper: Sleeper
) -> None:
    """An observer attached with observe() sees every failed attempt, each before its wait."""
    server.faults.fail_next(2, 429, retry_after=7)
    seen: list[tuple[int | None, int]] = []

    def observe(error: TokenSourceError) -> None:
        seen.append((getattr(error, "retry_after", None), len(sleeper.delays)))

    source = retry(credentials, sleep=sleeper, clock=sleeper.clock)
    with anyio.fail_after(10), source.observe(observe):
        await source.token()
    assert seen == [(7, 0), (7, 1)]
    with anyio.fail_after(10):
        server.faults.fail_next(1, 429, retry_after=7)
        await source.token()  # detached: nothing more is reported
    assert len(seen) == 2


async def test_the_last_failed_attempt_is_reported_before_it_is_raised(
    clock: FakeClock, sleeper: Sleeper
) -> None:
    """With the attempts used up, the observer hears of the last error too, then it is raised."""
    source = ScriptedSource(clock)
    errors = [TokenEndpointError(f"attempt {n}", status_code=503) for n in range(2)]
    source.errors.extend(errors)
    seen: list[TokenSourceError] = []
    wrapper = retry(source, attempts=2, sleep=sleeper, clock=sleeper.clock)
    with anyio.fail_after(10), wrapper.observe(seen.append), pytest.raises(TokenEndpointError):
        await wrapper.token()
    assert seen == errors
    assert len(sleeper.delays) == 1


async def test_observers_hear_every_caller_while_attached(
    clock: FakeClock, sleeper: Sleeper
) -> None:
    """Observers attached at once each hear every caller's failures, and only while attached."""
    source = ScriptedSource(clock, steps=3)
    source.errors.extend(TokenRequestError(f"down {n}") for n in range(4))
    wrapper = retry(source, sleep=sleeper, clock=sleeper.clock)
    first: list[TokenSourceError] = []
    second: list[TokenSourceError] = []
    with anyio.fail_after(10), wrapper.observe(first.append):
        with wrapper.observe(second.append):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wrapper.token)
                tg.start_soon(wrapper.token)
        source.errors.append(TokenRequestError("down again"))
        await wrapper.token()
    assert len(second) == 4
    assert first == [*second, first[-1]]
    assert str(first[-1]) == "down again"
    source.errors.append(TokenRequestError("unobserved"))
    with anyio.fail_after(10):
        await wrapper.token()
    assert len(first) == 5
    assert source.calls == 10


async def test_a_raising_observer_does_not_stop_retrying(
    server: AuthorizationServer, credentials: ClientCredentials, sleeper: Sleeper
) -> None:
    """An observer that raises is ignored: the retry still happens and succeeds."""
    server.faults.fail_next(1, 503)

    def observe(error: TokenSourceError) -> None:
        raise RuntimeError("observer bug")

    source = retry(credentials, sleep=sleeper, clock=sleeper.clock)
    with anyio.fail_after(10), source.observe(observe):
        await source.token()
    assert server.counters.token_requests == 2


async def test_retry_after_http_date_is_honoured(
    server: AuthorizationServer, credentials: ClientCredentials, sleeper: Sleeper, clock: FakeClock
) -> None:
    """A 503 with Retry-After as an HTTP date 30 s ahead waits those 30 s."""
    server.faults.fail_next(1, 503, retry_after=formatdate(clock() + 30, usegmt=True))
    source = retry(credentials, sleep=sleeper, clock=sleeper.clock)
    with anyio.fail_after(10):
        await source.token()
    assert len(sleeper.delays) == 1
    assert 29.0 <= sleeper.delays[0] <= 30.0


async def test_retry_after_is_capped(
    server: AuthorizationServer, credentials: ClientCredentials, sleeper: Sleeper
) -> None:
    """A Retry-After of an hour is capped at max_retry_after."""
    server.faults.fail_next(1, 503, retry_after=3600)
    source = retry(credentials, max_retry_after=60, sleep=sleeper, clock=sleeper.clock)
    with anyio.fail_after(10):
        await source.token()
    assert sleeper.delays == [60.0]


async def test_a_wait_past_the_deadline_raises_at_once(
    server: AuthorizationServer, credentials: ClientCredentials, sleeper: Sleeper
) -> None:
    """With a 5 s deadline, a Retry-After of 10 s is not waited for: the error is raised now."""
    server.faults.fail_next(1, 503, retry_after=10)
    source = retry(credentials, deadline=5, sleep=sleeper, clock=sleeper.clock)
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await source.token()
    assert caught.value.status_code == 503
    assert server.counters.token_requests == 1
    assert sleeper.delays == []


async def test_the_deadline_bounds_the_backoff(
    server: AuthorizationServer, credentials: ClientCredentials, sleeper: Sleeper
) -> None:
    """Waits of 2 s each fit a 5 s deadline twice; the third would not, so three requests in all."""
    server.faults.fail_next(10, 503)
    source = retry(
        credentials,
        attempts=10,
        base_delay=2,
        max_delay=2,
        deadline=5,
        rng=MaxRandom(),
        sleep=sleeper,
        clock=sleeper.clock,
    )
    with anyio.fail_after(10), pytest.raises(TokenEndpointError):
        await source.token()
    assert sleeper.delays == [2.0, 2.0]
    assert server.counters.token_requests == 3


async def test_cancellation_during_a_wait_stops_at_once(
    server: AuthorizationServer, credentials: ClientCredentials
) -> None:
    """Cancelled while waiting 1000 s between attempts, retry() stops without another request."""
    server.faults.fail_next(5, 503)
    source = retry(credentials, base_delay=1000, max_delay=1000, rng=MaxRandom())
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(source.token)
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    assert server.counters.token_requests == 1


async def test_cancellation_during_a_request_makes_no_further_attempt(
    clock: FakeClock, sleeper: Sleeper
) -> None:
    """Cancelled while the inner call is in flight, retry() makes no other call."""
    source = ScriptedSource(clock)
    source.hold()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(retry(source, sleep=sleeper, clock=sleeper.clock).token)
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    assert source.calls == 1
    assert sleeper.delays == []


async def test_invalidate_and_aclose_pass_down(clock: FakeClock) -> None:
    """invalidate() and aclose() reach the inner source."""
    source = ScriptedSource(clock)
    token = await source.token()
    async with retry(source) as wrapper:
        wrapper.invalidate(token)
        assert wrapper.source is source
    assert source.invalidated == [token]
    assert source.closed


@pytest.mark.parametrize(
    ("settings_", "name"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": 1.5}, "attempts"),
        ({"base_delay": -1}, "base_delay"),
        ({"max_delay": float("nan")}, "max_delay"),
        ({"max_retry_after": -5}, "max_retry_after"),
        ({"deadline": 0}, "deadline"),
    ],
)
def test_bad_settings_are_refused(settings_: dict[str, float], name: str) -> None:
    """Out-of-range settings raise ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=name):
        retry(ScriptedSource(FakeClock()), **settings_)  # type: ignore[arg-type]
