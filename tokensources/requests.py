"""``requests`` support: an ``AuthBase`` that puts a source's token on every request.

Needs the ``requests`` extra (``pip install "tokensources[requests]"``)::

    import requests
    from tokensources.requests import TokenAuth

    session = requests.Session()
    session.auth = TokenAuth(reuse(ClientCredentials(...)))
"""

from __future__ import annotations

from functools import partial
from types import TracebackType
from typing import Any

import requests
from requests.auth import AuthBase

from ._blocking import Blocking, check_source
from ._source import TokenSource
from ._token import Token

__all__ = ["TokenAuth"]

_UNAUTHORIZED = 401


class TokenAuth(AuthBase):
    """Authenticates ``requests`` calls with tokens from a token source.

    Every request gets ``Authorization: <token_type> <access_token>``. When
    the API answers 401, the rejected token is passed to
    ``source.invalidate()`` and the request is sent once more with a fresh
    token, on the same connection adapter, with the same ``timeout``,
    ``verify``, ``proxies`` and ``cert``; the 401 goes into the answer's
    ``history``. If the second answer is a 401 too, it is returned as it is.
    A request whose body cannot be sent twice (a generator or a file) is not
    resent: the 401 is returned, and the next request gets a fresh token.

    Tokens come through ``tokensources.blocking()``: a fresh cached token
    (``reuse()``) is taken at once, and a refresh runs on the source's
    private event loop, blocking only the calling thread. So one source may
    serve ``requests``, ``httpx`` and async tasks at once, with one cache;
    and any number of threads (a thread pool, Celery workers, after
    ``os.fork()``) share one token request.

    Thread safety: one ``TokenAuth`` may serve any number of sessions and
    threads. Calling ``requests`` inside the event loop the source lives on
    raises ``RuntimeError`` instead of deadlocking.

    ``close()`` (or ``with TokenAuth(...) as auth:``) lets go of the
    source's bridge, as ``blocking()`` does.

    Args:
        source: where tokens come from; usually a ``reuse()`` cache.
        portal_backend: the anyio backend of the private loop that serves
            threads (``"asyncio"`` or ``"trio"``).

    Raises:
        ConfigError: ``source`` is not a token source.
    """

    def __init__(self, source: TokenSource, *, portal_backend: str = "asyncio") -> None:
        check_source(source, "tokensources.requests.TokenAuth")
        self._tokens = Blocking(source, portal_backend=portal_backend)

    @property
    def source(self) -> TokenSource:
        """The token source this auth draws from."""
        return self._tokens.source

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Authorise ``request`` and watch its answer for a 401 (``requests`` calls this).

        Raises:
            TokenSourceError: no token could be had.
            RuntimeError: see the class docstring.
        """
        token = self._tokens.token()
        request.headers["Authorization"] = token.authorization
        on_401 = self._resend_on_401 if _replayable(request) else self._invalidate_on_401
        # types-requests leaves register_hook untyped.
        request.register_hook("response", partial(on_401, token))  # type: ignore[no-untyped-call]
        return request

    def _resend_on_401(
        self, token: Token, response: requests.Response, **send: Any
    ) -> requests.Response:
        """On a 401, drop ``token`` and send the request again, once, with a fresh one."""
        if response.status_code != _UNAUTHORIZED or response.connection is None:
            return response
        # The cache drops `token` only if it is still the cached one, so many
        # concurrent 401s for one token cost one token request.
        self._tokens.invalidate(token)
        fresh = self._tokens.token()
        resend = response.request.copy()
        # The copy shares the hooks: without this one, so that it resends only once.
        # (Bound methods compare equal, though each access makes a new one.)
        resend.hooks = {
            event: [hook for hook in hooks if getattr(hook, "func", None) != self._resend_on_401]
            for event, hooks in response.request.hooks.items()
        }
        resend.headers["Authorization"] = fresh.authorization
        # Read and release the 401 first, so that its connection can be reused.
        _ = response.content
        response.close()
        answer: requests.Response = response.connection.send(resend, **send)
        answer.history.append(response)
        answer.request = resend
        return answer

    def _invalidate_on_401(
        self, token: Token, response: requests.Response, **send: Any
    ) -> requests.Response:
        """On a 401 to a request that cannot be resent, drop ``token`` for the next request."""
        if response.status_code == _UNAUTHORIZED:
            self._tokens.invalidate(token)
        return response

    def close(self) -> None:
        """Let go of the source's bridge (see ``blocking()``). Idempotent."""
        self._tokens.close()

    def __enter__(self) -> TokenAuth:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"tokensources.requests.TokenAuth({self.source!r})"


def _replayable(request: requests.PreparedRequest) -> bool:
    """Whether the body is held in memory (none, bytes or text), so it can be sent again."""
    return request.body is None or isinstance(request.body, (bytes, str))
