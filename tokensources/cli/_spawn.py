"""The demo's authorization server: ``tokensources serve`` in a child process.

A separate process lets the server and the clients use a core each; in one
process they would share one interpreter lock.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .._errors import ConfigError
from ._serve import STOPPED_PREFIX

__all__ = ["ServerProcess", "spawn_server"]

_ENDPOINT = re.compile(r"^\s*token endpoint\s+(?P<url>\S+)")
_ISSUER = re.compile(r"^\s*issuer\s+(?P<url>\S+)")
_STOPPED = re.compile(
    rf"{STOPPED_PREFIX} (?P<tokens>\d+) token requests and (?P<api>\d+) API requests, "
    r"using (?P<cpu>[\d.]+) s of CPU"
)


@dataclass(slots=True)
class ServerProcess:
    """A running testing server and, once stopped, what it counted.

    Attributes:
        issuer: its issuer URL (``http://127.0.0.1:PORT``).
        token_url: its token endpoint.
        token_requests: token requests it answered (None until stopped).
        api_requests: API requests it answered (None until stopped).
        cpu_seconds: processor time it used (None until stopped).
    """

    issuer: str
    token_url: str
    token_requests: int | None = None
    api_requests: int | None = None
    cpu_seconds: float | None = None


@contextmanager
def spawn_server(token_lifetime: float) -> Iterator[ServerProcess]:
    """Run ``tokensources serve --port 0`` until the context ends, then stop it with SIGINT.

    Raises:
        ConfigError: the server did not start (its last output is in the message).
    """
    command = [
        sys.executable, "-m", "tokensources", "serve",
        "--host", "127.0.0.1", "--port", "0", "--token-lifetime", f"{token_lifetime:g}",
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed flags
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    server = None
    try:
        server = _read_banner(process)
        yield server
    finally:
        _stop(process, server)


def _read_banner(process: subprocess.Popen[str]) -> ServerProcess:
    assert process.stdout is not None  # noqa: S101 - stdout=PIPE above
    issuer = None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line.rstrip())
        if match := _ISSUER.match(line):
            issuer = match["url"]
        elif (match := _ENDPOINT.match(line)) and issuer is not None:
            return ServerProcess(issuer=issuer, token_url=match["url"])
    last = " / ".join(seen[-3:]) or "no output"
    raise ConfigError(f"the testing server did not start: {last}")


def _stop(process: subprocess.Popen[str], server: ServerProcess | None) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    if server is not None and (match := _STOPPED.search(output or "")):
        server.token_requests = int(match["tokens"])
        server.api_requests = int(match["api"])
        server.cpu_seconds = float(match["cpu"])
