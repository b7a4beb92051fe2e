"""One token request, as every grant sends it: the form, the client's credentials, one judgement.

RFC 6749 §3.2: a POST of an ``application/x-www-form-urlencoded`` form to
the token endpoint, answered with JSON. The grant supplies the form, the
client authentication its credentials (form fields, headers and the secrets
to mask); the answer is judged once (``judge_token_response``), so that a
client authentication can look at it before anyone raises it.

With DPoP (RFC 9449), every request carries a fresh proof from the very
first one, the nonce of every answer is learned, and the issued token
carries its binding. ``send_token_request`` is the whole exchange a grant
makes: the client authentication's requests, and the one retry a
``use_dpop_nonce`` answer earns (RFC 9449 §8) — with a fresh proof and
fresh client credentials (a new assertion ``jti``), never a second retry.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Literal

import httpx

from .._errors import ConfigError, TokenEndpointError
from .._http import HttpClient
from .._log import logger
from .._redact import safe_url
from .._wire import TokenAnswer, judge_token_response
from ..wrappers._hooks import count_event
from ._client_auth import ClientAuth, Credentials
from ._dpop_key import DPoPKey
from ._dpop_nonces import DPoPNonces

__all__ = ["DPoPClient", "request_token", "send_token_request"]

# RFC 9449 §5 and §8: the error asking for (another) nonce.
USE_DPOP_NONCE = "use_dpop_nonce"


class DPoPClient:
    """What a grant needs to send DPoP token requests: its key, the nonces, one warning.

    Args:
        key: the DPoP key every proof is signed with and tokens are bound to.
        nonces: where nonces are remembered; a fresh memory by default.

    Attributes:
        key: the DPoP key.
        nonces: the nonces learned, per origin.
        bearer_answers: how many token answers came back as Bearer (the
            server does not support DPoP); the first one is logged.

    Raises:
        ConfigError: ``key`` is not a ``DPoPKey``.
    """

    __slots__ = ("bearer_answers", "key", "nonces")

    def __init__(self, key: DPoPKey, *, nonces: DPoPNonces | None = None) -> None:
        if not isinstance(key, DPoPKey):
            raise ConfigError("dpop must be a DPoPKey")
        self.key = key
        self.nonces = nonces if nonces is not None else DPoPNonces()
        self.bearer_answers = 0

    def __repr__(self) -> str:
        return f"DPoPClient(key={self.key!r}, nonces={self.nonces!r})"

    def proof(self, token_url: str) -> str:
        """A fresh proof for a token request to ``token_url``, with the origin's nonce if known."""
        return self.key.proof("POST", token_url, nonce=self.nonces.get(token_url))

    def listener(self, token_url: str) -> functools.partial[None]:
        """A callback that learns the ``DPoP-Nonce`` of an answer from ``token_url``."""
        return functools.partial(self._learn, token_url)

    def _learn(self, token_url: str, headers: httpx.Headers) -> None:
        self.nonces.learn(token_url, headers.get("dpop-nonce"))

    def bind(self, answer: TokenAnswer) -> TokenAnswer:
        """``answer`` with its token bound to the key (``token_type`` DPoP and the ``jkt``).

        RFC 9449 §5: a server that does not support DPoP answers with a
        Bearer token. That token is used as a bearer token — it is not
        bound, so no proof is ever sent with it — and the first such answer
        is logged as a warning.
        """
        token = answer.token
        if token is None:
            return answer
        kind = token.token_type.lower()
        if kind == "dpop":
            bound = token.replace(token_type="DPoP", jkt=self.key.thumbprint)
            return TokenAnswer(answer.raw, token=bound)
        if kind == "bearer":
            self.bearer_answers += 1
            count_event("dpop_bearer_answer")
            if self.bearer_answers == 1:
                logger.warning(
                    "%s answered a DPoP token request with a Bearer token (token %s): "
                    "the server does not bind tokens to the DPoP key; using it as a bearer token",
                    safe_url(answer.raw.url),
                    token.fingerprint,
                )
        return answer

    def wants_retry(self, answer: TokenAnswer, token_url: str, nonce_sent: str | None) -> bool:
        """Whether ``answer`` from ``token_url`` asks for a nonce now known and not sent.

        A ``use_dpop_nonce`` answer without a (valid) ``DPoP-Nonce``, or with
        the very nonce that was sent, is not retried: the retry could only
        fail the same way.
        """
        error = answer.error
        if not isinstance(error, TokenEndpointError) or error.error != USE_DPOP_NONCE:
            return False
        known = self.nonces.get(token_url)
        return known is not None and known != nonce_sent


async def request_token(
    http: HttpClient,
    token_url: str,
    form: Mapping[str, str],
    credentials: Credentials,
    *,
    secrets: tuple[str, ...] = (),
    dpop: DPoPClient | None = None,
    body: Literal["form", "json"] = "form",
) -> TokenAnswer:
    """POST ``form`` with ``credentials`` to ``token_url``; the answer, judged once.

    ``secrets`` are form values besides the client's credentials (a subject
    token, an assertion), masked like them in anything said about the answer.

    ``body="json"`` sends the same fields (the client's form credentials
    included) as one JSON object, for the endpoints that take JSON (the
    JSON dialects of token exchange); the answer is read as any other.

    With ``dpop``, the request carries a fresh DPoP proof, the answer's
    ``DPoP-Nonce`` is learned (whatever the answer), and a DPoP token comes
    back bound to the key (see ``DPoPClient.bind``). Without it, nothing
    about the request or the answer changes.

    Concurrency and cancellation: one request; safe for concurrent use.
    Cancelling abandons it.

    Raises:
        TokenRequestError: the request could not be completed.
    """
    headers = {"Accept": "application/json", **credentials.headers}
    masked = (*credentials.secrets, *secrets)
    fields = {**form, **credentials.form}
    data, json = (None, fields) if body == "json" else (fields, None)
    if dpop is None:
        raw = await http.request("POST", token_url, data=data, json=json, headers=headers)
        return judge_token_response(raw, secrets=masked)
    # RFC 9449 §4.1: the proof travels in the DPoP header of every token request.
    headers["DPoP"] = dpop.proof(token_url)
    raw = await http.request(
        "POST",
        token_url,
        data=data,
        json=json,
        headers=headers,
        on_headers=dpop.listener(token_url),
    )
    return dpop.bind(judge_token_response(raw, secrets=masked))


async def send_token_request(
    client: ClientAuth,
    http: HttpClient,
    token_url: str,
    form: Mapping[str, str],
    *,
    secrets: tuple[str, ...] = (),
    dpop: DPoPClient | None = None,
    body: Literal["form", "json"] = "form",
) -> TokenAnswer:
    """The whole token exchange of a grant: ``client``'s requests, and one nonce retry.

    ``client.authenticate`` sends the request (twice, while
    ``AuthStyle.AUTO`` learns). With ``dpop``, a ``use_dpop_nonce`` answer
    naming a new nonce is retried exactly once: ``authenticate`` runs again,
    so the retry has fresh client credentials (a new assertion) and a fresh
    proof carrying the nonce. An ``invalid_dpop_proof`` answer, or any
    answer of the retry, is returned as it is: no loop, whatever the server
    says.

    ``secrets`` are masked, and ``body`` chosen, as in ``request_token``.

    Concurrency and cancellation: at most two exchanges, one after the
    other; safe for concurrent use. Cancelling abandons the one in flight.

    Raises:
        TokenRequestError: a request could not be completed.
    """
    attempt = functools.partial(
        request_token, http, token_url, form, secrets=secrets, dpop=dpop, body=body
    )
    nonce_sent = dpop.nonces.get(token_url) if dpop is not None else None
    answer = await client.authenticate(attempt, token_url)
    if dpop is not None and dpop.wants_retry(answer, token_url, nonce_sent):
        count_event("dpop_nonce_retry")
        answer = await client.authenticate(attempt, token_url)
    return answer
