"""What every grant source shares (``Grant``), and the client_credentials grant (RFC 6749 §4.4).

A grant source is a grant type plus a client authentication (``ClientAuth``).
``ClientCredentials`` and ``PrivateKeyJWT`` are the client_credentials grant
with a client secret or a signed assertion; ``TokenExchange`` (RFC 8693) and
``JWTBearer`` (RFC 7523 §2.1) are other grant types on the same base, with
any client authentication or none. Everything that is not client
authentication lives in ``Grant``: validating the endpoint and parameters,
building the form, sending it, judging the answer once, owning an HTTP
client, discovery, and the identity that keys shared caches. A new method
of client authentication is a new ``ClientAuth``; a new grant type adds
its own form fields and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import httpx

from .._closing import AsyncClosing
from .._errors import ConfigError
from .._http import HttpClient, check_endpoint_url
from .._identity import grant_identity
from .._source import Clock
from .._token import Token
from .._wire import TokenAnswer
from ._client_auth import ClientAuth
from ._discovery import discover
from ._dpop_key import DPoPKey
from ._public_client import PublicClient
from ._token_request import DPoPClient, send_token_request

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["RESERVED_PARAMS", "ClientCredentialsGrant", "Grant"]

# RFC 6749 §4.4.2 / RFC 7521 §4.2: fields the source itself sets. Letting
# `params` override them would silently change how the client authenticates.
RESERVED_PARAMS = frozenset(
    {"client_id", "client_secret", "client_assertion", "client_assertion_type", "scope"}
)


class Grant(AsyncClosing):
    """A token source running one grant type at a token endpoint, authenticated by ``client``.

    Subclasses name their ``grant_type``, the form fields only they may set
    (``reserved_params``) and, when the form needs I/O (a subject token to
    read), their own ``token()`` around ``send()``.

    Args:
        token_url: the token endpoint.
        client: how the client authenticates; None for no authentication.
        scopes: scopes to request (a list, or one space-separated string).
        audience: shortcut for ``params={"audience": ...}``.
        params: extra form fields; the reserved ones may not be set.
        http: an ``httpx.AsyncClient`` for token requests, never closed by us.
        clock: wall-clock time, for expiry.
        allow_insecure_http: permit ``http://`` to non-loopback hosts.
        dpop: a ``DPoPKey`` to bind the tokens to (RFC 9449): every token
            request carries a fresh proof signed with it, from the first one.
        body: ``"form"`` (RFC 6749 §3.2) or ``"json"``: the same fields as
            one JSON object, for endpoints that take only that.

    Raises:
        ConfigError: an argument is not acceptable (the message names it).
    """

    grant_type: ClassVar[str] = ""
    reserved_params: ClassVar[frozenset[str]] = RESERVED_PARAMS

    def __init__(
        self,
        token_url: str,
        client: ClientAuth | None,
        *,
        scopes: Iterable[str] | str = (),
        audience: str | None = None,
        params: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        allow_insecure_http: bool = False,
        dpop: DPoPKey | None = None,
        body: Literal["form", "json"] = "form",
    ) -> None:
        self.token_url = check_endpoint_url(token_url, allow_insecure_http=allow_insecure_http)
        if body not in ("form", "json"):
            raise ConfigError(f"body must be 'form' or 'json', got {body!r}")
        self.body: Literal["form", "json"] = body
        # DPoPClient refuses anything but a DPoPKey, naming the argument.
        self._dpop = None if dpop is None else DPoPClient(dpop)
        client = self._checked_client(client)
        self._client = client
        self.client_id: str | None = client.client_id
        self.scopes = _scopes(scopes)
        self.params = _params(params, audience, self.reserved_params)
        self._clock = clock
        # Asked before each request, so a renewed client certificate is used.
        self._http = HttpClient(http, clock=clock, ssl_context=client.ssl_context)

    @classmethod
    def _checked_client(cls, client: ClientAuth | None) -> ClientAuth:
        """``client``, or no authentication for None.

        Raises:
            ConfigError: ``client`` is not a ``ClientAuth``.
        """
        if client is None:
            return PublicClient()
        if not isinstance(client, ClientAuth):
            raise ConfigError(f"the {cls.grant_type} grant needs a client authentication")
        return client

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(token_url={self.token_url!r}, "
            f"client_id={self.client_id!r}, scopes={self.scopes!r})"
        )

    @property
    def client_auth(self) -> ClientAuth:
        """How this source authenticates, for another grant to borrow (``client=``)."""
        return self._client

    @property
    def dpop_key(self) -> DPoPKey | None:
        """The DPoP key this source's tokens are bound to, or None for bearer tokens."""
        return None if self._dpop is None else self._dpop.key

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
        token_url = cls._settings_from_metadata(metadata, kwargs)
        if not isinstance(token_url, str):
            raise ConfigError(f"the metadata of issuer {issuer!r} has no token_endpoint")
        return cls(token_url, *args, http=http, allow_insecure_http=allow_insecure_http, **kwargs)

    @classmethod
    async def from_resource(
        cls,
        resource: str,
        *args: Any,
        authorization_server: str | None = None,
        metadata_url: str | None = None,
        send_resource: bool = True,
        http: httpx.AsyncClient | None = None,
        allow_insecure_http: bool = False,
        **kwargs: Any,
    ) -> Self:
        """Build the source for the protected resource ``resource``, discovering its issuer.

        Reads the resource's RFC 9728 metadata — from ``metadata_url`` (the
        ``resource_metadata`` a 401 named) or else its well-known URL — which
        must name this very resource; takes the authorization server it
        lists (``authorization_server=`` picks one when it lists several);
        then builds the source as ``from_issuer()`` does. The remaining
        arguments are those of the constructor, after ``token_url``.

        Token requests name the resource as ``resource=<resource>`` (RFC 8707
        §2), not as ``audience``: the resource identifier of RFC 9728 is the
        resource indicator of RFC 8707, and MCP clients must send it. An
        ``audience`` is a provider's own name for an API (Auth0's API
        identifier, say), which the metadata does not give: pass
        ``audience=`` yourself where the provider wants one. For servers that
        refuse the ``resource`` field (Entra ID's v2.0 endpoint), pass
        ``send_resource=False``.

        Raises:
            ConfigError: a URL is not acceptable; the metadata lists no
                authorization server, several and none was chosen, or not the
                one chosen; ``resource`` is also given with another value; or
                the issuer's metadata has no usable ``token_endpoint``.
            TokenResponseError: the resource's metadata names another resource.
            TokenSourceError: a metadata document could not be fetched.
        """
        # Imported here: tokensources.verify imports the sources when it loads.
        from ..verify._metadata_client import authorization_server_of

        issuer = await authorization_server_of(
            resource,
            authorization_server=authorization_server,
            metadata_url=metadata_url,
            http=http,
            allow_insecure_http=allow_insecure_http,
        )
        if send_resource:
            # A grant that sets ``resource`` itself (token exchange) takes it as an argument.
            if "resource" in cls.reserved_params:
                given = kwargs.setdefault("resource", resource)
            else:
                kwargs["params"] = dict(kwargs.get("params") or {})
                given = kwargs["params"].setdefault("resource", resource)
            if given != resource:
                raise ConfigError(f"resource is {resource!r}, but {given!r} was given too")
        return await cls.from_issuer(
            issuer, *args, http=http, allow_insecure_http=allow_insecure_http, **kwargs
        )

    @classmethod
    def _settings_from_metadata(cls, metadata: Mapping[str, Any], kwargs: dict[str, Any]) -> Any:
        """The token URL ``from_issuer()`` uses from ``metadata`` (None if it has none).

        A client authentication that needs more of the metadata (the issuer
        as an assertion audience, mutual-TLS endpoint aliases) overrides this
        and may set constructor arguments in ``kwargs`` the caller left out.
        """
        return metadata.get("token_endpoint")

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
        answer = await self.send(self.form())
        return answer.result()

    async def send(self, form: Mapping[str, str], secrets: tuple[str, ...] = ()) -> TokenAnswer:
        """Send ``form``, authenticated by the client; the answer, judged once.

        ``secrets`` are form values besides the client's credentials (a
        subject token, an assertion) masked in anything said about the answer.

        With a DPoP key, every request carries a fresh proof and a
        ``use_dpop_nonce`` answer naming a new nonce is sent once more (see
        ``send_token_request``).

        Concurrency and cancellation: as ``token()``.

        Raises:
            TokenRequestError: the request could not be completed.
        """
        return await send_token_request(
            self._client,
            self._http,
            self.token_url,
            form,
            secrets=secrets,
            dpop=self._dpop,
            body=self.body,
        )

    def invalidate(self, token: Token) -> None:
        """Do nothing: this source keeps no token (see ``reuse()``)."""

    @property
    def cache_identity(self) -> str:
        """A digest of everything that decides which token the endpoint issues.

        Token URL, client id, authentication method, scopes, parameters
        (audience, resource, ...), a one-way digest of the credential and,
        with DPoP, the key's thumbprint (a token bound to one key is useless
        with another; the private key itself never enters).
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
            dpop_jkt=None if self._dpop is None else self._dpop.key.thumbprint,
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this source created it (not one you passed)."""
        await self._http.aclose()


class ClientCredentialsGrant(Grant):
    """A token source running the client_credentials grant (RFC 6749 §4.4) with ``client``.

    The public sources (``ClientCredentials``, ``PrivateKeyJWT``) build their
    ``ClientAuth`` from their own arguments and pass it here. The arguments
    are those of ``Grant``; ``client`` and its ``client_id`` are required.
    """

    grant_type: ClassVar[str] = "client_credentials"
    client_id: str

    @classmethod
    def _checked_client(cls, client: ClientAuth | None) -> ClientAuth:
        if not isinstance(client, ClientAuth) or client.client_id is None:
            raise ConfigError("the client_credentials grant needs a client authentication")
        return client


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


def _params(
    params: Mapping[str, str] | None, audience: str | None, reserved: frozenset[str]
) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in (params or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigError("params must map strings to strings")
        if key in reserved:
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
