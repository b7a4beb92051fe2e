"""The testing server in a child process, driven over a pipe.

The one way the demo, the benchmarks and the tests run a testing server in
a process of its own. A separate process lets the server and the clients
use a core each (in one process they would share one interpreter lock, and
the server's work would show up as client latency), as a real identity
provider is elsewhere.

The protocol is a ``multiprocessing`` pipe carrying Python objects, never
text to parse: the parent sends ``(command, args)`` and the child answers
``("ok", value)`` or ``("error", "Kind: message")``. The child announces
itself with ``("ok", {"base": ..., "token_url": ...})`` once it listens.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from .._errors import ConfigError

__all__ = ["ServerCounts", "ServerProcess"]

_ANSWER_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class ServerCounts:
    """What the server in the child process has seen so far.

    Attributes:
        token_requests: requests to the token endpoint, whatever their outcome.
        api_requests: requests to the demo API (``/api/*``).
        cpu_seconds: processor time the child process has used.
    """

    token_requests: int
    api_requests: int
    cpu_seconds: float


class ServerProcess:
    """A ``tokensources.testing.AuthorizationServer`` serving on loopback in a child process.

    The child is started (with the ``spawn`` method) when the object is
    made, and the object is ready once it is: ``base`` and ``token_url``
    are set. Between measurements the parent may register clients, set the
    token endpoint's latency and read the counters; each call blocks for
    one round trip over the pipe. ``close()`` (or leaving the ``with``
    block) stops the server and waits for the child.

    The child ignores Ctrl-C, which a terminal sends to the whole process
    group: the parent decides when it stops, after reading its counters.
    A parent that dies closes the pipe, and the child then stops too.

    Args:
        token_lifetime: seconds the server's access tokens live.
        demo_client: register ``demo-client`` / ``demo-secret``.
        start_timeout: seconds to wait for the child to listen.

    Attributes:
        base: the server's base URL, e.g. ``http://127.0.0.1:54321`` (also its issuer).
        token_url: its token endpoint.
        token_lifetime: seconds its access tokens live.
        pid: the child's process id.

    Raises:
        ConfigError: the server did not start (the child's reason is in the message).
    """

    def __init__(
        self,
        *,
        token_lifetime: float = 3600.0,
        demo_client: bool = True,
        start_timeout: float = 60.0,
    ) -> None:
        self.token_lifetime = token_lifetime
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_child, args=(child, token_lifetime, demo_client), daemon=True
        )
        self._process.start()
        self.pid: int | None = self._process.pid
        child.close()
        try:
            ready = self._answer("start", start_timeout)
        except BaseException:
            self._kill()
            raise
        self.base: str = ready["base"]
        self.token_url: str = ready["token_url"]

    def register_client(self, client_id: str, secret: str | None = None, **options: Any) -> None:
        """``AuthorizationServer.register_client`` in the child.

        Raises:
            ConfigError: the server refused the registration.
        """
        self._call("register", client_id, secret, options)

    def set_latency(self, seconds: float) -> None:
        """Delay every token endpoint answer by ``seconds`` from now on."""
        self._call("latency", seconds)

    def counts(self) -> ServerCounts:
        """The server's counters and the child's processor time, as they are now."""
        counts: ServerCounts = self._call("counts")
        return counts

    def token_requests(self) -> int:
        """Token requests the server has received so far."""
        return self.counts().token_requests

    def close(self) -> None:
        """Stop the server and wait for the child to exit (killing it after ten seconds)."""
        if self._pipe.closed:
            return
        # Already gone: nothing is left to stop politely.
        with contextlib.suppress(ConfigError, OSError):
            self._call("stop")
        self._process.join(10)
        self._kill()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, command: str, *args: Any) -> Any:
        try:
            self._pipe.send((command, args))
        except OSError:
            raise ConfigError("the testing server's process has exited") from None
        return self._answer(command, _ANSWER_TIMEOUT)

    def _answer(self, command: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        try:
            # Polled in short steps so that a child that died is noticed at once.
            while not self._pipe.poll(0.1):
                if not self._process.is_alive():
                    break
                if time.monotonic() > deadline:
                    raise ConfigError(f"the testing server did not answer {command!r} in time")
            status, value = self._pipe.recv()
        except (EOFError, OSError):
            # A child that died closes its end: the pipe reads EOF or a reset.
            self._process.join(1)
            raise ConfigError(
                f"the testing server's process exited (status {self._process.exitcode})"
            ) from None
        if status != "ok":
            what = "did not start" if command == "start" else f"refused {command!r}"
            raise ConfigError(f"the testing server {what}: {value}")
        return value

    def _kill(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._pipe.close()


def _child(pipe: Connection, token_lifetime: float, demo_client: bool) -> None:
    """The child process: serve on loopback and obey the pipe until told to stop."""
    import anyio

    # Ctrl-C reaches the whole process group; the parent stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        anyio.run(_serve_and_obey, pipe, token_lifetime, demo_client)
    except Exception as exc:  # reported to the parent, which names it
        pipe.send(("error", _described(exc)))
    finally:
        pipe.close()


async def _serve_and_obey(pipe: Connection, token_lifetime: float, demo_client: bool) -> None:
    import anyio.to_thread

    from ..testing import AuthorizationServer

    server = AuthorizationServer(token_lifetime=token_lifetime, register_demo_client=demo_client)
    async with server.serve() as base:
        pipe.send(("ok", {"base": base, "token_url": server.token_endpoint}))
        while True:
            try:
                command, args = await anyio.to_thread.run_sync(pipe.recv)
            except EOFError:  # the parent is gone
                return
            if command == "stop":
                pipe.send(("ok", None))
                return
            try:
                answer = _obey(server, command, args)
            except Exception as exc:  # the parent raises it as a ConfigError
                pipe.send(("error", _described(exc)))
            else:
                pipe.send(("ok", answer))


def _described(exc: Exception) -> str:
    # A ConfigError never quotes a secret and an OSError names a socket;
    # the text of anything else may quote what it was given, so only its type.
    if isinstance(exc, (ConfigError, OSError)):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


def _obey(server: Any, command: str, args: tuple[Any, ...]) -> Any:
    if command == "register":
        client_id, secret, options = args
        server.register_client(client_id, secret, **options)
        return None
    if command == "latency":
        server.faults.latency = args[0]
        return None
    if command == "counts":
        counters = server.counters
        return ServerCounts(counters.token_requests, counters.api_requests, time.process_time())
    raise ValueError(f"unknown command {command!r}")
