"""PrivateKeyJWT: the client_credentials grant with a signed client assertion (RFC 7523)."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from .._errors import ConfigError
from .._source import Clock
from .._wire import RawResponse
from ._grant import ClientCredentialsGrant, credential_digest
from ._keys import KeyInput, load_signing_key

__all__ = ["CLIENT_ASSERTION_TYPE", "PrivateKeyJWT"]

# RFC 7523 §2.2: the client_assertion_type of a JWT client assertion.
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Seconds by which iat (and nbf) are set in the past, so that a server whose
# clock is slightly behind ours does not see an assertion "issued in the future".
IAT_BACKDATE = 5
# Providers cap assertion lifetimes (Okta: one hour); a longer-lived assertion
# is a longer-lived credential if it leaks.
MAX_ASSERTION_LIFETIME = 3600.0


class PrivateKeyJWT(ClientCredentialsGrant):
    """A token source for the client_credentials grant with ``private_key_jwt`` authentication.

    Instead of a shared secret the client proves its identity with a short
    JWT signed by its private key (RFC 7523 §2.2, OpenID Connect Core §9):
    ``iss`` = ``sub`` = the client id, ``aud`` = the token URL (by default),
    a fresh random ``jti`` on every request, ``iat`` and ``nbf`` a few seconds
    in the past (for clock skew) and ``exp`` ``assertion_lifetime`` seconds
    ahead. The identity provider verifies it with the public key you
    registered; ``public_jwks()`` gives that key as a JWK Set.

    Each ``token()`` call requests a new token; wrap it in ``reuse()`` (and
    usually ``buffer()`` and ``retry()``) to cache and refresh.

    Args:
        token_url: the token endpoint. Plain ``http://`` is refused unless
            the host is loopback or ``allow_insecure_http=True``.
        client_id: the client identifier; also the assertion's ``iss`` and ``sub``.
        private_key: PEM (bytes or str, PKCS#8 or traditional, optionally
            encrypted), a ``cryptography`` private key object, or a private
            JWK (a dict, or its JSON text).
        algorithm: RS256, RS384, RS512, PS256, ES256, ES384 or EdDSA. By
            default a JWK's own ``alg``, else what the key implies: RS256 for
            RSA, ES256 or ES384 by curve, EdDSA for Ed25519.
        key_id: the ``kid`` for the assertion header; by default a JWK's own
            ``kid``, else none.
        key_password: the password of an encrypted PEM key.
        assertion_audience: the assertion's ``aud``: a string or a list of
            strings. Default: the token URL, which most providers expect;
            some want the issuer instead.
        assertion_lifetime: seconds until the assertion's ``exp`` (default
            60; at most 3600).
        assertion_headers: extra JWS header parameters, such as the
            ``x5t#S256`` certificate thumbprint Entra ID asks for. ``alg``
            and ``kid`` are set through ``algorithm`` and ``key_id``.
        scopes: scopes to request (a list, or one space-separated string).
        audience: the *token's* audience, sent as the ``audience`` form field
            (Auth0 and others) — not the assertion's ``aud``.
        params: extra form fields (``resource``, ...). ``client_id``, the
            assertion fields and ``scope`` may not be set here.
        http: an ``httpx.AsyncClient`` for token requests. It is not closed
            by ``aclose()``; a client the source creates itself is.
        clock: wall-clock time, for the assertion's timestamps and for expiry.
        allow_insecure_http: permit ``http://`` to non-loopback hosts.

    Raises:
        ConfigError: an argument is not acceptable, including a key that
            cannot sign with the algorithm (an RSA key for ES256, a public
            key, a damaged PEM, a wrong password). The message names the
            problem and never contains key material.
    """

    auth_method = "private_key_jwt"

    def __init__(
        self,
        token_url: str,
        client_id: str,
        private_key: KeyInput,
        *,
        algorithm: str | None = None,
        key_id: str | None = None,
        key_password: bytes | str | None = None,
        assertion_audience: str | Sequence[str] | None = None,
        assertion_lifetime: float = 60.0,
        assertion_headers: Mapping[str, str] | None = None,
        scopes: Iterable[str] | str = (),
        audience: str | None = None,
        params: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        allow_insecure_http: bool = False,
    ) -> None:
        super().__init__(
            token_url,
            client_id,
            scopes=scopes,
            audience=audience,
            params=params,
            http=http,
            clock=clock,
            allow_insecure_http=allow_insecure_http,
        )
        self._key = load_signing_key(
            private_key, algorithm=algorithm, key_id=key_id, password=key_password
        )
        self.assertion_audience = _assertion_audience(assertion_audience, self.token_url)
        self.assertion_lifetime = _assertion_lifetime(assertion_lifetime)
        self.assertion_headers = _assertion_headers(assertion_headers)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(token_url={self.token_url!r}, "
            f"client_id={self.client_id!r}, scopes={self.scopes!r}, "
            f"algorithm={self.algorithm!r}, key_id={self.key_id!r})"
        )

    @property
    def algorithm(self) -> str:
        """The JWS algorithm the assertions are signed with."""
        return self._key.algorithm

    @property
    def key_id(self) -> str | None:
        """The ``kid`` in the assertion header, or None when none is sent."""
        return self._key.key_id

    def public_jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set holding this source's public key, for registration.

        Register it with the identity provider (pasted, uploaded, or served
        at a ``jwks_uri``). The key carries ``alg``, ``use: "sig"`` and a
        ``kid``: ``key_id`` when there is one, otherwise the key's RFC 7638
        thumbprint. It holds only the public key.
        """
        return {"keys": [self._key.jwk()]}

    def assertion_claims(self) -> dict[str, Any]:
        """The claims of a new client assertion, with a fresh ``jti`` (RFC 7523 §3).

        NumericDates are whole seconds: ``iat`` and ``nbf`` a few seconds
        before now, ``exp`` ``assertion_lifetime`` seconds after now.
        """
        now = self._clock()
        issued = math.floor(now) - IAT_BACKDATE
        return {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.assertion_audience,
            # RFC 7523 §3 item 7: a unique identifier, so the server can refuse replays.
            "jti": secrets.token_urlsafe(24),
            "iat": issued,
            "nbf": issued,
            "exp": math.ceil(now + self.assertion_lifetime),
        }

    async def _send(self, form: dict[str, str]) -> RawResponse:
        form = dict(form)
        # RFC 7521 §4.2: client_id is optional with an assertion, but some
        # providers (Entra ID) require it, and it must match the assertion.
        form["client_id"] = self.client_id
        form["client_assertion_type"] = CLIENT_ASSERTION_TYPE
        # The assertion is a JWT, which redaction masks wherever it appears.
        form["client_assertion"] = self._key.sign(self.assertion_claims(), self.assertion_headers)
        headers = {"Accept": "application/json"}
        return await self._http.request("POST", self.token_url, data=form, headers=headers)

    def _credential_digest(self) -> str:
        # Only the public half: it identifies the credential as well as the
        # private key does, and nothing derived from the private key is kept.
        key = self._key
        return credential_digest("private_key_jwt", key.thumbprint, key.algorithm, key.key_id or "")


def _assertion_audience(value: str | Sequence[str] | None, token_url: str) -> str | list[str]:
    if value is None:
        return token_url
    if isinstance(value, str):
        if not value:
            raise ConfigError("assertion_audience must be a non-empty string or list of strings")
        return value
    audiences = list(value) if isinstance(value, Sequence) else None
    if not audiences or not all(isinstance(a, str) and a for a in audiences):
        raise ConfigError("assertion_audience must be a non-empty string or list of strings")
    return audiences


def _assertion_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise ConfigError("assertion_headers must map non-empty strings to strings")
        if name in ("alg", "kid"):
            hint = "algorithm=" if name == "alg" else "key_id="
            raise ConfigError(f"assertion_headers may not set {name!r}: use {hint}")
        result[name] = value
    return result


def _assertion_lifetime(value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 1 <= value <= MAX_ASSERTION_LIFETIME
    ):
        raise ConfigError(
            f"assertion_lifetime must be between 1 and {MAX_ASSERTION_LIFETIME:.0f} seconds"
        )
    return float(value)
