"""JWTBearer: a JWT as the authorization grant (RFC 7523 §2.1)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import ClassVar, Literal

import httpx

from .._identity import identity_digest
from .._source import Clock, TokenSource
from .._token import Token
from ._client_auth import ClientAuth
from ._dpop_key import DPoPKey
from ._grant import RESERVED_PARAMS, Grant
from ._subject import borrowed_client, check_source, read_subject, subject_identity

__all__ = ["JWTBearer"]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class JWTBearer(Grant):
    """A token source running the JWT-bearer grant (RFC 7523 §2.1).

    Each ``token()`` reads a JWT from ``assertion`` — a ``SignedAssertion``
    (Google service accounts), a ``FileToken``, a ``GitHubActionsOIDC`` —
    and sends it as the ``assertion`` of a
    ``urn:ietf:params:oauth:grant-type:jwt-bearer`` request. An assertion
    that has already expired is refused before anything is sent. The
    assertion is masked, like the client's credentials, in every error
    about the answer. Wrap the source in ``reuse()`` to cache.

    Args:
        token_url: the token endpoint.
        assertion: the token source of the JWT.
        scopes: scopes to request (a list, or one space-separated string).
        audience: the ``audience`` form field, for servers that take one.
        client: the client authentication: a client-credentials source
            lends its own, a ``ClientAuth`` is used as it is, None sends
            none (RFC 7523 §2.1: the assertion alone may authenticate).
        body: ``"form"`` (RFC 7523 §2.1), or ``"json"`` for the dialects
            that take the same parameters as one JSON object; answers are
            read alike.
        params: extra form fields; ``assertion`` and the client's may not be set.
        http: an ``httpx.AsyncClient`` for token requests, never closed by us.
        clock: wall-clock time, for expiry.
        allow_insecure_http: permit ``http://`` to non-loopback hosts.
        dpop: a ``DPoPKey`` to bind the tokens to (RFC 9449, see the DPoP
            page); every token request then carries a fresh proof.

    Raises:
        ConfigError: an argument is not acceptable (the message names it).
    """

    grant_type: ClassVar[str] = GRANT_TYPE
    reserved_params: ClassVar[frozenset[str]] = RESERVED_PARAMS | {"assertion"}

    def __init__(
        self,
        token_url: str,
        assertion: TokenSource,
        *,
        scopes: Iterable[str] | str = (),
        audience: str | None = None,
        client: Grant | ClientAuth | None = None,
        body: Literal["form", "json"] = "form",
        params: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        allow_insecure_http: bool = False,
        dpop: DPoPKey | None = None,
    ) -> None:
        self.assertion = check_source(assertion, "assertion")
        super().__init__(
            token_url,
            borrowed_client(client),
            scopes=scopes,
            audience=audience,
            params=params,
            http=http,
            clock=clock,
            allow_insecure_http=allow_insecure_http,
            dpop=dpop,
            body=body,
        )

    def __repr__(self) -> str:
        return (
            f"JWTBearer(token_url={self.token_url!r}, assertion={self.assertion!r}, "
            f"client_id={self.client_id!r}, scopes={self.scopes!r})"
        )

    async def token(self) -> Token:
        """Read the assertion and exchange it for a token.

        Concurrency and cancellation: safe to call from many tasks at once;
        each call reads the assertion and makes one request. Cancelling a
        call abandons it.

        Raises:
            TokenExpiredError: the assertion has expired (not sent).
            TokenRequestError: the request could not be completed, or the
                assertion source failed transiently (its error is the cause).
            TokenEndpointError: the endpoint refused (``invalid_grant``, ...).
            TokenResponseError: the answer was not a usable token.
        """
        assertion = await read_subject(self.assertion, "assertion", self._clock)
        form = self.form()
        form["assertion"] = assertion.access_token
        answer = await self.send(form, (assertion.access_token,))
        return answer.result()

    @property
    def cache_identity(self) -> str:
        """A digest of the grant: endpoint, client, scopes, parameters and the assertion's subject.

        The assertion enters by its ``iss`` and ``sub`` (``subject_claims()``
        of its source) or its own ``cache_identity`` — never by its value.

        Raises:
            ConfigError: the assertion source cannot say whose token it is.
        """
        return identity_digest(
            {
                "grant": super().cache_identity,
                "grant_type": self.grant_type,
                "assertion": subject_identity(self.assertion, "assertion"),
            }
        )
