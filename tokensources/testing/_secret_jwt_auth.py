"""``client_secret_jwt``: a client assertion MACed with the client secret (RFC 7523 §2.2).

The MAC is HMAC-SHA-256/384/512 (RFC 7518 §3.2) keyed with the registered
secret; the claims are checked as for ``private_key_jwt``
(``check_assertion_claims``), strict mode included. A registered secret
shorter than the hash is refused as a key (RFC 7518 §3.2), so a test sees
the same refusal a careful provider would give.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

import jwt

from ..sources._assertion import CLIENT_ASSERTION_TYPE
from ..sources._secret_jwt_auth import HMAC_ALGORITHMS
from ._assertion_auth import (
    AssertionMethod,
    assertion_alg,
    unverified_iss,
    uses_assertion,
)
from ._clients import RegisteredClient
from ._oauth_errors import OAuthError, invalid_client
from ._token_request import TokenRequest

__all__ = ["ClientSecretJWT"]

_HMAC = jwt.PyJWS(algorithms=list(HMAC_ALGORITHMS))


class ClientSecretJWT(AssertionMethod):
    """``client_secret_jwt``: a JWT whose HMAC key is the client's registered secret.

    The settings are those of ``AssertionMethod``.
    """

    name = "client_secret_jwt"
    signing_algorithms: Sequence[str] = tuple(HMAC_ALGORITHMS)

    def used_by(self, request: TokenRequest) -> bool:
        """Whether the form has assertion fields and the assertion is MACed (``HS*``)."""
        alg = assertion_alg(request)
        return uses_assertion(request) and (alg or "").startswith("HS")

    def authenticate(self, request: TokenRequest) -> RegisteredClient:
        """The client whose secret MACed the assertion, once its claims check out.

        Raises:
            OAuthError: ``invalid_request`` without the jwt-bearer assertion
                type; ``invalid_client`` for an unknown client, one without a
                secret or with one too short for the algorithm, a bad MAC or
                a failed claim check.
        """
        form = request.form
        assertion = form.get("client_assertion", "")
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise OAuthError(
                "invalid_request",
                f"client_secret_jwt needs client_assertion_type {CLIENT_ASSERTION_TYPE}",
            )
        iss = unverified_iss(assertion)
        client = self._clients.get(iss) if iss is not None else None
        if client is None or client.secret is None:
            raise invalid_client("the assertion's issuer is not a client with a secret")
        if form.get("client_id", client.client_id) != client.client_id:
            raise invalid_client("client_id differs from the assertion's issuer")
        header, claims = _verified(assertion, client.secret)
        self.check_claims(client, header, claims)
        return client


def _verified(assertion: str, secret: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of ``assertion`` once ``secret`` verifies its MAC.

    The request was claimed by its ``HS*`` header, so the header is readable.
    """
    alg = jwt.get_unverified_header(assertion).get("alg")
    key = secret.encode("utf-8")
    needed = HMAC_ALGORITHMS.get(str(alg))
    if needed is None:
        raise invalid_client(f"assertion algorithm {str(alg)[:16]!r} is not accepted")
    if len(key) < needed:
        raise invalid_client(
            f"the client's secret is too short to key {alg} (RFC 7518 §3.2: {needed} bytes)"
        )
    payload: bytes | None = None
    try:
        payload = _HMAC.decode(assertion, key, algorithms=[str(alg)])
    except jwt.PyJWTError:
        payload = None  # refused below, with no __context__ holding the assertion
    if payload is None:  # pyjwt compares MACs in constant time
        raise invalid_client("the assertion's MAC does not match the client secret")
    claims: Any = None
    with contextlib.suppress(ValueError):
        claims = json.loads(payload)
    if not isinstance(claims, dict):
        raise invalid_client("the assertion's payload is not a JSON object")
    header: dict[str, Any] = jwt.get_unverified_header(assertion)
    return header, claims
