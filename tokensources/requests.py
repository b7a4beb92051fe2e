"""``requests`` support: an ``AuthBase`` that puts a source's token on every request.

Needs the ``requests`` extra (``pip install "tokensources[requests]"``)::

    import requests
    from tokensources.requests import TokenAuth

    session = requests.Session()
    session.auth = TokenAuth(reuse(ClientCredentials(...)))
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any
from urllib.parse import urljoin

import requests
from requests.auth import AuthBase

from ._blocking import Blocking, check_source
from ._closing import Closing
from ._dpop_auth import DPoPRequests, DPoPSend, refuses_proof
from ._rejections import Rejections, origin
from ._source import Clock, TokenSource
from ._token import Token

__all__ = ["TokenAuth"]

_UNAUTHORIZED = 401


class TokenAuth(Closing, AuthBase):
    """Authenticates ``requests`` calls with tokens from a token source.

    Every request gets ``Authorization: <token_type> <access_token>``. When
    the API answers 401, the rejected token is passed to
    ``source.invalidate()`` and the request is sent once more with a fresh
    token, on the same connection adapter, with the same ``timeout``,
    ``verify``, ``proxies`` and ``cert``; the 401 goes into the answer's
    ``history``. If the second answer is a 401 too, it is returned as it is.
    A token goes only to the origin (scheme, host and port) of the request
    it was put on: ``requests`` takes it off a redirect to another origin,
    and a 401 from there is returned as it is, never answered with a token.
    A request whose body cannot be sent twice (a generator or a file) is not
    resent: the 401 is returned, and the next request gets a fresh token.

    An API that rejects even the fresh token (a wrong audience, a
    misconfigured gateway) does not cost a token request per request: from
    then on its 401s are returned as they are, without a new token, for a
    backoff of about a second that doubles (with jitter) while the
    rejections go on, up to 30 seconds; any 2xx answer from that API ends
    it. APIs are told apart by origin (scheme, host and port), as the httpx
    ``TokenAuth`` does.

    DPoP (RFC 9449), as the httpx ``TokenAuth`` does it: a token bound to a
    DPoP key (``token.jkt``, from a source given ``dpop=``) goes out as
    ``Authorization: DPoP <token>`` with a fresh ``DPoP`` proof (with
    ``ath``) on every send and resend, signed by the key with the token's
    thumbprint loaded in this process. The ``DPoP-Nonce`` of every answer is
    remembered per origin, and a 401 with ``WWW-Authenticate: DPoP
    error="use_dpop_nonce"`` is sent once more with the new nonce (a
    replayable body only; the challenge goes into ``history``) — without
    invalidating the token or counting a rejection, which
    ``error="invalid_dpop_proof"`` is not either. After a redirect on the
    same origin, the next request gets a proof of its own; one to another
    origin gets none. A bearer token never carries a proof.

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
        clock: wall-clock time in epoch seconds, for the backoff after an
            API rejected a fresh token. Default ``time.time``.

    Raises:
        ConfigError: ``source`` is not a token source, ``portal_backend``
            is neither ``"asyncio"`` nor ``"trio"``, or ``clock`` is not
            callable.
    """

    def __init__(
        self, source: TokenSource, *, portal_backend: str = "asyncio", clock: Clock = time.time
    ) -> None:
        check_source(source, "tokensources.requests.TokenAuth")
        self._rejections = Rejections(clock)
        self._dpop = DPoPRequests()
        self._tokens = Blocking(source, portal_backend=portal_backend)

    @property
    def source(self) -> TokenSource:
        """The token source this auth draws from."""
        return self._tokens.source

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Authorise ``request`` and watch its answer for a 401 (``requests`` calls this).

        Raises:
            TokenSourceError: no token could be had.
            ConfigError: the token is bound to a DPoP key that is not
                loaded in this process.
            RuntimeError: see the class docstring.
        """
        token = self._tokens.token()
        # Threads do not wait for a first contact: each blocks only itself.
        bound = None if token.jkt is None else DPoPSend(self._dpop, token)
        _authorize(request, token, bound)
        on_401 = self._resend_on_401 if _replayable(request) else self._invalidate_on_401
        hook = partial(on_401, token, bound, origin(request.url or ""))
        # types-requests leaves register_hook untyped.
        request.register_hook("response", hook)  # type: ignore[no-untyped-call]
        return request

    def _resend_on_401(
        self,
        token: Token,
        bound: DPoPSend | None,
        api: str,
        response: requests.Response,
        **send: Any,
    ) -> requests.Response:
        """On a 401 from ``api``, drop ``token`` and send the request again, once, with a fresh one.

        The hook also sees the answers of redirects; one from another origin
        (where ``requests`` took the token off) never gets a token. A DPoP
        nonce challenge is first answered by ``_nonce_retry``.
        """
        if response.is_redirect:
            _prove_redirect(response, bound)
            return response
        here = origin(response.request.url or "") == api
        if here:
            response = self._nonce_retry(token, bound, response, send)
        if response.status_code != _UNAUTHORIZED or response.connection is None:
            self._answered(response)
            return response
        if not here or _proof_refused(response, bound) or self._rejections.backing_off(api):
            return response  # a nonce challenge rejects nothing
        # The cache drops `token` only if it is still the cached one, so many
        # concurrent 401s for one token cost one token request.
        self._tokens.invalidate(token)
        fresh = self._tokens.token()
        rebound = None
        if fresh.jkt is not None:  # the nonce retry stays spent
            rebound = DPoPSend(self._dpop, fresh, retried=bound is not None and bound.retried)
        answer = self._nonce_retry(
            fresh, rebound, self._send_again(response, fresh, rebound, send), send
        )
        if not _proof_refused(answer, rebound):
            self._rejections.answered(api, answer.status_code)
        return answer

    def _nonce_retry(
        self, token: Token, bound: DPoPSend | None, response: requests.Response, send: Any
    ) -> requests.Response:
        """Learn the nonce of ``response``; send once more, same token, for a nonce challenge.

        RFC 9449 §9: a ``use_dpop_nonce`` challenge naming a nonce not yet
        sent earns one resend with a fresh proof carrying it.
        """
        if bound is None:
            return response
        url = response.request.url or ""
        retry = bound.earns_retry(url, response.status_code, response.headers, replayable=True)
        if not retry or response.connection is None:
            return response
        answer = self._send_again(response, token, bound, send)
        bound.learn(url, answer.headers)
        return answer

    def _send_again(
        self,
        response: requests.Response,
        token: Token,
        bound: DPoPSend | None,
        send: Any,
    ) -> requests.Response:
        """Send ``response``'s request once more with ``token``, through the same adapter.

        Same ``timeout``, ``verify``, ``proxies`` and ``cert`` (``send``);
        ``response`` goes into the answer's ``history``.
        """
        resend = response.request.copy()
        # The copy shares the hooks: without this one, so that it resends only once.
        # (Bound methods compare equal, though each access makes a new one.)
        resend.hooks = {
            event: [hook for hook in hooks if getattr(hook, "func", None) != self._resend_on_401]
            for event, hooks in response.request.hooks.items()
        }
        _authorize(resend, token, bound)
        # Read and release the answer first, so that its connection can be reused.
        _ = response.content
        response.close()
        answer: requests.Response = response.connection.send(resend, **send)
        answer.history = [*response.history, response]
        answer.request = resend
        return answer

    def _invalidate_on_401(
        self,
        token: Token,
        bound: DPoPSend | None,
        api: str,
        response: requests.Response,
        **send: Any,
    ) -> requests.Response:
        """On a 401 from ``api`` to a request that cannot be resent, drop ``token``.

        A DPoP nonce challenge drops nothing: its nonce is learned for the
        next request.
        """
        if response.is_redirect:
            _prove_redirect(response, bound)
            return response
        here = origin(response.request.url or "") == api
        if bound is not None and here:
            bound.learn(response.request.url or "", response.headers)
        if response.status_code != _UNAUTHORIZED:
            self._answered(response)
        elif here and not _proof_refused(response, bound) and not self._rejections.backing_off(api):
            self._tokens.invalidate(token)
        return response

    def _answered(self, response: requests.Response) -> None:
        """Let a 2xx end the backoff of an API that had rejected fresh tokens."""
        if self._rejections.origins:  # empty in the normal case: one truth test
            self._rejections.answered(origin(response.request.url or ""), response.status_code)

    def close(self) -> None:
        """Let go of the source's bridge (see ``blocking()``). Idempotent."""
        self._tokens.close()

    def __repr__(self) -> str:
        return f"tokensources.requests.TokenAuth({self.source!r})"


def _authorize(request: requests.PreparedRequest, token: Token, bound: DPoPSend | None) -> None:
    """Put ``token`` on ``request``, with a fresh DPoP proof when it is bound (RFC 9449 §7.1).

    A bearer token never travels with a proof (a resend after a bound token
    takes the old proof off).
    """
    if bound is not None:
        request.headers.update(bound.headers(request.method or "GET", request.url or ""))
        return
    headers = request.headers
    headers["Authorization"] = token.authorization
    if "DPoP" in headers:
        del headers["DPoP"]


def _prove_redirect(response: requests.Response, bound: DPoPSend | None) -> None:
    """Give the request ``requests`` sends after a redirect its own DPoP proof, or none.

    ``requests`` makes the next request of a redirect from a copy of this
    one, headers and all, after this hook: a proof is for one method and URL
    and is never sent twice (RFC 9449 §4.2, §11.1), so the copy gets a fresh
    proof for its own method and URL when it stays on the origin, and no
    proof when it leaves it (``requests`` takes ``Authorization`` off itself).
    """
    request = response.request
    location = response.headers.get("location")
    if bound is None or location is None:
        return
    target = urljoin(response.url or request.url or "", location)
    if origin(target) != origin(request.url or ""):
        request.headers.pop("DPoP", None)
        return
    request.headers.update(bound.headers(_redirect_method(request.method, response), target))


# requests' own rule for the method after a redirect (RFC 9110 §15.4, and
# what browsers do with 301 and 302), asked rather than written again.
_REDIRECTS = requests.sessions.SessionRedirectMixin()


def _redirect_method(method: str | None, response: requests.Response) -> str:
    """The method ``requests`` sends after ``response`` (``Session.rebuild_method``)."""
    probe = requests.PreparedRequest()
    probe.method = method or "GET"
    _REDIRECTS.rebuild_method(probe, response)
    return probe.method or "GET"


def _proof_refused(response: requests.Response, bound: DPoPSend | None) -> bool:
    """Whether ``response`` to a bound token refuses its DPoP proof: a 401 rejecting nothing."""
    return bound is not None and refuses_proof(response.status_code, response.headers)


def _replayable(request: requests.PreparedRequest) -> bool:
    """Whether the body is held in memory (none, bytes or text), so it can be sent again."""
    return request.body is None or isinstance(request.body, (bytes, str))
