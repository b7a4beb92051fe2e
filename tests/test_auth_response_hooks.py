"""Raising for status with TokenAuth: in ``send()``, after the auth flow, not in a response hook.

httpx runs response event hooks before any ``httpx.Auth`` sees the
response, so a hook that raises on a 401 leaves no chance to refresh the
token and resend. Raising in an overridden ``send()`` happens on the final
response, once TokenAuth is done with it.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tokensources import ClientCredentials, TokenAuth
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.testing._inprocess import InProcessTransport
from tokensources.wrappers import Reuse, reuse

pytestmark = pytest.mark.anyio


class _RaisingClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose every final response raises for an error status."""

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = await super().send(request, **kwargs)
        response.raise_for_status()
        return response


class _RaisingSyncClient(httpx.Client):
    """The same for the sync ``httpx.Client``."""

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = super().send(request, **kwargs)
        response.raise_for_status()
        return response


def _source(server: AuthorizationServer, http: httpx.AsyncClient) -> Reuse:
    return reuse(
        ClientCredentials(
            server.token_endpoint,
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            scopes=["read:messages"],
            http=http,
            allow_insecure_http=True,
        )
    )


async def _raise_for_status(response: httpx.Response) -> None:
    response.raise_for_status()


async def test_a_raising_response_hook_sees_the_401_before_tokenauth(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """With raise_for_status as a response hook, a 401 after a key rotation raises, unresent."""
    hooks = {"response": [_raise_for_status]}
    with anyio.fail_after(10):
        async with server.client(auth=TokenAuth(_source(server, http)), event_hooks=hooks) as api:
            assert (await api.get("/api/private")).status_code == 200
            server.rotate_keys()
            with pytest.raises(httpx.HTTPStatusError) as caught:
                await api.get("/api/private")
    assert caught.value.response.status_code == 401
    assert server.counters.token_requests == 1


async def test_raising_in_send_lets_tokenauth_resend_first(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Raising for status in send(): a fresh token cures the 401; a real error still raises."""
    auth = TokenAuth(_source(server, http))
    transport = InProcessTransport(app=server)
    with anyio.fail_after(10):
        async with _RaisingClient(base_url=server.issuer, auth=auth, transport=transport) as api:
            assert (await api.get("/api/private")).status_code == 200
            server.rotate_keys()
            response = await api.get("/api/private")
            with pytest.raises(httpx.HTTPStatusError) as caught:
                await api.get("/api/no-such-page")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert caught.value.response.status_code == 404
    assert server.counters.token_requests == 2


def test_raising_in_a_sync_clients_send_lets_tokenauth_resend_first() -> None:
    """The same pattern with the sync httpx.Client."""
    server = AuthorizationServer()
    with server.serve_in_thread() as base:
        source = reuse(
            ClientCredentials(
                f"{base}/oauth/token", DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, scopes=["read:messages"]
            )
        )
        with TokenAuth(source) as auth, _RaisingSyncClient(base_url=base, auth=auth) as api:
            assert api.get("/api/private").status_code == 200
            server.rotate_keys()
            response = api.get("/api/private")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert server.counters.token_requests == 2
