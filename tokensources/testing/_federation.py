"""Federated client assertions: a client that trusts an external issuer's JWTs (workload identity).

A federated client holds no secret and no key of its own. It is registered
with a trust: "a JWT from issuer I, about subject S, signed by one of these
keys, authenticates me" — as Entra ID's federated identity credentials and
Keycloak's federated clients do for Kubernetes service-account tokens,
GitHub Actions ID tokens and SPIFFE JWT-SVIDs. The client sends that JWT as
its ``client_assertion`` (jwt-bearer type) with its ``client_id``.

Unlike a ``private_key_jwt`` assertion, a platform token is not minted per
request: the same token is sent again until its platform rotates it. So its
``jti`` is not required, nor refused when seen twice, and its lifetime is
the platform's; its ``exp`` is still checked, with the server's leeway.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from .._errors import ConfigError
from .._jose import SIGNATURE_ALGORITHMS, operation, verify_signature
from ._assertion_claims import check_audience_and_lifetime
from ._oauth_errors import invalid_client
from ._public_keys import ClientKey, load_jwks

__all__ = ["FederatedTrust", "KeysInput", "check_federated_claims", "trust"]

KeysInput = Mapping[str, Any] | Callable[[], Mapping[str, Any]]
"""A JWK Set (or one JWK) of public keys, or a callable returning the current one."""


@dataclass(frozen=True, slots=True)
class FederatedTrust:
    """What a federated client trusts: the issuer, subject, audiences and keys of its assertions.

    Attributes:
        issuer: the ``iss`` the assertion must carry.
        subject: the ``sub`` it must carry.
        audiences: the ``aud`` values accepted (one suffices), or None for the
            server's own issuer and token endpoint URLs.
        keys: the public keys that verify it: a JWK Set, or a callable
            asked at each request (so keys the issuer rotates are followed).
    """

    issuer: str
    subject: str
    audiences: tuple[str, ...] | None
    keys: KeysInput

    def current_keys(self) -> tuple[ClientKey, ...]:
        """The trusted keys as (JWK, key object) pairs, read now.

        Raises:
            OAuthError: ``invalid_client`` when the keys cannot be loaded.
        """
        jwks = self.keys() if callable(self.keys) else self.keys
        try:
            return load_jwks(jwks)
        except ConfigError:
            problem = "the federated issuer's keys cannot be loaded"
        raise invalid_client(problem)

    def verified_claims(self, assertion: str) -> dict[str, Any]:
        """The claims of ``assertion`` once a trusted key verifies its signature.

        Raises:
            OAuthError: ``invalid_client`` for a malformed JWT, an algorithm
                outside the table, or no trusted key that verifies it.
        """
        header: dict[str, Any] | None = None
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            header = None  # refused below, with no __context__ holding the assertion
        if header is None:
            raise invalid_client("the client assertion is not a valid JWT")
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in SIGNATURE_ALGORITHMS:
            raise invalid_client(f"assertion algorithm {str(alg)[:16]!r} is not accepted")
        for raw, key in self.current_keys():
            crv = raw.get("crv")
            if kid is not None and raw.get("kid") not in (None, kid):
                continue
            if operation(raw.get("alg", alg), crv) != operation(alg, crv):
                continue
            try:
                payload = verify_signature(assertion, key, alg)
            except (jwt.PyJWTError, TypeError, ValueError):
                continue
            claims: dict[str, Any] = json.loads(payload)
            return claims
        raise invalid_client("the assertion's signature does not match a key of its issuer")


def trust(
    *,
    issuer: object,
    subject: object,
    keys: object,
    audiences: str | Iterable[str] | None,
) -> FederatedTrust:
    """A ``FederatedTrust`` from registration arguments, checked.

    Raises:
        ConfigError: an empty issuer or subject, no keys, or keys that cannot be loaded.
    """
    if not isinstance(issuer, str) or not issuer:
        raise ConfigError("issuer must be a non-empty string (the external issuer's iss)")
    if not isinstance(subject, str) or not subject:
        raise ConfigError("subject must be a non-empty string (the assertion's sub)")
    if callable(keys):
        checked: KeysInput = keys
    elif isinstance(keys, Mapping):
        load_jwks(keys)  # refused now rather than at the first request
        checked = dict(keys)
    else:
        raise ConfigError("keys must be a JWK Set, a JWK, or a callable returning a JWK Set")
    listed = (audiences,) if isinstance(audiences, str) else audiences
    if listed is not None:
        listed = tuple(listed)
        if not listed or not all(isinstance(a, str) and a for a in listed):
            raise ConfigError("assertion_audience must be a non-empty string or list of strings")
    return FederatedTrust(issuer, subject, listed, checked)


def check_federated_claims(
    federation: FederatedTrust, claims: Mapping[str, Any], *, own: Collection[str], now: float
) -> None:
    """Check a verified federated assertion's ``iss``, ``sub``, ``aud``, ``exp`` and ``nbf``.

    ``own`` are the server's issuer and token endpoint URLs, the audiences
    accepted when the trust names none.

    Raises:
        OAuthError: ``invalid_client`` naming the failed check.
    """
    if claims.get("iss") != federation.issuer:
        raise invalid_client("the assertion's iss is not the issuer this client trusts")
    if claims.get("sub") != federation.subject:
        raise invalid_client("the assertion's sub is not the subject this client trusts")
    accepted = federation.audiences if federation.audiences is not None else tuple(own)
    check_audience_and_lifetime(
        claims,
        accepted,
        now,
        aud_refusal="the assertion's aud is not an audience this client accepts",
    )
