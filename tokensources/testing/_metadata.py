"""The discovery document (RFC 8414, OpenID Connect Discovery 1.0), built from the issuer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._asgi import Request, Response, json_response
from ._client_auth import ClientAuthenticator
from ._clients import ClientRegistry
from ._counters import Counters
from ._dpop import TokenEndpointDPoP
from ._issuer import Issuer
from ._paths import INTROSPECTION_PATH

__all__ = ["MetadataEndpoint"]


class MetadataEndpoint:
    """Serves the authorization server metadata, as it is at the moment of the request.

    Args:
        issuer: the issuer URL and endpoints.
        clients: the registered clients (their scopes are ``scopes_supported``).
        authenticator: the client authentication methods and their algorithms.
        grant_types: the supported grant types.
        counters: where discovery requests are counted.
        dpop: DPoP at the token endpoint, announced while it is supported.
    """

    def __init__(
        self,
        *,
        issuer: Issuer,
        clients: ClientRegistry,
        authenticator: ClientAuthenticator,
        grant_types: Sequence[str],
        counters: Counters,
        dpop: TokenEndpointDPoP | None = None,
    ) -> None:
        self._issuer = issuer
        self._clients = clients
        self._authenticator = authenticator
        self._grant_types = tuple(grant_types)
        self._counters = counters
        self._dpop = dpop

    def document(self) -> dict[str, Any]:
        """The metadata document (RFC 8414 §2)."""
        document = {
            "issuer": self._issuer.url,
            "token_endpoint": self._issuer.token_endpoint,
            "jwks_uri": self._issuer.jwks_uri,
            "grant_types_supported": list(self._grant_types),
            "token_endpoint_auth_methods_supported": self._authenticator.method_names,
            "token_endpoint_auth_signing_alg_values_supported": (
                self._authenticator.signing_algorithms
            ),
            "scopes_supported": self._clients.scopes(),
            # RFC 8414 §2 and RFC 7662: resource servers authenticate as at the token endpoint.
            "introspection_endpoint": self._issuer.url + INTROSPECTION_PATH,
            "introspection_endpoint_auth_methods_supported": self._authenticator.method_names,
            # RFC 8705 §3.3, §5: bound tokens, and where mutual TLS is served
            # (the same port: a request over TLS may present a certificate).
            "tls_client_certificate_bound_access_tokens": True,
            "mtls_endpoint_aliases": {"token_endpoint": self._issuer.token_endpoint},
        }
        if self._dpop is not None and self._dpop.supported:
            # RFC 9449 §5.1: the proof algorithms the token endpoint accepts.
            document["dpop_signing_alg_values_supported"] = self._dpop.checker.algorithms
        return document

    async def handle(self, request: Request) -> Response:
        """Answer a metadata request."""
        request.facts.endpoint = "metadata"
        if request.method != "GET":
            return json_response(405, {"error": "method_not_allowed"}, headers=[("allow", "GET")])
        self._counters.discovery_requests += 1
        return json_response(200, self.document())
