"""``private_key_jwt``: a client assertion signed by a registered key (RFC 7523 §2.2).

The assertion's claims are checked as RFC 7523 §3 says (``check_assertion_claims``,
shared by any method that authenticates with a signed JWT); how the
signature is verified is the method's own business. A client registered as
federated (``_federation``) authenticates the same way, with a JWT its
trusted external issuer signed instead of one of its own.

``private_key_jwt`` and ``client_secret_jwt`` both send a
``client_assertion``; the assertion's ``alg`` tells them apart (``HS*`` is
``client_secret_jwt``), so each request is claimed by exactly one method.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import jwt

from .._jose import SIGNATURE_ALGORITHMS, operation, verify_signature
from .._source import Clock
from ..sources._private_key_jwt import CLIENT_ASSERTION_TYPE, MAX_ASSERTION_LIFETIME
from ._assertion_claims import check_audience_and_lifetime
from ._clients import ClientRegistry, RegisteredClient
from ._federation import FederatedTrust, check_federated_claims
from ._oauth_errors import OAuthError, invalid_client
from ._replay import ReplayCache
from ._strict import check_assertion
from ._token_request import TokenRequest

__all__ = [
    "ASSERTION_ALGORITHMS",
    "AssertionMethod",
    "PrivateKeyJWT",
    "assertion_alg",
    "check_assertion_claims",
    "uses_assertion",
]

# The library's one algorithm table: asymmetric algorithms only, since a
# symmetric "HS256" assertion checked against a public key is the classic
# algorithm-confusion attack.
ASSERTION_ALGORITHMS = SIGNATURE_ALGORITHMS
# An assertion's exp may be at most MAX_ASSERTION_LIFETIME (one hour,
# PrivateKeyJWT's own limit and Okta's) ahead, so every assertion the library
# can send is accepted here.


def check_assertion_claims(
    client_id: str,
    claims: Mapping[str, Any],
    *,
    audiences: Collection[str],
    now: float,
    replays: ReplayCache,
) -> None:
    """Check a verified client assertion's claims for ``client_id`` (RFC 7523 §3).

    ``iss`` and ``sub`` are the client id, ``aud`` names one of ``audiences``,
    ``exp`` is ahead (by at most an hour), ``nbf`` (if any) has passed, and
    the ``jti`` was not accepted before while it was valid.

    Raises:
        OAuthError: ``invalid_client`` naming the failed check.
    """
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise invalid_client("the assertion's iss and sub must both be the client id")
    exp = check_audience_and_lifetime(
        claims,
        audiences,
        now,
        aud_refusal="the assertion's aud is not this token endpoint or issuer",
        max_lifetime=MAX_ASSERTION_LIFETIME,
    )
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise invalid_client("the assertion has no jti")
    if not replays.first_use((client_id, jti), exp):
        raise invalid_client("the assertion's jti was already used")


def uses_assertion(request: TokenRequest) -> bool:
    """Whether the form has a ``client_assertion`` or a ``client_assertion_type``."""
    return "client_assertion" in request.form or "client_assertion_type" in request.form


def assertion_alg(request: TokenRequest) -> str | None:
    """The unverified ``alg`` of the request's ``client_assertion``; None if unreadable."""
    assertion = request.form.get("client_assertion")
    if not assertion:
        return None
    try:
        alg = jwt.get_unverified_header(assertion).get("alg")
    except jwt.PyJWTError:
        return None
    return alg if isinstance(alg, str) else None


def unverified_iss(assertion: str) -> str | None:
    """The ``iss`` of an assertion, read without verifying it; None if unreadable."""
    try:
        iss = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
    return iss if isinstance(iss, str) else None


class AssertionMethod:
    """What the methods that check a signed ``client_assertion`` share: their settings.

    Args:
        clients: the registered clients (and their keys or secrets).
        audiences: the values an assertion's ``aud`` may name, asked for
            each request (they change while serving on loopback).
        clock: the issuer's clock.
        replays: where accepted ``jti`` values are remembered.
        strict: whether strict mode is on, asked for each request.
        issuer: the issuer identifier, asked for each request (strict mode
            requires it as the assertion's sole ``aud``).
    """

    def __init__(
        self,
        clients: ClientRegistry,
        *,
        audiences: Callable[[], Collection[str]],
        clock: Clock,
        replays: ReplayCache,
        strict: Callable[[], bool] = lambda: False,
        issuer: Callable[[], str] = lambda: "",
    ) -> None:
        self._clients = clients
        self._audiences = audiences
        self._clock = clock
        self._replays = replays
        self._strict = strict
        self._issuer = issuer

    def check_claims(
        self, client: RegisteredClient, header: Mapping[str, Any], claims: Mapping[str, Any]
    ) -> None:
        """The checks every verified assertion of ``client`` passes, strict mode's included.

        Raises:
            OAuthError: ``invalid_client`` naming the failed check.
        """
        if self._strict():
            check_assertion(header, claims, self._issuer())
        check_assertion_claims(
            client.client_id,
            claims,
            audiences=self._audiences(),
            now=self._clock(),
            replays=self._replays,
        )

    def claimed_client_id(self, request: TokenRequest) -> str | None:
        """The form's ``client_id``, else the assertion's unverified ``iss``."""
        if "client_id" in request.form:
            return request.form["client_id"]
        assertion = request.form.get("client_assertion")
        return unverified_iss(assertion) if assertion else None


class PrivateKeyJWT(AssertionMethod):
    """``private_key_jwt``: a JWT signed with a private key whose public half is registered.

    The settings are those of ``AssertionMethod``.
    """

    name = "private_key_jwt"
    signing_algorithms: Sequence[str] = ASSERTION_ALGORITHMS

    def used_by(self, request: TokenRequest) -> bool:
        """Whether the form has assertion fields, and the assertion is not MACed (``HS*``)."""
        alg = assertion_alg(request)
        return uses_assertion(request) and not (alg or "").startswith("HS")

    def authenticate(self, request: TokenRequest) -> RegisteredClient:
        """The client whose registered key signed the assertion, once its claims check out.

        Raises:
            OAuthError: ``invalid_request`` without an assertion of the
                jwt-bearer type; ``invalid_client`` for a bad signature, an
                unknown issuer or a failed claim check.
        """
        form = request.form
        assertion = form.get("client_assertion")
        if not assertion or form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise OAuthError(
                "invalid_request",
                "private_key_jwt needs client_assertion and client_assertion_type "
                f"{CLIENT_ASSERTION_TYPE}",
            )
        federated = self._clients.get(form.get("client_id", ""))
        if federated is not None and federated.federation is not None:
            return self._federated(federated, federated.federation, assertion)
        client, header, claims = self._verified_claims(assertion)
        # RFC 7521 §4.2: a client_id, when sent, must name the assertion's client.
        if form.get("client_id", client.client_id) != client.client_id:
            raise invalid_client("client_id differs from the assertion's issuer")
        self.check_claims(client, header, claims)
        return client

    def _federated(
        self, client: RegisteredClient, federation: FederatedTrust, assertion: str
    ) -> RegisteredClient:
        """The federated ``client``, once its trusted issuer's ``assertion`` checks out."""
        claims = federation.verified_claims(assertion)
        check_federated_claims(federation, claims, own=self._audiences(), now=self._clock())
        return client

    def _verified_claims(
        self, assertion: str
    ) -> tuple[RegisteredClient, dict[str, Any], dict[str, Any]]:
        header: dict[str, Any] | None = None
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            header = None  # refused below, leaving no __context__ near the assertion
        if header is None:
            raise invalid_client("the client assertion is not a valid JWT")
        iss = unverified.get("iss")
        client = self._clients.get(iss) if isinstance(iss, str) else None
        if client is None or not client.keys:
            raise invalid_client("the assertion's issuer is not a private_key_jwt client")
        alg = header.get("alg")
        if alg not in ASSERTION_ALGORITHMS:
            raise invalid_client(f"assertion algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        for raw, key in client.keys:
            if kid is not None and raw.get("kid") != kid:
                continue
            # A key published for one algorithm signs with that one only; EdDSA
            # and Ed25519 name the same operation on an Ed25519 key (RFC 9864 §2.2).
            crv = raw.get("crv")
            if operation(raw.get("alg", alg), crv) != operation(alg, crv):
                continue
            try:
                payload = verify_signature(assertion, key, alg)
            except (jwt.PyJWTError, TypeError, ValueError):
                # ValueError: a key of another family (an EC key for an RS256
                # assertion) — simply not this client's signing key.
                continue
            claims: dict[str, Any] = json.loads(payload)
            return client, header, claims
        raise invalid_client("the assertion's signature does not match a registered key")
