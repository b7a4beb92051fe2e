"""A private event loop: anyio's ``BlockingPortal`` in a daemon thread of its own.

Nobody else's code runs on it and nobody else's threads wait in its worker
threads, so what runs there (a token refresh, with its name resolution in a
worker thread) can never be starved by its own waiters, and it ends only
when its owner stops it.

The portal is anyio's; only the thread around it is written here, because
``anyio.from_thread.start_blocking_portal()`` (and ``BlockingPortalProvider``,
which is built on it) falls short in two tested ways:

* fork safety (tests/test_auth_fork.py): its clean-up is a generator's
  ``finally`` that runs when the context manager is exited *or collected*,
  and calls into the loop with no timeout. A forked child inherits the
  object but not the loop's thread, so dropping it there blocks forever
  (checked with anyio 4.16: the child never returns from the collection).
  ``PrivateLoop`` holds nothing that acts on collection; a child forgets it.
* answering every waiter on close (tests/test_bridge_close.py): a
  plain exit stops the portal without cancelling what still runs and joins
  the thread without a bound, so one hung token call would hang ``close()``
  and the threads waiting for it. ``stop()`` cancels what runs and waits a
  bounded time.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading

import anyio
import anyio.lowlevel
from anyio.from_thread import BlockingPortal
from anyio.lowlevel import EventLoopToken

__all__ = ["PrivateLoop"]

_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 5.0

_Started = concurrent.futures.Future[tuple[BlockingPortal, EventLoopToken]]


class PrivateLoop:
    """An event loop running in a daemon thread until ``stop()``; ``portal`` calls into it.

    Not ``anyio.from_thread.start_blocking_portal()`` (see the module
    docstring for why). A daemon thread, so that a loop nobody stopped never
    holds up interpreter exit.

    Attributes:
        portal: calls into the loop from other threads and event loops.
        token: the loop's anyio event-loop token.
        thread: the ident of the thread running it.
    """

    def __init__(self, backend: str) -> None:
        """Start the loop (``backend`` is ``"asyncio"`` or ``"trio"``) and wait until it runs.

        Raises:
            Exception: the loop could not start (an unknown backend, trio
                not installed).
        """
        started: _Started = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=_serve, args=(backend, started), name="tokensources-bridge", daemon=True
        )
        self._thread.start()
        self.portal, self.token = started.result(_START_TIMEOUT)
        self.thread = self._thread.ident or 0

    def stop(self) -> None:
        """Stop the loop, cancelling what still runs on it; wait briefly for its thread.

        Idempotent.
        """
        # RuntimeError: it stopped already, or this is its own thread.
        with contextlib.suppress(RuntimeError):
            self.portal.call(self.portal.stop, True)
        if threading.current_thread() is not self._thread:
            self._thread.join(_STOP_TIMEOUT)


def _serve(backend: str, started: _Started) -> None:
    async def serve() -> None:
        async with BlockingPortal() as portal:
            started.set_result((portal, anyio.lowlevel.current_token()))
            await portal.sleep_until_stopped()

    try:
        anyio.run(serve, backend=backend)
    except BaseException as exc:  # handed to the thread starting the loop
        if not started.done():
            started.set_exception(exc)
