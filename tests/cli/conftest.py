"""Fixtures for the command-line tests: a real testing server on loopback.

The command line itself runs as the real console script in a subprocess
(``tests.support.cli``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tokensources.testing import AuthorizationServer


@pytest.fixture
def server() -> AuthorizationServer:
    """A fresh testing server with the demo client, on the real clock (the CLI runs apart)."""
    return AuthorizationServer()


@pytest.fixture
def server_url(server: AuthorizationServer) -> Iterator[str]:
    """``server`` served on loopback from a background thread, as its base URL."""
    with server.serve_in_thread() as url:
        yield url
