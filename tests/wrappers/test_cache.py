"""The generic single-flight cache under reuse(), with a value that is not a token."""

from __future__ import annotations

import collections
from dataclasses import dataclass

import anyio
import pytest

from tests.support.clock import FakeClock
from tokensources import TokenExpiredError, TokenRequestError
from tokensources._cache import Cache, Entry, Observer

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class KeySet:
    """A stand-in for a cached document such as a JWKS."""

    version: int


class Fetcher:
    """A fetch coroutine for the cache: counts calls, can be held, raises queued errors.

    Each answer is fresh for ``fresh`` seconds and usable for ``usable`` seconds.
    """

    def __init__(self, clock: FakeClock, *, fresh: float = 60.0, usable: float = 120.0) -> None:
        self.clock = clock
        self.fresh = fresh
        self.usable = usable
        self.calls = 0
        self.errors: collections.deque[Exception] = collections.deque()
        self._gate: anyio.Event | None = None

    def hold(self) -> None:
        """Make the following calls wait until ``release()``."""
        self._gate = anyio.Event()

    def release(self) -> None:
        """Let held calls go on."""
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    async def __call__(self) -> Entry[KeySet]:
        self.calls += 1
        if self._gate is not None:
            await self._gate.wait()
        if self.errors:
            raise self.errors.popleft()
        now = self.clock()
        return Entry(KeySet(self.calls), now + self.fresh, now + self.usable)


class Recorder(Observer[KeySet]):
    """An observer that writes down what it is told, and wants every hit."""

    report_hits = True

    def __init__(self) -> None:
        self.seen: list[str] = []

    def label(self, value: KeySet) -> str:
        return f"key set {value.version}"

    def hit(self, value: KeySet) -> None:
        self.seen.append(f"hit {value.version}")

    def miss(self, value: KeySet | None) -> None:
        self.seen.append("miss")

    def started(self, value: KeySet | None) -> None:
        self.seen.append("started")

    def succeeded(self, value: KeySet, now: float) -> None:
        self.seen.append(f"succeeded {value.version}")

    def failed(
        self, error: Exception, usable: KeySet | None, usable_for: float, retry_in: float
    ) -> None:
        self.seen.append(f"failed, serving {usable.version if usable else None} for {usable_for}")

    def backed_off(self, error: Exception) -> None:
        self.seen.append("backed off")


@pytest.fixture
def fetcher(clock: FakeClock) -> Fetcher:
    """A fetch coroutine on the fake clock: fresh 60 s, usable 120 s."""
    return Fetcher(clock)


async def gather(cache: Cache[KeySet], callers: int) -> list[KeySet | BaseException]:
    """Run ``callers`` concurrent get() calls; collect each value or error."""
    results: list[KeySet | BaseException] = []

    async def call() -> None:
        try:
            results.append(await cache.get())
        except Exception as exc:
            results.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(callers):
            tg.start_soon(call)
    return results


async def test_one_fetch_for_a_cold_storm(fetcher: Fetcher, clock: FakeClock) -> None:
    """1 000 concurrent callers on an empty cache: one fetch, one value for all."""
    cache: Cache[KeySet] = Cache(fetcher, clock=clock)
    fetcher.hold()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_release_when_blocked, fetcher)
            results = await gather(cache, 1_000)
    assert fetcher.calls == 1
    assert results == [KeySet(1)] * 1_000
    assert all(result is results[0] for result in results)


async def _release_when_blocked(fetcher: Fetcher) -> None:
    await anyio.wait_all_tasks_blocked()
    fetcher.release()


async def test_fresh_values_take_the_hot_path(fetcher: Fetcher, clock: FakeClock) -> None:
    """A fresh value is returned on the coroutine's first step, and by fresh() from any thread."""
    cache: Cache[KeySet] = Cache(fetcher, clock=clock)
    assert cache.fresh() is None
    with anyio.fail_after(10):
        value = await cache.get()
    coro = cache.get()
    with pytest.raises(StopIteration) as finished:
        coro.send(None)
    assert finished.value.value is value
    assert cache.fresh() is value
    clock.advance(60)
    assert cache.fresh() is None
    assert fetcher.calls == 1


async def test_the_soft_window_refetches_once_while_others_get_the_value(
    fetcher: Fetcher, clock: FakeClock
) -> None:
    """Past refresh_at, one caller refetches; the 99 others get the current value at once."""
    cache: Cache[KeySet] = Cache(fetcher, clock=clock)
    results: list[KeySet] = []

    async def call() -> None:
        results.append(await cache.get())

    with anyio.fail_after(10):
        current = await cache.get()
        clock.advance(60)
        fetcher.hold()
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            assert results == [current] * 99
            fetcher.release()
    assert fetcher.calls == 2
    assert results[-1] == KeySet(2)
    assert cache.peek() == KeySet(2)


async def test_a_failure_without_a_value_backs_off(fetcher: Fetcher, clock: FakeClock) -> None:
    """A failed cold fetch: its error for every caller until the backoff ends, then one fetch."""
    cache: Cache[KeySet] = Cache(fetcher, clock=clock, failure_backoff=2.0)
    down = TokenRequestError("connection refused")
    fetcher.errors.append(down)
    with anyio.fail_after(10):
        results = [await _outcome(cache) for _ in range(100)]
        assert fetcher.calls == 1
        clock.advance(0.99)  # the first wait is between 1 and 2 s
        assert await _outcome(cache) is down
        clock.advance(1.01)
        value = await cache.get()
    assert all(result is down for result in results)
    assert fetcher.calls == 2
    assert value == KeySet(2)


async def _outcome(cache: Cache[KeySet]) -> KeySet | BaseException:
    try:
        return await cache.get()
    except Exception as exc:
        return exc


async def test_a_value_spent_on_arrival_is_a_failure(clock: FakeClock) -> None:
    """A fetch whose value is already spent raises TokenExpiredError naming it, then backs off."""
    fetcher = Fetcher(clock, fresh=-2.0, usable=-1.0)
    cache: Cache[KeySet] = Cache(fetcher, clock=clock, observer=Recorder())
    with anyio.fail_after(10):
        with pytest.raises(TokenExpiredError, match=r"key set 1 arrived already expired \(1\.0s"):
            await cache.get()
        with pytest.raises(TokenExpiredError):
            await cache.get()
    assert fetcher.calls == 1
    assert cache.peek() is None


async def test_a_cancelled_fetch_is_taken_over(fetcher: Fetcher, clock: FakeClock) -> None:
    """Cancelling the fetching caller: one waiter fetches again for all the others."""
    cache: Cache[KeySet] = Cache(fetcher, clock=clock)
    fetcher.hold()
    leader = anyio.CancelScope()
    results: list[KeySet] = []

    async def lead() -> None:
        with leader:
            await cache.get()

    async def wait() -> None:
        results.append(await cache.get())

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lead)
            await anyio.wait_all_tasks_blocked()
            for _ in range(5):
                tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            leader.cancel()
            await anyio.wait_all_tasks_blocked()
            assert fetcher.calls == 2
            fetcher.release()
    assert results == [KeySet(2)] * 5


async def test_drop_and_refresh(fetcher: Fetcher, clock: FakeClock) -> None:
    """drop() removes only a matching value; refresh() refetches a fresh one and joins callers."""
    cache: Cache[KeySet] = Cache(fetcher, clock=clock)
    with anyio.fail_after(10):
        first = await cache.get()
        assert cache.drop(lambda value: value.version == 7) is None
        assert cache.peek() is first
        assert cache.drop(lambda value: value.version == 1) is first
        assert cache.peek() is None
        second = await cache.get()
        fetcher.hold()
        async with anyio.create_task_group() as tg:
            tg.start_soon(cache.refresh)
            tg.start_soon(cache.refresh)
            await anyio.wait_all_tasks_blocked()
            assert cache.fetching
            assert await cache.get() is second  # nobody else waits for a refresh
            fetcher.release()
    assert not cache.fetching
    assert fetcher.calls == 3
    assert cache.peek() == KeySet(3)


async def test_the_observer_hears_every_step(fetcher: Fetcher, clock: FakeClock) -> None:
    """Misses, fetches, failures, hits and backoff answers reach the observer, in order."""
    recorder = Recorder()
    cache: Cache[KeySet] = Cache(fetcher, clock=clock, observer=recorder)
    fetcher.errors.append(TokenRequestError("timed out"))
    with anyio.fail_after(10):
        assert isinstance(await _outcome(cache), TokenRequestError)
        assert isinstance(await _outcome(cache), TokenRequestError)
        clock.advance(1.0)
        await cache.get()
        await cache.get()  # report_hits: even a fresh hit is reported
        clock.advance(60)  # soft window
        fetcher.errors.append(TokenRequestError("timed out"))
        assert await cache.get() == KeySet(2)
    assert recorder.seen == [
        "miss",
        "started",
        "failed, serving None for 0.0",
        "miss",
        "backed off",
        "miss",
        "started",
        "succeeded 2",
        "hit 2",
        "started",
        "failed, serving 2 for 60.0",
    ]


async def test_a_value_due_on_arrival_is_not_refetched_on_every_call(clock: FakeClock) -> None:
    """A value already due but usable is served; the next fetch waits for failure_backoff."""
    fetcher = Fetcher(clock, fresh=0.0, usable=120.0)
    cache: Cache[KeySet] = Cache(fetcher, clock=clock, failure_backoff=1.0)
    with anyio.fail_after(10):
        first = await cache.get()
        for _ in range(100):
            assert await cache.get() is first
        clock.advance(1.0)
        assert await cache.get() == KeySet(2)
    assert fetcher.calls == 2
