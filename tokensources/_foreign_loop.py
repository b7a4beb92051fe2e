"""Calls from a worker thread into an event loop that someone else runs, and may end.

The loop's owner decides when it ends: ``asyncio.run()`` cancels the tasks
left over and then closes the loop, trio cancels its system tasks. A call
put in while the loop shuts down may be cancelled, or (on asyncio, once the
leftover tasks were cancelled) never finished at all. Either way the
waiting thread learns that the loop is gone (``LoopGoneError``) instead of
waiting forever.

The same goes for what a source opened on such a loop (an
``httpx.AsyncClient`` and its pooled connections): it can be closed only
there. ``aclose_on`` closes it on its loop from anywhere, at once while the
loop runs; ``aclose_at_end`` closes it when its loop ends, so that a loop
that ends with the source still open (``asyncio.run()`` returning, a test's
loop) does not leave its sockets behind (``ResourceWarning: unclosed
transport``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import inspect
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.lowlevel import EventLoopToken

from ._errors import TokenRequestError
from ._log import logger

__all__ = ["LoopGoneError", "aclose_at_end", "aclose_on", "alive", "run_at"]

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


class Closable(Protocol):
    """What ``aclose_on`` and ``aclose_at_end`` close: ``httpx.AsyncClient``, for one."""

    async def aclose(self) -> None:
        """Release what the object holds on its event loop."""


def aclose_on(token: EventLoopToken, resource: Closable) -> None:
    """Close ``resource`` on the loop of ``token``, the one its connections belong to.

    Callable from any thread (not the one running that loop); returns at
    once. While that loop runs, ``resource.aclose()`` is started there; a
    loop that has ended closed what it had registered with
    ``aclose_at_end``, so nothing is left to do.
    """
    native = token.native_token
    try:
        if isinstance(native, asyncio.AbstractEventLoop):
            if native.is_running():
                # The coroutine is made on the loop: one that never runs is never made.
                native.call_soon_threadsafe(_start_on_asyncio, native, resource)
        else:
            import trio.lowlevel  # only a trio loop gives a trio token

            native.run_sync_soon(  # type: ignore[attr-defined]
                trio.lowlevel.spawn_system_task, _aclose_quietly, resource
            )
    except RuntimeError:  # the loop ended meanwhile
        return


@dataclass(eq=False, slots=True)
class _LoopEnd:
    """What to close when one event loop ends, and the task that waits for that end."""

    resources: weakref.WeakSet[Closable] = field(default_factory=weakref.WeakSet)
    task: object = None  # the asyncio task, held: asyncio keeps only weak references


_loop_ends_lock = threading.Lock()
_loop_ends: dict[EventLoopToken, _LoopEnd] = {}


def aclose_at_end(resource: Closable) -> None:
    """Close ``resource`` when the event loop running now ends, unless it is dropped first.

    Held weakly: registering keeps nothing alive. One waiting task per loop
    (an asyncio task, which ``asyncio.run()`` cancels at its end; a trio
    system task, which trio cancels when the main task returns) closes what
    is still registered then. A loop that is closed without cancelling its
    tasks (``run_until_complete()`` and ``close()``) closes nothing.
    """
    token = anyio.lowlevel.current_token()
    with _loop_ends_lock:
        end = _loop_ends.get(token)
        first = end is None
        if end is None:
            end = _loop_ends[token] = _LoopEnd()
        end.resources.add(resource)
    if not first:
        return
    native = token.native_token
    if isinstance(native, asyncio.AbstractEventLoop):
        end.task = native.create_task(_close_at_end(token), name="tokensources-loop-end")
    else:
        import trio.lowlevel  # only a trio loop gives a trio token

        trio.lowlevel.spawn_system_task(_close_at_end, token, name="tokensources-loop-end")


async def _close_at_end(token: EventLoopToken) -> None:
    try:
        await anyio.sleep_forever()
    finally:
        with _loop_ends_lock:
            end = _loop_ends.pop(token, None)
        resources = [] if end is None else list(end.resources)
        with anyio.CancelScope(shield=True):
            for resource in resources:
                await _aclose_quietly(resource)


def _start_on_asyncio(loop: asyncio.AbstractEventLoop, resource: Closable) -> None:
    task = loop.create_task(_aclose_quietly(resource))
    # asyncio keeps only weak references to tasks: held until it is done.
    _closing.add(task)
    task.add_done_callback(_closing.discard)


_closing: set[asyncio.Task[None]] = set()


async def _aclose_quietly(resource: Closable) -> None:
    """``resource.aclose()``; a failure is logged (nobody waits for it), cancellation is not."""
    try:
        await resource.aclose()
    except Exception as exc:  # nobody else would hear of it
        # The type only: an HTTP library's error may quote a request.
        logger.warning("closing a token source's connections failed (%s)", type(exc).__name__)
