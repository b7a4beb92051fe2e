"""What every client_credentials source shares: configuration, the form, the exchange.

``ClientCredentials`` and ``PrivateKeyJWT`` differ only in how the client
authenticates; everything else — validating the endpoint and parameters,
building the RFC 6749 §4.4 form, sending it, parsing the answer, owning an
HTTP client, discovery, and the identity that keys shared caches — lives here.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from .._closing import AsyncClosing
from .._errors import ConfigError
from .._http import HttpClient, check_endpoint_url
from .._source import Clock
from .._token import Token
from .._wire import RawResponse, parse_token_response
from ._discovery import discover

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ClientCredentialsGrant"]

# RFC 6749 §4.4.2 / RFC 7521 §4.2: fields the source itself sets. Letting
# `params` override them would silently change how the client authenticates.
RESERVED_PARAMS = frozenset(
    {"client_id", "client_secret", "client_assertion", "client_assertion_type", "scope"}
)


class ClientCredentialsGrant(AsyncClosing):
    """Base of the sources that run the client_credentials grant (RFC 6749 §4.4).

    Subclasses supply the client authentication (``_send``); the request
    form, the parsing and the resource handling are shared.
    """

    grant_type: ClassVar[str] = "client_credentials"
    auth_method: ClassVar[str] = ""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        *,
        scopes: Iterable[str] | str = (),
        audience: str | None = None,
        params: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        allow_insecure_http: bool = False,
    ) -> None:
        self.token_url = check_endpoint_url(token_url, allow_insecure_http=allow_insecure_http)
        if not isinstance(client_id, str) or not client_id:
            raise ConfigError("client_id must be a non-empty string")
        self.client_id = client_id
        self.scopes = _scopes(scopes)
        self.params = _params(params, audience)
        self._clock = clock
        self._http = HttpClient(http, clock=clock)

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
        raw = await self._send(self.form())
        return parse_token_response(raw, secrets=self._secrets())

    async def _send(self, form: dict[str, str]) -> RawResponse:
        raise NotImplementedError

    def _secrets(self) -> tuple[str, ...]:
        """Literal secrets to scrub from any message about this source."""
        return ()

    def _credential_digest(self) -> str:
        """A one-way digest of the credential, for the cache identity."""
        raise NotImplementedError

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
        material = {
            "token_url": self.token_url,
            "client_id": self.client_id,
            "auth": self.auth_method,
            "scopes": sorted(self.scopes),
            "params": sorted(self.params.items()),
            "credential": self._credential_digest(),
        }
        encoded = json.dumps(material, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(encoded.encode()).hexdigest()

    async def aclose(self) -> None:
        """Close the HTTP client if this source created it (not one you passed)."""
        await self._http.aclose()


# scrypt (RFC 7914) at N=2**13, r=8: about 30 ms and 8 MiB per digest, so
# that testing guesses of a weak secret against a published identity (a
# Redis key name, a log line) costs that much per guess.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**13, 8, 1
_SCRYPT_SALT = b"tokensources.credential.v2"
# Memo keys are MACs under a key that never leaves this process, so the memo
# holds no secret and nothing that can be tested offline without that key.
_MEMO_KEY = os.urandom(32)


def credential_digest(*parts: str) -> str:
    """A slow, salted one-way digest of credential material (scrypt, RFC 7914).

    The parts (for example client id and secret) are length-prefixed, so
    different splits never collide. Building many sources with the same
    credential stays cheap: the last few digests are remembered, keyed by a
    MAC under a per-process random key (never by the secret itself).
    """
    material = bytearray()
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        material += len(encoded).to_bytes(4, "big") + encoded
    memo_key = hmac.new(_MEMO_KEY, bytes(material), hashlib.sha256).digest()
    return _slow_digest(memo_key, bytes(material))


@functools.lru_cache(maxsize=32)
def _slow_digest_memo(memo_key: bytes) -> list[str]:
    # A mutable cell per memo key: the material is never an lru_cache key.
    return []


def _slow_digest(memo_key: bytes, material: bytes) -> str:
    cell = _slow_digest_memo(memo_key)
    if not cell:
        digest = hashlib.scrypt(
            material, salt=_SCRYPT_SALT, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
        )
        cell.append(digest.hex())
    return cell[0]


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
