"""Introspection verdicts by token digest: one request per token, bounded, expiring.

``Answers`` sits between ``Introspection.verify`` and the endpoint:

1. Single flight: however many verifications of one token arrive at once,
   one introspection request is made; the others wait for its verdict (or
   its error, the same instance for all). If the caller making the request
   is cancelled, a waiting caller makes it instead, so nobody is left
   hanging.
2. Bounded: at most ``size`` verdicts and requests under way, least
   recently used forgotten first, each under ``token_digest(token)`` (the
   SHA-256 of the whole token, never the token).
3. Expiring: an acceptance is served until the token's ``exp`` (with
   leeway) or ``max_age`` after the answer, whichever is first; a refusal
   for ``inactive_max_age`` — short, so that a token that becomes valid is
   soon accepted, long enough that a flood of one bad token costs one
   request per period.
4. Failures back off: after the endpoint failed (down, 5xx, refusing the
   resource server's credentials), tokens without a verdict get that error
   at once until a backoff has passed (doubling from ``failure_backoff``,
   jittered, never shorter than the endpoint's ``Retry-After``); then one
   request tries again. A failure never becomes a verdict: it is never
   served as an acceptance, and it is not cached against the token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType

from .._cache import Round, failure_delay
from .._source import Clock
from ._introspection_wire import Answer
from ._lru import LRU
from ._tokens import token_digest

__all__ = ["Answers"]

Ask = Callable[[str], Awaitable[Answer]]


class Answers:
    """The verdicts of ``ask`` on tokens, kept as the module docstring says.

    Used from one event loop at a time (a request under way on another loop
    is never waited for).
    """

    __slots__ = ("_ask", "_clock", "_entries", "_error", "_failure_backoff", "_failures")

    def __init__(self, ask: Ask, *, size: int, clock: Clock, failure_backoff: float) -> None:
        self._ask = ask
        self._entries: LRU[bytes, Answer | Round[Answer]] = LRU(size)
        self._clock = clock
        self._failure_backoff = failure_backoff
        self._failures = 0
        # The last failure, answered at once until its backoff ends.
        self._error: tuple[Exception, TracebackType | None, float] | None = None

    async def get(self, token: str) -> Answer:
        """The verdict on ``token``: cached, joined, or asked for now.

        Concurrency and cancellation: see the module docstring; cancelling a
        waiting caller affects only that caller.

        Raises:
            TokenSourceError: the endpoint failed (this request, the one
                joined, or the last one during its backoff).
        """
        digest = token_digest(token)
        entries = self._entries
        while True:
            now = self._clock()
            item = entries.get(digest)
            if isinstance(item, Answer):
                if item.valid_from <= now < item.until:
                    return item
                entries.discard(digest, item)
            elif item is not None:
                if item.here():
                    await item.wait()
                    answer = item.outcome()
                    if answer is not None:
                        return answer
                    continue  # abandoned: go round, maybe ask for the others
                entries.discard(digest, item)  # of an event loop that is gone
            self._raise_during_backoff(now)
            return await self._fetch(digest, token)

    def _raise_during_backoff(self, now: float) -> None:
        failed = self._error
        if failed is not None and now < failed[2]:
            raise failed[0].with_traceback(failed[1])

    async def _fetch(self, digest: bytes, token: str) -> Answer:
        round_: Round[Answer] = Round()
        entries = self._entries
        entries.put(digest, round_)
        try:
            answer = await self._ask(token)
        except Exception as exc:
            entries.discard(digest, round_)
            self._failed(exc)
            round_.fail(exc)
            raise
        except BaseException:
            # Cancelled: nothing learned; a waiter asks instead.
            entries.discard(digest, round_)
            round_.abandon()
            raise
        self._failures, self._error = 0, None
        if entries.get(digest) is round_:
            entries.put(digest, answer)
        round_.succeed(answer)
        return answer

    def _failed(self, error: Exception) -> None:
        self._failures += 1
        retry_after = getattr(error, "retry_after", None)
        if not isinstance(retry_after, (int, float)) or isinstance(retry_after, bool):
            retry_after = None
        delay = failure_delay(self._failure_backoff, self._failures, retry_after)
        self._error = (error, error.__traceback__, self._clock() + delay)

    def __len__(self) -> int:
        return len(self._entries)
