"""Calls from a worker thread into an event loop that someone else runs, and may end.

The loop's owner decides when it ends: ``asyncio.run()`` cancels the tasks
left over and then closes the loop, trio cancels its system tasks. A call
put in while the loop shuts down may be cancelled, or (on asyncio, once the
leftover tasks were cancelled) never finished at all. Either way the
waiting thread learns that the loop is gone (``LoopGoneError``) instead of
waiting forever.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import inspect
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import anyio.from_thread
from anyio.lowlevel import EventLoopToken

from ._errors import TokenRequestError

__all__ = ["LoopGoneError", "alive", "run_at"]

T = TypeVar("T")

_STOP_TIMEOUT = 5.0
_POLL_INTERVAL = 0.02


class LoopGoneError(Exception):
    """The event loop ended before the call could complete; pick another and try again."""


class _Cancelled(enum.Enum):
    CANCELLED = enum.auto()  # the loop cancelled the call


def alive(token: EventLoopToken) -> bool:
    """Whether the loop of ``token`` still runs (so calls put into it can complete)."""
    native = token.native_token
    if isinstance(native, asyncio.AbstractEventLoop):
        # A stopped loop that is not yet closed would accept a call and never run it.
        return native.is_running()
    try:
        # trio: scheduling a no-op fails once the run has finished.
        token.backend_class.run_sync_soon(_noop, (), native)
    except RuntimeError:
        return False
    return True


def _noop() -> None:
    return None


def run_at(
    token: EventLoopToken, func: Callable[[], Awaitable[T]], abandoned: threading.Event
) -> T:
    """Await ``func()`` on the loop of ``token`` and block this (non-loop) thread until done.

    ``abandoned`` is set when the caller waiting for this thread has gone.

    Raises:
        LoopGoneError: that loop ended before the call could complete.
        TokenRequestError: the loop cancelled the call while going on.
    """
    if not alive(token):
        raise LoopGoneError
    native = token.native_token
    if isinstance(native, asyncio.AbstractEventLoop):
        result = _run_on_asyncio(native, func, abandoned)
    else:
        result = _run_on_trio(token, func)
    if not isinstance(result, _Cancelled):
        return result
    # A plain thread cannot itself be cancelled: the loop cancelled the
    # call, as it does when it ends.
    if _ends(token, abandoned):
        raise LoopGoneError
    raise TokenRequestError(
        "the token call was cancelled by the event loop the token source lives on"
    )


def _run_on_asyncio(
    loop: asyncio.AbstractEventLoop, func: Callable[[], Awaitable[T]], abandoned: threading.Event
) -> T | _Cancelled:
    """``func()`` on ``loop``, waited for only while ``loop`` runs."""
    coro = _ended_here(func)
    try:
        future = asyncio.run_coroutine_threadsafe(coro, loop)
    except RuntimeError:  # closed meanwhile
        coro.close()
        raise LoopGoneError from None
    while not concurrent.futures.wait((future,), _POLL_INTERVAL).done:
        if abandoned.is_set():
            future.cancel()
            return _Cancelled.CANCELLED
        if not loop.is_running():
            if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()  # never started: nothing to unwind, nothing to warn about
            raise LoopGoneError
    if future.cancelled():
        return _Cancelled.CANCELLED
    return future.result()


def _run_on_trio(token: EventLoopToken, func: Callable[[], Awaitable[T]]) -> T | _Cancelled:
    """``func()`` on a trio loop; its end cancels what it still runs, so this wait ends too."""
    try:
        return anyio.from_thread.run(_ended_here, func, token=token)
    except anyio.RunFinishedError:
        raise LoopGoneError from None
    except BaseException as exc:
        if not _is_cancellation(exc):  # e.g. cancelled before it started
            raise
        return _Cancelled.CANCELLED


async def _ended_here(func: Callable[[], Awaitable[T]]) -> T | _Cancelled:
    try:
        return await func()
    except anyio.get_cancelled_exc_class():
        # Ended here rather than raised, so the loop does not log it as an
        # error; the waiting thread decides what it means.
        return _Cancelled.CANCELLED


def _is_cancellation(exc: BaseException) -> bool:
    """Whether ``exc`` is how an event loop reports a cancelled call to a thread."""
    if isinstance(exc, (asyncio.CancelledError, concurrent.futures.CancelledError)):
        return True
    trio = sys.modules.get("trio")  # only a trio loop raises trio's own
    return trio is not None and isinstance(exc, trio.Cancelled)


def _ends(token: EventLoopToken, abandoned: threading.Event) -> bool:
    """Whether the loop of ``token`` stops within a few seconds (it is shutting down)."""
    deadline = time.monotonic() + _STOP_TIMEOUT
    while alive(token):
        if time.monotonic() >= deadline or abandoned.wait(_POLL_INTERVAL):
            return False
    return True
