"""PrivateKeyJWT: the client_credentials grant with a signed client assertion (RFC 7523)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import httpx

from .._source import Clock
from ._assertion import CLIENT_ASSERTION_TYPE, MAX_ASSERTION_LIFETIME, assertion_settings
from ._assertion_grant import AssertionGrant
from ._dpop_key import DPoPKey
from ._private_key_auth import PrivateKeyJWTAuth
from ._signing_keys import KeyInput, load_signing_key

__all__ = ["CLIENT_ASSERTION_TYPE", "MAX_ASSERTION_LIFETIME", "PrivateKeyJWT"]


class PrivateKeyJWT(AssertionGrant):
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
        assertion_audience: the assertion's ``aud``: the token URL by
            default (the widest support); ``"issuer"`` for the issuer
            identifier, which RFC 7523bis requires (known through
            ``from_issuer()`` or ``issuer=``); or any string or list of
            strings, where ``"issuer"`` also stands for the issuer.
        assertion_lifetime: seconds until the assertion's ``exp`` (default
            60; at most 3600).
        assertion_headers: extra JWS header parameters, such as the
            ``x5t#S256`` certificate thumbprint Entra ID asks for. ``alg``
            and ``kid`` are set through ``algorithm`` and ``key_id``.
        assertion_typ: the ``typ`` header, e.g. ``"client-authentication+jwt"``
            (the explicit type of RFC 7523bis §5); by default ``"JWT"``.
        issuer: the authorization server's issuer identifier, for
            ``assertion_audience="issuer"``; ``from_issuer()`` sets it.
        scopes: scopes to request (a list, or one space-separated string).
        audience: the *token's* audience, sent as the ``audience`` form field
            (Auth0 and others) — not the assertion's ``aud``.
        params: extra form fields (``resource``, ...). ``client_id``, the
            assertion fields and ``scope`` may not be set here.
        http: an ``httpx.AsyncClient`` for token requests. It is not closed
            by ``aclose()``; a client the source creates itself is.
        clock: wall-clock time, for the assertion's timestamps and for expiry.
        allow_insecure_http: permit ``http://`` to non-loopback hosts.
        dpop: a ``DPoPKey`` to bind the tokens to (RFC 9449, see the DPoP
            page); every token request then carries a fresh proof.

    Raises:
        ConfigError: an argument is not acceptable, including a key that
            cannot sign with the algorithm (an RSA key for ES256, a public
            key, a damaged PEM, a wrong password). The message names the
            problem and never contains key material; ``"issuer"`` as the
            audience while the issuer is unknown.
    """

    _client: PrivateKeyJWTAuth

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
        assertion_typ: str | None = None,
        issuer: str | None = None,
        scopes: Iterable[str] | str = (),
        audience: str | None = None,
        params: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        allow_insecure_http: bool = False,
        dpop: DPoPKey | None = None,
    ) -> None:
        key = load_signing_key(
            private_key, algorithm=algorithm, key_id=key_id, password=key_password
        )
        settings = assertion_settings(
            audience=assertion_audience,
            lifetime=assertion_lifetime,
            headers=assertion_headers,
            typ=assertion_typ,
            issuer=issuer,
        )
        client = PrivateKeyJWTAuth(client_id, key, settings, clock=clock)
        super().__init__(
            token_url,
            client,
            scopes=scopes,
            audience=audience,
            params=params,
            http=http,
            clock=clock,
            allow_insecure_http=allow_insecure_http,
            dpop=dpop,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(token_url={self.token_url!r}, "
            f"client_id={self.client_id!r}, scopes={self.scopes!r}, "
            f"algorithm={self.algorithm!r}, key_id={self.key_id!r})"
        )

    @property
    def algorithm(self) -> str:
        """The JWS algorithm the assertions are signed with."""
        return self._client.key.algorithm

    @property
    def key_id(self) -> str | None:
        """The ``kid`` in the assertion header, or None when none is sent."""
        return self._client.key.key_id

    def public_jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set holding this source's public key, for registration.

        Register it with the identity provider (pasted, uploaded, or served
        at a ``jwks_uri``). The key carries ``alg``, ``use: "sig"`` and a
        ``kid``: ``key_id`` when there is one, otherwise the key's RFC 7638
        thumbprint. It holds only the public key.
        """
        return {"keys": [self._client.key.jwk()]}
