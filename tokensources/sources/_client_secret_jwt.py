"""ClientSecretJWT: the client_credentials grant with a secret-MACed assertion (RFC 7523)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import httpx

from .._source import Clock
from ._assertion import assertion_settings
from ._assertion_grant import AssertionGrant
from ._dpop_key import DPoPKey
from ._secret_jwt_auth import SecretJWTAuth

__all__ = ["ClientSecretJWT"]


class ClientSecretJWT(AssertionGrant):
    """A token source for the client_credentials grant with ``client_secret_jwt`` authentication.

    The client proves its identity with a short JWT whose HMAC key is the
    client secret (RFC 7523 §2.2, OpenID Connect Core §9), so the secret
    itself never travels: ``iss`` = ``sub`` = the client id, ``aud`` = the
    token URL (by default), a fresh random ``jti`` on every request, ``iat``
    and ``nbf`` a few seconds in the past (for clock skew) and ``exp``
    ``assertion_lifetime`` seconds ahead. Okta, Keycloak, Auth0 and Duende
    IdentityServer offer this method.

    Each ``token()`` call requests a new token; wrap it in ``reuse()`` (and
    usually ``buffer()`` and ``retry()``) to cache and refresh.

    Args:
        token_url: the token endpoint. Plain ``http://`` is refused unless
            the host is loopback or ``allow_insecure_http=True``.
        client_id: the client identifier; also the assertion's ``iss`` and ``sub``.
        client_secret: the client secret, the HMAC key. RFC 7518 §3.2 wants
            at least as many bytes as the hash: 32 for HS256, 48 for HS384,
            64 for HS512. Never printed, logged or put in an error message.
        algorithm: HS256 (default), HS384 or HS512.
        assertion_audience: the assertion's ``aud``: the token URL by
            default (the widest support); ``"issuer"`` for the issuer
            identifier, which RFC 7523bis requires (known through
            ``from_issuer()`` or ``issuer=``); or any string or list of
            strings, where ``"issuer"`` also stands for the issuer.
        assertion_lifetime: seconds until the assertion's ``exp`` (default
            60; at most 3600).
        assertion_headers: extra JWS header parameters. ``alg`` is set
            through ``algorithm``.
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
        ConfigError: an argument is not acceptable, including a secret too
            short for the algorithm and ``"issuer"`` as the audience while
            the issuer is unknown. The message never contains the secret.
    """

    _client: SecretJWTAuth
    auth_method = "client_secret_jwt"

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        algorithm: str = "HS256",
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
        settings = assertion_settings(
            audience=assertion_audience,
            lifetime=assertion_lifetime,
            headers=assertion_headers,
            typ=assertion_typ,
            issuer=issuer,
        )
        client = SecretJWTAuth(client_id, client_secret, settings, algorithm=algorithm, clock=clock)
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
            f"algorithm={self.algorithm!r})"
        )

    @property
    def algorithm(self) -> str:
        """The HMAC algorithm the assertions are signed with."""
        return self._client.algorithm
