"""Answers a test queued for the next matching request (``enqueue_error``, ``enqueue_response``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._asgi import Response
from ._facts import RequestFacts

__all__ = ["AnswerFactory", "QueuedAnswer", "QueuedAnswers"]

# Builds the answer for the request's headers (an invalid_client answer to a
# Basic request carries a challenge, RFC 6749 §5.2).
AnswerFactory = Callable[[Mapping[str, str]], Response]


@dataclass(slots=True)
class QueuedAnswer:
    """One queued answer: which requests it is for, what it answers, how many times more.

    Attributes:
        path: the full path it answers (tenant prefix included).
        client_id: only requests claiming this client; None for any.
        grant_type: only requests with this ``grant_type``; None for any.
        answer: builds the response.
        remaining: how many more matching requests it answers.
        label: how it was queued, for reports (``enqueue_error(503, …)``).
        error: the error code it answers with, if it is an error.
    """

    path: str
    client_id: str | None
    grant_type: str | None
    answer: AnswerFactory
    remaining: int
    label: str
    error: str | None = None

    def matches(self, path: str, client_id: str | None, grant_type: str | None) -> bool:
        """Whether a request with these facts is one this answer is for."""
        return (
            path == self.path
            and (self.client_id is None or client_id == self.client_id)
            and (self.grant_type is None or grant_type == self.grant_type)
        )

    def respond(self, headers: Mapping[str, str], facts: RequestFacts) -> Response:
        """The response for a request carrying ``headers``, noted in its ``facts``."""
        facts.outcome = "enqueued"
        facts.error = self.error
        return self.answer(headers)

    def describe(self) -> str:
        """``enqueue_error(503, …) for /oauth/token, client 'billing' (1 left)``."""
        wanted = [self.path]
        if self.client_id is not None:
            wanted.append(f"client {self.client_id!r}")
        if self.grant_type is not None:
            wanted.append(f"grant {self.grant_type!r}")
        return f"{self.label} for {', '.join(wanted)} ({self.remaining} left)"


class QueuedAnswers:
    """The answers queued for coming requests, shared by every issuer of a server.

    A request takes the first queued answer that matches it, in the order
    they were queued; an answer queued for ``times`` requests stays until it
    has answered that many. Safe to use from any thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[QueuedAnswer] = []

    def add(self, answer: QueuedAnswer) -> None:
        """Queue ``answer`` behind every answer queued before it."""
        with self._lock:
            self._queue.append(answer)

    def take(
        self, path: str, *, client_id: str | None = None, grant_type: str | None = None
    ) -> QueuedAnswer | None:
        """The first queued answer matching the request (counted as used), or None."""
        if not self._queue:  # the hot path: nothing queued, no lock taken
            return None
        with self._lock:
            found = next((a for a in self._queue if a.matches(path, client_id, grant_type)), None)
            if found is None:
                return None
            found.remaining -= 1
            if found.remaining == 0:
                self._queue.remove(found)
        return found

    def pending(self) -> list[QueuedAnswer]:
        """The answers still waiting for a matching request, in queue order."""
        with self._lock:
            return list(self._queue)

    def clear(self) -> None:
        """Forget every queued answer."""
        with self._lock:
            self._queue.clear()
