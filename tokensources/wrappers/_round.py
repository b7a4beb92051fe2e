"""One refresh round: a single inner call whose outcome every waiter shares."""

from __future__ import annotations

from types import TracebackType

import anyio

from .._token import Token

__all__ = ["Round"]


class Round:
    """The shared outcome of one call to an inner source.

    A round ends exactly once, in one of three ways: with a token, with an
    error, or abandoned (the task making the call was cancelled). Waiters
    block on ``ended`` and then read ``outcome()``. A fresh round, with a
    fresh ``anyio.Event``, is made for every refresh because events cannot
    be reset.
    """

    __slots__ = ("_error", "_token", "_traceback", "ended")

    def __init__(self) -> None:
        self.ended = anyio.Event()
        self._token: Token | None = None
        self._error: Exception | None = None
        self._traceback: TracebackType | None = None

    def succeed(self, token: Token) -> None:
        """End the round with ``token`` and wake every waiter."""
        self._token = token
        self.ended.set()

    def fail(self, error: Exception) -> None:
        """End the round with ``error`` and wake every waiter."""
        self._error = error
        # Kept apart because every waiter re-raises the same instance, and
        # each raise would otherwise grow the shared ``__traceback__``.
        self._traceback = error.__traceback__
        self.ended.set()

    def abandon(self) -> None:
        """End the round without an outcome; a waiter will start a new one."""
        self.ended.set()

    def outcome(self) -> Token | None:
        """The round's token, or None if it was abandoned.

        Raises:
            Exception: the error the inner source raised, the same instance
                for every waiter, with the traceback of the failed call.
        """
        if self._error is not None:
            raise self._error.with_traceback(self._traceback)
        return self._token

    @property
    def failed(self) -> bool:
        """Whether the round ended with an error."""
        return self._error is not None
