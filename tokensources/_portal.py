"""The bridge that lets one token source serve event-loop tasks and plain threads.

A token source (a ``reuse()`` cache in particular) keeps anyio primitives
that belong to the event loop running its refresh, so it must be used from
one event loop at a time. The bridge gives each source a *home* loop and
runs every call on it:

* the first async caller's loop becomes the home; async callers on the home
  loop's thread call the source directly (no overhead on the hot path);
* a plain thread (the sync ``httpx.Client``) calls into the home loop with
  ``anyio.from_thread.run`` and blocks only itself;
* an async caller on another loop hops through a worker thread into the
  home loop, so its own loop is never blocked;
* when there is no home yet, or the home loop has finished, a thread call
  starts a private loop in a daemon thread (the *portal*) and makes it home.

Because every call lands on one loop, a refresh is shared by async tasks and
threads alike: the single flight of the cache holds across both worlds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from ._errors import TokenRequestError
from ._log import logger
from ._source import aclose_source

__all__ = ["LoopBridge", "acquire_bridge", "release_bridge"]

T = TypeVar("T")

_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 5.0
_POLL_INTERVAL = 0.01


@dataclass(frozen=True, slots=True)
class _Home:
    """The event loop a source lives on, and the thread that runs it."""

    token: anyio.lowlevel.EventLoopToken
    thread: int
    portal: _Portal | None = None


class _HomeGoneError(Exception):
    """The home loop finished; the caller must pick a new home and try again."""


class _Portal:
    """A private event loop running in a daemon thread until ``stop()``.

    A daemon thread, so a portal nobody closed never holds up interpreter
    exit.
    """

    def __init__(self, backend: str) -> None:
        self._stop: anyio.Event | None = None
        handoff: queue.Queue[anyio.lowlevel.EventLoopToken | BaseException] = queue.Queue()
        self.thread = threading.Thread(
            target=self._run, args=(backend, handoff), name="tokensources-portal", daemon=True
        )
        self.thread.start()
        started = handoff.get(timeout=_START_TIMEOUT)
        if isinstance(started, BaseException):
            raise started
        self.token = started

    def _run(self, backend: str, handoff: queue.Queue[object]) -> None:
        async def serve() -> None:
            self._stop = anyio.Event()
            handoff.put(anyio.lowlevel.current_token())
            await self._stop.wait()

        try:
            anyio.run(serve, backend=backend)
        except BaseException as exc:  # handed to the starting thread
            handoff.put(exc)

    def stop(self) -> None:
        """Stop the loop and wait (briefly) for its thread to end. Idempotent."""
        stop = self._stop
        if stop is not None and self.thread.is_alive():
            # RuntimeError: the loop already ended.
            with contextlib.suppress(RuntimeError):
                anyio.from_thread.run_sync(stop.set, token=self.token)
        if threading.current_thread() is not self.thread:
            self.thread.join(_STOP_TIMEOUT)


def _alive(home: _Home) -> bool:
    """Whether the home loop is still running (so calls into it can complete)."""
    native = home.token.native_token
    if isinstance(native, asyncio.AbstractEventLoop):
        # A stopped loop that is not yet closed would accept a call and never run it.
        return native.is_running()
    try:
        # trio: scheduling a no-op fails once the run has finished.
        home.token.backend_class.run_sync_soon(_noop, (), native)
    except RuntimeError:
        return False
    return True


def _noop() -> None:
    return None


class LoopBridge:
    """Runs a source's async calls on its home event loop, from anywhere.

    Safe for concurrent use from any number of threads and event loops.
    """

    def __init__(self, source: object, *, portal_backend: str = "asyncio") -> None:
        self._source = source
        self._home: _Home | None = None
        self._lock = threading.Lock()
        self._portal_backend = portal_backend
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (the sync path is then unavailable)."""
        return self._closed

    def at_home(self) -> bool:
        """Whether this thread runs the home loop (an async caller may then call directly)."""
        home = self._home
        return home is not None and home.thread == threading.get_ident()

    async def acall(self, func: Callable[[], Awaitable[T]]) -> T:
        """Await ``func()`` on the home loop; this task's loop becomes home if there is none.

        Concurrency and cancellation: on the home loop this is a plain
        ``await``. From another loop the call waits in a worker thread, so
        that loop keeps running; cancelling the caller abandons the wait
        (the call itself completes on the home loop).
        """
        while True:
            home = self._home
            if home is None:
                home = self._claim_current_loop()
            if home.thread == threading.get_ident():
                return await func()
            abandoned = threading.Event()
            try:
                return await anyio.to_thread.run_sync(
                    _run_at, home, func, abandoned, abandon_on_cancel=True
                )
            except _HomeGoneError:
                self._forget(home)
            except BaseException:
                abandoned.set()  # cancelled: the worker thread need not wait on
                raise

    def call(self, func: Callable[[], Awaitable[T]]) -> T:
        """Run ``func()`` on the home loop and block this thread until it is done.

        Raises:
            RuntimeError: this thread is running the home loop itself, so
                waiting for it would deadlock (a sync client used inside an
                async function that shares its source with async code).
        """
        while True:
            home = self._home_for_thread()
            if home.thread == threading.get_ident():
                raise RuntimeError(
                    "a sync httpx.Client was used inside the event loop that its "
                    "token source lives on; use httpx.AsyncClient there"
                )
            try:
                return _run_at(home, func)
            except _HomeGoneError:
                self._forget(home)

    def _claim_current_loop(self) -> _Home:
        token = anyio.lowlevel.current_token()
        with self._lock:
            if self._home is None:
                self._home = _Home(token, threading.get_ident())
            return self._home

    def _home_for_thread(self) -> _Home:
        with self._lock:
            home = self._home
            if home is not None and _alive(home):
                return home
            if self._closed:
                raise RuntimeError("TokenAuth is closed")
            portal = _Portal(self._portal_backend)
            self._home = _Home(portal.token, portal.thread.ident or 0, portal)
            return self._home

    def _forget(self, home: _Home) -> None:
        with self._lock:
            if self._home is home:
                self._home = None
        if home.portal is not None:
            home.portal.stop()

    def close(self) -> None:
        """Close the source if it lives on the private loop, then stop that loop.

        Resources a source holds on the private loop (an ``httpx.AsyncClient``
        and its connections) can be released only there, so the source's
        ``aclose()`` is awaited on it first. Idempotent. After ``close()``
        the sync path is unavailable; async callers keep working.
        """
        with self._lock:
            self._closed = True
            home, self._home = self._home, None
        if home is None or home.portal is None:
            self._home = home
            return
        try:
            _run_at(home, partial(aclose_source, self._source))
        except Exception:
            logger.exception("closing the token source on the private loop failed")
        home.portal.stop()


# One bridge per source object, shared by every TokenAuth built on it, so a
# source has one home loop however many clients use it.
_registry_lock = threading.Lock()
_registry: dict[int, tuple[object, LoopBridge, int]] = {}


def acquire_bridge(source: object, *, portal_backend: str) -> LoopBridge:
    """The bridge of ``source``, created on first use; pair with ``release_bridge``."""
    with _registry_lock:
        entry = _registry.get(id(source))
        if entry is None:
            entry = (source, LoopBridge(source, portal_backend=portal_backend), 0)
        _registry[id(source)] = (source, entry[1], entry[2] + 1)
        return entry[1]


def release_bridge(source: object) -> None:
    """Drop one use of ``source``'s bridge; the last one closes it."""
    with _registry_lock:
        _, bridge, count = _registry[id(source)]
        if count > 1:
            _registry[id(source)] = (source, bridge, count - 1)
            return
        del _registry[id(source)]
    bridge.close()


def _run_at(
    home: _Home, func: Callable[[], Awaitable[T]], abandoned: threading.Event | None = None
) -> T:
    """Run ``func()`` on ``home``'s loop from this (non-loop) thread.

    ``abandoned`` is set when the caller waiting for this thread has gone.
    """
    if not _alive(home):
        raise _HomeGoneError

    async def call() -> T | _Cancelled:
        try:
            return await func()
        except anyio.get_cancelled_exc_class():
            # Ended here rather than raised, so the loop does not log it as
            # an error; this thread decides what it means.
            return _CANCELLED

    try:
        result = anyio.from_thread.run(call, token=home.token)
    except anyio.RunFinishedError:
        raise _HomeGoneError from None
    except BaseException as exc:
        if not _is_cancellation(exc):  # e.g. cancelled before it started
            raise
        result = _CANCELLED
    if not isinstance(result, _Cancelled):
        return result
    # A plain thread cannot itself be cancelled: the home loop cancelled the
    # call, as it does when it ends (asyncio.run() cancels the tasks left
    # over, trio cancels its system tasks).
    if _ends(home, abandoned or threading.Event()):
        raise _HomeGoneError
    raise TokenRequestError(
        "the token call was cancelled by the event loop the token source lives on"
    )


class _Cancelled(enum.Enum):
    CANCELLED = enum.auto()


_CANCELLED = _Cancelled.CANCELLED


def _is_cancellation(exc: BaseException) -> bool:
    """Whether ``exc`` is how an event loop reports a cancelled call to a thread."""
    if isinstance(exc, (asyncio.CancelledError, concurrent.futures.CancelledError)):
        return True
    trio = sys.modules.get("trio")  # only a trio home raises trio's own
    return trio is not None and isinstance(exc, trio.Cancelled)


def _ends(home: _Home, abandoned: threading.Event) -> bool:
    """Whether ``home``'s loop stops within a few seconds (it is shutting down)."""
    deadline = time.monotonic() + _STOP_TIMEOUT
    while _alive(home):
        if time.monotonic() >= deadline or abandoned.wait(_POLL_INTERVAL):
            return False
    return True
