"""pytest fixtures for testing code against the OAuth 2.0 testing server.

Installed with tokensources and loaded by pytest through the ``pytest11``
entry point, so the fixtures are available in every test suite:

- ``oauth_server``: a fresh ``AuthorizationServer`` for the test, used
  in-process (``oauth_server.client()``). When the test ends, an answer it
  queued (``enqueue_error``, ``enqueue_response``) that no request matched
  is reported as an error of the test: it did not test what it meant to.
- ``oauth_server_url``: the same server served over HTTP on loopback from a
  background thread, as its base URL (``http://127.0.0.1:<port>``). Asking
  for both gives the URL of the very server ``oauth_server`` is, so a test
  can queue faults and read counters while its code talks HTTP.

The plugin imports nothing until a fixture is used, so it costs nothing to
test suites that do not use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from . import AuthorizationServer

__all__ = ["oauth_server", "oauth_server_url"]


@pytest.fixture
def oauth_server() -> Iterator[AuthorizationServer]:
    """A fresh ``AuthorizationServer`` with the demo client, for one test.

    At teardown, fails if an answer the test queued never matched a request.
    """
    from . import AuthorizationServer

    server = AuthorizationServer()
    yield server
    server.assert_enqueued_consumed()


@pytest.fixture
def oauth_server_url(oauth_server: AuthorizationServer) -> Iterator[str]:
    """The base URL of ``oauth_server`` served on loopback for the test's duration."""
    with oauth_server.serve_in_thread() as url:
        yield url
