"""Bridges that let one token source serve event-loop tasks and plain threads.

A token source keeps anyio primitives of the event loop running its refresh
(the round of a ``reuse()`` cache), so it is used by one event loop at a
time: its *home*. Async callers on the home loop call it directly; a bridge
brings every other caller there.

``SourceBridge`` (behind ``TokenAuth``) gives the first async caller's loop
the home while no other caller shows up. The first plain thread (the sync
``httpx.Client``) or task of another loop moves the source to a
``PrivateLoop`` of the bridge's own, once the calls already running on the
old home have ended. From then on every caller reaches it there: threads
block only themselves, async callers wait without blocking their loop and
without a worker thread. The bridge never puts work into an event loop it
does not own, because:

* a thread waiting for a loop may be one of that loop's own worker threads
  (``asyncio.to_thread``, FastAPI's sync endpoints, ``anyio.to_thread``),
  and the refresh may need a worker thread of that loop too (for name
  resolution): enough waiting threads would starve their own refresh;
* a call put into a loop that is shutting down may be left half done when
  the loop closes, and the thread waiting for it would wait forever. The
  private loop ends only when the bridge closes, and then cancels what
  still runs on it, so that every waiting thread gets an answer.

``LoopBridge`` (behind ``InMemoryShared``) keeps the first loop as the
home; callers on another loop wait for it in a worker thread of their own
loop (see ``_foreign_loop``), and a home loop that ends hands the home to
the next caller's loop.

A forked child starts clean (``os.register_at_fork``): it inherits the
bridges' memory but none of the parent's threads, so no loop it remembers
runs there. A token cached before the fork is still served.

anyio supplies the loops' machinery (``BlockingPortal`` runs the private
loop, ``anyio.from_thread.run`` and ``anyio.to_thread`` carry calls between
threads); what is written here is what anyio lacks: claiming a source's home
loop, moving it once a thread or another loop shows up, counting the
clients of one source, and forgetting everything in a forked child. Why the
private loop and the lease count are not ``start_blocking_portal()`` and
``BlockingPortalProvider``: see ``_private_loop`` and ``_registry`` below.
"""

from __future__ import annotations

import concurrent.futures
import enum
import os
import threading
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
from anyio.lowlevel import EventLoopToken

from ._foreign_loop import LoopGoneError, alive, run_at
from ._log import logger
from ._private_loop import PrivateLoop
from ._source import aclose_source

__all__ = ["LoopBridge", "SourceBridge", "acquire_bridge", "release_bridge"]

T = TypeVar("T")

_POLL_INTERVAL = 0.02
_INSIDE = (
    "a sync token call (blocking(source), a sync httpx.Client, tokensources.requests) was "
    "made on the thread of the event loop its token source lives on, where waiting would "
    "deadlock; use the async API there (await source.token(), httpx.AsyncClient, aiohttp)"
)
# Every user of a source (TokenAuth, blocking(), the requests and aiohttp
# adapters) shares its bridge, so the messages name none of them.
_CLOSED = "the token source's thread bridge is closed (its TokenAuth or blocking() was closed)"
_CLOSED_MIDWAY = "the token source's thread bridge was closed while a token call was under way"


@dataclass(eq=False, slots=True)
class _Home:
    """An event loop a source lives on, the thread running it, and its calls under way."""

    token: EventLoopToken
    thread: int
    private: PrivateLoop | None = None
    running: int = 0  # calls of a SourceBridge running on this loop now


class _Moved(enum.Enum):
    MOVED = enum.auto()  # the source left this loop before the call could start


class _Bridge:
    """What both bridges share: the home, the lock, starting clean after a fork."""

    def __init__(self, source: object) -> None:
        self._source = source
        self._home: _Home | None = None
        self._lock = threading.Lock()
        _bridges.add(self)

    def at_home(self) -> bool:
        """Whether this thread runs the home loop (an async caller may then call directly)."""
        home = self._home
        return home is not None and home.thread == threading.get_ident()

    def _after_fork(self) -> None:
        # The lock may have been held by a thread that does not exist here.
        self._lock = threading.Lock()
        self._home = None


class SourceBridge(_Bridge):
    """Runs one token source's calls where it lives, for threads and event loops alike.

    See the module docstring for where that is. Safe for concurrent use from
    any number of threads and event loops.

    Args:
        source: the token source (closed on the private loop by ``close()``).
        private_backend: the anyio backend of the private loop.
    """

    def __init__(self, source: object, *, private_backend: str = "asyncio") -> None:
        self._backend = private_backend
        self._closed = False
        # The user loop the source left, while calls started there still run.
        self._leaving: _Home | None = None
        super().__init__(source)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (threads and other loops are then refused)."""
        return self._closed

    async def acall(self, func: Callable[[], Awaitable[T]]) -> T:
        """Await ``func()`` where the source lives; with no home yet, this loop becomes it.

        Concurrency and cancellation: on the home loop this is a plain
        ``await``. On the private loop the call runs as a task there while
        this task waits without blocking its loop; cancelling this task
        cancels that call (if it was refreshing a cache, a waiting caller
        takes over).

        Raises:
            RuntimeError: the source must move to the private loop (this is
                a second event loop), but ``close()`` was called.
        """
        while True:
            here = anyio.lowlevel.current_token()
            home = self._home
            if home is None or (home.private is None and home.token != here):
                home = self._home_for(here)
            if home.private is None:
                result = await self._run_on(home, func)
                if not isinstance(result, _Moved):
                    return result
                continue  # moved to the private loop meanwhile: go there
            if home.thread == threading.get_ident():
                return await self._run_private(func)
            try:
                return await home.private.portal.call_async(
                    self._run_private, func, abandon_on_cancel=True
                )
            except concurrent.futures.CancelledError:  # not this task's: close() cancelled it
                raise RuntimeError(_CLOSED_MIDWAY) from None

    def call(self, func: Callable[[], Awaitable[T]]) -> T:
        """Run ``func()`` on the private loop and block this thread until it is done.

        Raises:
            RuntimeError: this thread runs the loop the source lives on, so
                waiting would deadlock (a sync client inside async code that
                shares the source); or ``close()`` was called.
        """
        home = self.for_threads()
        try:
            future = home.portal.start_task_soon(self._run_private, func)
        except RuntimeError:  # the private loop stopped: close() ran meanwhile
            raise RuntimeError(_CLOSED) from None
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise RuntimeError(_CLOSED_MIDWAY) from None

    def for_threads(self) -> PrivateLoop:
        """The private loop, where threads are served; moves the source there on first use.

        Raises:
            RuntimeError: as ``call()``.
        """
        home = self._home
        if home is not None and home.private is not None and self._leaving is None:
            if home.thread == threading.get_ident():
                raise RuntimeError(_INSIDE)
            return home.private
        with self._lock:
            if self._closed:
                raise RuntimeError(_CLOSED)
            home = self._home
            me = threading.get_ident()
            for loop in (home, self._leaving):
                if loop is not None and loop.thread == me and alive(loop.token):
                    raise RuntimeError(_INSIDE)
            if home is None or home.private is None:
                home = self._move(home)
            assert home.private is not None  # noqa: S101 - _move() made it
            return home.private

    def _home_for(self, here: EventLoopToken) -> _Home:
        with self._lock:
            home = self._home
            if home is not None and (home.private is not None or home.token == here):
                return home
            if home is None or not alive(home.token):
                self._home = _Home(here, threading.get_ident())
                return self._home
            return self._move(home)  # a second event loop: the source moves

    def _move(self, home: _Home | None) -> _Home:
        """Start the private loop and make it home (under ``_lock``)."""
        if self._closed:
            raise RuntimeError(_CLOSED)
        private = PrivateLoop(self._backend)
        if home is not None and home.running and alive(home.token):
            self._leaving = home
        self._home = _Home(private.token, private.thread, private)
        return self._home

    async def _run_on(self, home: _Home, func: Callable[[], Awaitable[T]]) -> T | _Moved:
        """Await ``func()`` on the user loop ``home``, counted so that a move can wait for it."""
        home.running += 1
        try:
            # Counted before this check: a move that did not see the count
            # has already changed the home, and this call goes there instead.
            if self._home is not home:
                return _Moved.MOVED
            return await func()
        finally:
            home.running -= 1

    async def _run_private(self, func: Callable[[], Awaitable[T]]) -> T:
        leaving = self._leaving
        if leaving is not None:
            # Calls still running on the loop the source left hold its state
            # there (a cache's refresh round): one event loop at a time. A
            # short, one-time wait, over when they end or that loop does (an
            # ended loop sets no event, hence the polling).
            while leaving.running and alive(leaving.token):  # noqa: ASYNC110
                await anyio.sleep(_POLL_INTERVAL)
            self._leaving = None
        return await func()

    def close(self) -> None:
        """Close the source if it lives on the private loop, then stop that loop.

        Resources a source holds on the private loop (an ``httpx.AsyncClient``
        and its connections) can be released only there, so the source's
        ``aclose()`` is awaited on it first; calls still under way are then
        cancelled. Idempotent. After ``close()`` threads and other event
        loops are refused; async callers on the source's own loop keep
        working.
        """
        with self._lock:
            self._closed = True
            home = self._home
            if home is None or home.private is None:
                return
            self._home = None
        # From a thread of its own: trio refuses blocking calls into a loop
        # from any thread running a trio loop (close() in async code).
        closing = threading.Thread(
            target=self._close_on, args=(home.private,), name="tokensources-bridge-close"
        )
        closing.start()
        if threading.get_ident() != home.thread:  # on that loop's thread: it cannot wait
            closing.join()

    def _close_on(self, private: PrivateLoop) -> None:
        try:
            private.portal.call(self._run_private, partial(aclose_source, self._source))
        except Exception:
            logger.exception("closing the token source on the private loop failed")
        private.stop()

    def _after_fork(self) -> None:
        super()._after_fork()
        self._leaving = None


class LoopBridge(_Bridge):
    """Runs a source's async calls on its home event loop, from any event loop.

    The first loop that calls becomes the home; callers on other loops wait
    for it in a worker thread of their own loop (so their loop keeps
    running). When the home loop has ended, the next caller's loop takes
    over. Safe for concurrent use from any number of threads and loops.
    """

    async def acall(self, func: Callable[[], Awaitable[T]]) -> T:
        """Await ``func()`` on the home loop; this task's loop becomes home if there is none.

        Concurrency and cancellation: on the home loop this is a plain
        ``await``. From another loop the call waits in a worker thread;
        cancelling the caller abandons the wait (the call itself completes
        on the home loop).
        """
        while True:
            home = self._home
            if home is None:
                home = self._claim()
            if home.thread == threading.get_ident():
                return await func()
            abandoned = threading.Event()
            try:
                return await anyio.to_thread.run_sync(
                    run_at, home.token, func, abandoned, abandon_on_cancel=True
                )
            except LoopGoneError:
                self._forget(home)
            except BaseException:
                abandoned.set()  # cancelled: the worker thread need not wait on
                raise

    def _claim(self) -> _Home:
        token = anyio.lowlevel.current_token()
        with self._lock:
            if self._home is None:
                self._home = _Home(token, threading.get_ident())
            return self._home

    def _forget(self, home: _Home) -> None:
        with self._lock:
            if self._home is home:
                self._home = None


# One bridge per source object, shared by every TokenAuth built on it, so a
# source has one home however many clients use it. The count says when the
# last TokenAuth lets go, so that the source is closed on the private loop
# before that loop stops. Not anyio's BlockingPortalProvider, whose leases
# are `with` blocks that start the loop on entry and stop it on the last
# exit: here a lease is a TokenAuth (taken when it is built, given back by
# close() from any thread), the private loop starts only when a thread or a
# second loop calls (an async-only TokenAuth never starts one), and the last
# release must close the source on that loop before it stops, a step the
# provider has no place for (who holds the last lease is its private state).
_registry_lock = threading.Lock()
_registry: dict[int, tuple[object, SourceBridge, int]] = {}
_bridges: weakref.WeakSet[_Bridge] = weakref.WeakSet()


def acquire_bridge(source: object, *, private_backend: str) -> SourceBridge:
    """The bridge of ``source``, created on first use; pair with ``release_bridge``."""
    with _registry_lock:
        entry = _registry.get(id(source))
        if entry is None:
            entry = (source, SourceBridge(source, private_backend=private_backend), 0)
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


def _start_clean_after_fork() -> None:
    """In a forked child: forget every loop of the parent; none of its threads runs here."""
    global _registry_lock  # noqa: PLW0603 - a lock held by a parent thread would never be released
    _registry_lock = threading.Lock()
    for bridge in list(_bridges):
        bridge._after_fork()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_start_clean_after_fork)
