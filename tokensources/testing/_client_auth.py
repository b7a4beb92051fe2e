"""Client registration and client authentication at the token endpoint.

``client_secret_basic`` and ``client_secret_post`` (RFC 6749 §2.3.1) and
``private_key_jwt`` (RFC 7523 §2.2, OpenID Connect Core §9).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import jwt

from .._errors import ConfigError
from .._source import Clock
from ..sources._private_key_jwt import CLIENT_ASSERTION_TYPE, MAX_ASSERTION_LIFETIME

__all__ = [
    "ASSERTION_ALGORITHMS",
    "ClientAuthenticator",
    "OAuthError",
    "RegisteredClient",
    "claimed_client_id",
    "load_jwks",
]

# Asymmetric algorithms only: a symmetric "HS256" assertion checked against a
# public key is the classic algorithm-confusion attack.
ASSERTION_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
# Seconds of clock difference forgiven in exp and nbf. An assertion's exp may
# be at most MAX_ASSERTION_LIFETIME (one hour, PrivateKeyJWT's own limit and
# Okta's) ahead, so every assertion the library can send is accepted here.
LEEWAY = 5.0
_PURGE_EVERY = 1024


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer: ``error`` code, description and HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def _invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, 401)


@dataclass(slots=True)
class RegisteredClient:
    """A client the server knows: its credentials and what it may ask for."""

    client_id: str
    secret: str | None
    keys: tuple[tuple[dict[str, Any], jwt.PyJWK], ...]
    scopes: tuple[str, ...]
    audiences: tuple[str, ...] | None
    token_lifetime: float | None


def load_jwks(jwks: Mapping[str, Any]) -> tuple[tuple[dict[str, Any], jwt.PyJWK], ...]:
    """Parse a JWK Set (or one JWK) of public keys into (raw JWK, PyJWK) pairs.

    Raises:
        ConfigError: the set is malformed, holds a private or symmetric key, or
            a key that cannot be loaded.
    """
    raw_keys = jwks.get("keys") if "keys" in jwks else [jwks]
    if not isinstance(raw_keys, list) or not raw_keys:
        raise ConfigError("jwks must be a JWK Set with a non-empty 'keys' list")
    loaded = []
    for raw in raw_keys:
        if not isinstance(raw, Mapping) or raw.get("kty") not in ("RSA", "EC", "OKP"):
            raise ConfigError("jwks keys must be RSA, EC or OKP public keys")
        if "d" in raw:
            raise ConfigError("jwks must hold public keys only, not private keys")
        try:
            loaded.append((dict(raw), jwt.PyJWK(dict(raw))))
        except jwt.PyJWTError as exc:
            raise ConfigError(f"jwks key {raw.get('kid')!r} cannot be loaded: {exc}") from None
    return tuple(loaded)


def _basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The (client_id, secret) of a Basic Authorization header, or None without one.

    Raises:
        OAuthError: the header says Basic but cannot be decoded.
    """
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    decoded: str | None = None
    # Refused after the block, not in a handler: a UnicodeDecodeError holds the secret.
    with contextlib.suppress(binascii.Error, UnicodeDecodeError):
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    if decoded is None:
        raise _invalid_client("the Basic credentials are not valid base64 UTF-8")
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise _invalid_client("the Basic credentials have no ':'")
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


def claimed_client_id(headers: Mapping[str, str], form: Mapping[str, str]) -> str | None:
    """The client id a request claims to be, before any check (for counting)."""
    try:
        basic = _basic_credentials(headers)
    except OAuthError:
        basic = None
    if basic is not None:
        return basic[0]
    if "client_id" in form:
        return form["client_id"]
    assertion = form.get("client_assertion")
    if assertion:
        try:
            iss = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            return None
        return iss if isinstance(iss, str) else None
    return None


class ClientAuthenticator:
    """Authenticates token requests against the registered clients.

    Remembers the ``jti`` of every accepted assertion until it expires, so
    an assertion cannot be replayed (RFC 7523 §3 item 7).
    """

    def __init__(self, clients: Mapping[str, RegisteredClient], clock: Clock) -> None:
        self._clients = clients
        self._clock = clock
        self._seen_jti: dict[tuple[str, str], float] = {}

    def authenticate(
        self, headers: Mapping[str, str], form: Mapping[str, str], audiences: Collection[str]
    ) -> RegisteredClient:
        """The authenticated client of a token request.

        ``audiences`` are the values an assertion's ``aud`` may name (the
        token endpoint URL and the issuer).

        Raises:
            OAuthError: ``invalid_request`` when more than one method is used,
                ``invalid_client`` when authentication fails.
        """
        basic = _basic_credentials(headers)
        methods = [
            name
            for name, used in (
                ("client_secret_basic", basic is not None),
                ("client_secret_post", "client_secret" in form),
                ("private_key_jwt", "client_assertion" in form or "client_assertion_type" in form),
            )
            if used
        ]
        if len(methods) > 1:
            raise OAuthError("invalid_request", "use exactly one client authentication method")
        if not methods:
            raise _invalid_client("no client authentication was included")
        if basic is not None:
            client_id, secret = basic
            if form.get("client_id", client_id) != client_id:
                raise _invalid_client("client_id in the form differs from the Basic credentials")
            return self._check_secret(client_id, secret)
        if methods[0] == "client_secret_post":
            return self._check_secret(form.get("client_id", ""), form["client_secret"])
        return self._check_assertion(form, audiences)

    def _check_secret(self, client_id: str, secret: str) -> RegisteredClient:
        client = self._clients.get(client_id)
        expected = client.secret if client is not None else None
        # Compare even for unknown clients so timing does not reveal which ids exist.
        ok = hmac.compare_digest((expected or "\0").encode(), secret.encode())
        if client is None or expected is None or not ok:
            raise _invalid_client("client authentication failed")
        return client

    def _check_assertion(
        self, form: Mapping[str, str], audiences: Collection[str]
    ) -> RegisteredClient:
        assertion = form.get("client_assertion")
        if not assertion or form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise OAuthError(
                "invalid_request",
                "private_key_jwt needs client_assertion and client_assertion_type "
                f"{CLIENT_ASSERTION_TYPE}",
            )
        client, claims = self._verified_claims(assertion)
        if form.get("client_id", client.client_id) != client.client_id:
            raise _invalid_client("client_id differs from the assertion's issuer")
        self._check_claims(client.client_id, claims, audiences)
        return client

    def _verified_claims(self, assertion: str) -> tuple[RegisteredClient, dict[str, Any]]:
        header: dict[str, Any] | None = None
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            header = None  # refused below, leaving no __context__ near the assertion
        if header is None:
            raise _invalid_client("the client assertion is not a valid JWT")
        iss = unverified.get("iss")
        client = self._clients.get(iss) if isinstance(iss, str) else None
        if client is None or not client.keys:
            raise _invalid_client("the assertion's issuer is not a private_key_jwt client")
        alg = header.get("alg")
        if alg not in ASSERTION_ALGORITHMS:
            raise _invalid_client(f"assertion algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        for raw, key in client.keys:
            if (kid is not None and raw.get("kid") != kid) or raw.get("alg", alg) != alg:
                continue
            try:
                payload = jwt.api_jws.decode(assertion, key.key, algorithms=[alg])
            except (jwt.PyJWTError, TypeError, ValueError):
                # TypeError/ValueError: a key of another family (an EC key for
                # an RS256 assertion) — simply not this client's signing key.
                continue
            claims: dict[str, Any] = json.loads(payload)
            return client, claims
        raise _invalid_client("the assertion's signature does not match a registered key")

    def _check_claims(
        self, client_id: str, claims: Mapping[str, Any], audiences: Collection[str]
    ) -> None:
        # RFC 7523 §3: iss and sub are the client id, aud names this server.
        now = self._clock()
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise _invalid_client("the assertion's iss and sub must both be the client id")
        aud = claims.get("aud")
        aud_values = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(value, str) and value in audiences for value in aud_values):
            raise _invalid_client("the assertion's aud is not this token endpoint or issuer")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise _invalid_client("the assertion has no numeric exp")
        if exp <= now - LEEWAY:
            raise _invalid_client("the assertion has expired")
        if exp > now + MAX_ASSERTION_LIFETIME + LEEWAY:
            raise _invalid_client("the assertion's exp is too far in the future")
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and nbf > now + LEEWAY:
            raise _invalid_client("the assertion is not valid yet (nbf)")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _invalid_client("the assertion has no jti")
        self._remember_jti(client_id, jti, float(exp), now)

    def _remember_jti(self, client_id: str, jti: str, exp: float, now: float) -> None:
        key = (client_id, jti)
        seen_until = self._seen_jti.get(key)
        if seen_until is not None and seen_until + LEEWAY > now:
            raise _invalid_client("the assertion's jti was already used")
        self._seen_jti[key] = exp
        if len(self._seen_jti) % _PURGE_EVERY == 0:
            horizon = now - LEEWAY
            self._seen_jti = {k: v for k, v in self._seen_jti.items() if v > horizon}
