"""The client_credentials grant (RFC 6749 §4.4), with any client authentication.

``ClientCredentials`` and ``PrivateKeyJWT`` are this grant with a client
secret or a signed assertion as its ``ClientAuth``. Everything that is not
client authentication lives here: validating the endpoint and parameters,
building the form, sending it, judging the answer once, owning an HTTP
client, discovery, and the identity that keys shared caches. A new method
of client authentication is a new ``ClientAuth``; the grant does not change.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from .._closing import AsyncClosing
from .._errors import ConfigError
from .._http import HttpClient, check_endpoint_url
from .._identity import grant_identity
from .._source import Clock
from .._token import Token
from ._client_auth import ClientAuth
from ._discovery import discover
from ._token_request import request_token

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["RESERVED_PARAMS", "ClientCredentialsGrant"]

# RFC 6749 §4.4.2 / RFC 7521 §4.2: fields the source itself sets. Letting
# `params` override them would silently change how the client authenticates.
RESERVED_PARAMS = frozenset(
    {"client_id", "client_secret", "client_assertion", "client_assertion_type", "scope"}
)


class ClientCredentialsGrant(AsyncClosing):
    """A token source running the client_credentials grant (RFC 6749 §4.4) with ``client``.

    The public sources (``ClientCredentials``, ``PrivateKeyJWT``) build their
    ``ClientAuth`` from their own arguments and pass it here.

    Args:
        token_url: the token endpoint.
        client: how the client authenticates; its ``client_id`` is required.
        scopes: scopes to request (a list, or one space-separated string).
        audience: shortcut for ``params={"audience": ...}``.
        params: extra form fields; the reserved ones may not be set.
        http: an ``httpx.AsyncClient`` for token requests, never closed by us.
        clock: wall-clock time, for expiry.
        allow_insecure_http: permit ``http://`` to non-loopback hosts.

    Raises:
        ConfigError: an argument is not acceptable (the message names it).
    """

    grant_type: ClassVar[str] = "client_credentials"

    def __init__(
        self,
        token_url: str,
        client: ClientAuth,
        *,
        scopes: Iterable[str] | str = (),
        audience: str | None = None,
        params: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        allow_insecure_http: bool = False,
    ) -> None:
        self.token_url = check_endpoint_url(token_url, allow_insecure_http=allow_insecure_http)
        if not isinstance(client, ClientAuth) or client.client_id is None:
            raise ConfigError("the client_credentials grant needs a client authentication")
        self._client = client
        self.client_id: str = client.client_id
        self.scopes = _scopes(scopes)
        self.params = _params(params, audience)
        self._clock = clock
        self._http = HttpClient(http, clock=clock, ssl_context=client.ssl_context())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(token_url={self.token_url!r}, "
            f"client_id={self.client_id!r}, scopes={self.scopes!r})"
        )

    @classmethod
    async def from_issuer(
        cls,
        issuer: str,
        *args: Any,
        http: httpx.AsyncClient | None = None,
        allow_insecure_http: bool = False,
        **kwargs: Any,
    ) -> Self:
        """Build the source for ``issuer``, discovering its ``token_endpoint``.

        Reads the issuer's OpenID Connect discovery document, falling back
        to RFC 8414 authorization server metadata, and checks that the
        document names the same issuer. The remaining arguments are those of
        the constructor, after ``token_url``.

        Raises:
            ConfigError: the issuer URL is not acceptable or its metadata has
                no usable ``token_endpoint``.
            TokenSourceError: the metadata could not be fetched.
        """
        metadata = await discover(issuer, http=http, allow_insecure_http=allow_insecure_http)
        token_url = metadata.get("token_endpoint")
        if not isinstance(token_url, str):
            raise ConfigError(f"the metadata of issuer {issuer!r} has no token_endpoint")
        return cls(token_url, *args, http=http, allow_insecure_http=allow_insecure_http, **kwargs)

    def form(self) -> dict[str, str]:
        """The token request form, before client authentication is added."""
        form = {"grant_type": self.grant_type}
        form.update(self.params)
        if self.scopes:
            # RFC 6749 §3.3: space-delimited.
            form["scope"] = " ".join(self.scopes)
        return form

    async def token(self) -> Token:
        """Request a new token from the token endpoint.

        Every call makes one request (or two, while ``AuthStyle.AUTO`` is
        still learning); wrap the source in ``reuse()`` to cache.

        Concurrency and cancellation: safe to call from many tasks at once;
        each call is an independent request. Cancelling a call abandons its
        request.

        Raises:
            TokenRequestError: the request could not be completed.
            TokenEndpointError: the endpoint answered with an error.
            TokenResponseError: the answer was not a usable token.
        """
        attempt = functools.partial(request_token, self._http, self.token_url, self.form())
        answer = await self._client.authenticate(attempt, self.token_url)
        return answer.result()

    def invalidate(self, token: Token) -> None:
        """Do nothing: this source keeps no token (see ``reuse()``)."""

    @property
    def cache_identity(self) -> str:
        """A digest of everything that decides which token the endpoint issues.

        Token URL, client id, authentication method, scopes, parameters
        (audience, resource, ...) and a one-way digest of the credential.
        Two sources with equal identities would receive interchangeable
        tokens, so shared caches may give one's token to the other. The
        credential enters only through a slow digest (scrypt), so testing
        guesses of a weak secret against an identity costs tens of
        milliseconds each; a strong secret cannot be recovered from it.
        """
        return grant_identity(
            token_url=self.token_url,
            client_id=self.client_id,
            client_auth=self._client.cache_key(),
            scopes=self.scopes,
            params=self.params,
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this source created it (not one you passed)."""
        await self._http.aclose()


def _scopes(scopes: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(scopes, str):
        scopes = scopes.split()
    result: list[str] = []
    for scope in scopes:
        if not isinstance(scope, str) or not scope or any(c.isspace() for c in scope):
            raise ConfigError(f"each scope must be a non-empty string without spaces: {scope!r}")
        if scope not in result:
            result.append(scope)
    return tuple(result)


def _params(params: Mapping[str, str] | None, audience: str | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in (params or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigError("params must map strings to strings")
        if key in RESERVED_PARAMS:
            hint = "use scopes=" if key == "scope" else "it is set by the source"
            raise ConfigError(f"params may not set {key!r}: {hint}")
        result[key] = value
    if audience is not None:
        if not isinstance(audience, str) or not audience:
            raise ConfigError("audience must be a non-empty string")
        if "audience" in result and result["audience"] != audience:
            raise ConfigError("audience is given both as audience= and in params")
        result["audience"] = audience
    return result
