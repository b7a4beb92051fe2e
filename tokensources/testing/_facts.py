"""What the server learned about one request while answering it, for the request log.

The front (``_front``) creates one ``RequestFacts`` per request and hands it
to the endpoint with the request; the endpoint writes down what it found
(the client a token request claims, its grant, how it authenticated, what
came of it). Only values that are safe to show end up here: names, codes
and the claims of an issued token, never a credential or a token itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RequestFacts"]


@dataclass(slots=True)
class RequestFacts:
    """What one request was, as far as the endpoint that answered it could tell.

    Attributes:
        path: the full request path, tenant prefix included.
        issuer: the name of the issuer it was for; ``""`` for the root issuer.
        endpoint: which endpoint answered (``token``, ``jwks``, ``metadata``,
            ``introspection``, ``api``, ``debug``), or None when none did.
        client_id: the client a token request claims to be, before any check.
        grant_type: the ``grant_type`` of a token request.
        auth_method: the client authentication method a token request used.
        scope: the ``scope`` a token request asked for.
        audiences: the ``audience`` and ``resource`` values it asked for.
        error: the error code of the answer, if it was an error.
        outcome: what came of it: ``issued``, ``refused``, ``throttled``,
            ``fault``, ``enqueued``, ``dropped``, or None for plain answers.
        token_claims: the claims of the access token issued, if one was.
        dpop_proof: whether the request carried a ``DPoP`` header (RFC 9449 §4.1).
        dpop_jkt: the RFC 7638 thumbprint of the key of a DPoP proof the
            endpoint verified (a token request's, or an API request's).
        certificate_thumbprint: the ``x5t#S256`` (RFC 8705 §3.1) of a TLS
            client certificate the endpoint verified.
    """

    path: str = ""
    issuer: str = ""
    endpoint: str | None = None
    client_id: str | None = None
    grant_type: str | None = None
    auth_method: str | None = None
    scope: str | None = None
    audiences: tuple[str, ...] = ()
    error: str | None = None
    outcome: str | None = None
    token_claims: dict[str, Any] | None = None
    dpop_proof: bool = False
    dpop_jkt: str | None = None
    certificate_thumbprint: str | None = None
