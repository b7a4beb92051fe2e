"""RFC 9728 protected resource metadata: the document a resource publishes, and where.

A client that calls a protected resource without a token (an MCP client,
say) gets a 401 whose challenge names ``resource_metadata``; the document
there tells it the resource's identifier, which authorization servers issue
tokens for it and which scopes it knows. ``ResourceMetadata`` builds that
document from the resource's configuration, knows the URL it lives at (the
well-known URI, with the resource's path inserted, RFC 9728 §3.1) and is
itself a small ASGI application that serves it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .._errors import ConfigError
from .._http import check_endpoint_url
from .._jose import ALGORITHMS
from ._asgi_types import Receive, Scope, Send
from ._claims import scope_list

if TYPE_CHECKING:
    from ._introspection import Introspection
    from ._verifier import JWTVerifier

__all__ = ["WELL_KNOWN_PATH", "ResourceMetadata", "metadata_location"]

# RFC 9728 §3: the well-known URI suffix registered for the document.
WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"


def metadata_location(resource: str) -> tuple[str, str]:
    """The metadata URL of ``resource`` and its path (with any query), per RFC 9728 §3.1.

    The well-known suffix goes between the host and the resource's path:
    ``https://api.example.com/mcp`` has its metadata at
    ``https://api.example.com/.well-known/oauth-protected-resource/mcp``; a
    resource without a path (or with ``/`` alone) at the suffix itself.
    """
    parts = urlsplit(resource)
    # RFC 9728 §3.1: a terminating "/" right after the host is removed first.
    path = "" if parts.path == "/" else parts.path
    url = urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN_PATH + path, parts.query, ""))
    return url, WELL_KNOWN_PATH + path


def check_resource(resource: object, *, allow_insecure_http: bool) -> str:
    """A resource identifier as RFC 9728 §1.2 wants it: an https URL without fragment.

    Raises:
        ConfigError: it is not (plain http only to loopback, or when allowed).
    """
    if not isinstance(resource, str):
        raise ConfigError("resource must be a URL string")
    check_endpoint_url(resource, name="resource", allow_insecure_http=allow_insecure_http)
    if urlsplit(resource).fragment or resource.endswith("#"):
        raise ConfigError("resource must not have a fragment (RFC 9728 §1.2)")
    return resource


def _issuers(servers: Iterable[str], insecure: bool) -> tuple[str, ...]:
    if isinstance(servers, str):
        servers = (servers,)
    result = tuple(servers)
    for issuer in result:
        check_endpoint_url(issuer, name="authorization_servers", allow_insecure_http=insecure)
        # RFC 8414 §2: an issuer identifier has no query and no fragment.
        parts = urlsplit(issuer)
        if parts.query or parts.fragment:
            raise ConfigError("authorization_servers must be issuer URLs without query or fragment")
    return result


def _algorithms(names: Iterable[str]) -> tuple[str, ...]:
    result = tuple(names)
    for name in result:
        # RFC 9728 §2: "none" MUST NOT be used; the table holds signature algorithms only.
        if not isinstance(name, str) or name not in ALGORITHMS:
            raise ConfigError(
                f"resource_signing_alg_values_supported: {name!r} is not a supported "
                f"signature algorithm ({', '.join(ALGORITHMS)})"
            )
    return result


def _text(name: str, value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"{name} must be a non-empty string")
    return value


class ResourceMetadata:
    """The RFC 9728 metadata of one protected resource, and an ASGI app serving it.

    The document holds ``resource`` (the identifier clients use as the
    token audience, RFC 8707), ``authorization_servers`` (the issuers whose
    tokens the resource accepts), ``scopes_supported``,
    ``bearer_methods_supported`` (always ``["header"]``: ``BearerAuth`` reads
    the ``Authorization`` header only, RFC 6750 §2.1) and, when given,
    ``resource_name``, ``resource_documentation`` and
    ``resource_signing_alg_values_supported``. Proof-of-possession members
    (``dpop_signing_alg_values_supported``,
    ``tls_client_certificate_bound_access_tokens``) are announced only by
    what checks such proofs: ``BearerAuth`` adds them to the document it
    serves (see ``with_proofs``).

    Give it to ``BearerAuth(metadata=...)``: the middleware then serves the
    document at ``path`` (unprotected) and names ``url`` in every challenge.
    It is also an ASGI application on its own, answering ``GET`` and
    ``HEAD`` at whatever path it is routed to (``Route(metadata.path,
    metadata)`` in Starlette, ``app.add_route(metadata.path, metadata)`` in
    FastAPI); pass ``url`` to ``challenge(resource_metadata=...)`` in a
    framework dependency. The document is built once: the object is
    immutable.

    Args:
        resource: the resource identifier: an https URL without fragment
            (RFC 9728 §1.2), e.g. ``"https://mcp.example.com/mcp"``.
        authorization_servers: issuer URLs of the authorization servers
            that issue tokens for it.
        scopes_supported: the scopes it knows (announced, not enforced): an
            iterable, or one space-separated string.
        resource_name: a human-readable name.
        resource_documentation: a URL of documentation for developers.
        resource_signing_alg_values_supported: the algorithms the resource
            signs its *responses* with (RFC 9728 §2), if it signs any — not
            the algorithms of the tokens it accepts.
        allow_insecure_http: accept plain-http URLs to non-loopback hosts
            (only for tests).

    Raises:
        ConfigError: a URL is not acceptable, a scope or algorithm is
            malformed, or a name is empty.
    """

    __slots__ = ("_body", "_document", "_path", "_url")

    def __init__(
        self,
        resource: str,
        *,
        authorization_servers: Iterable[str] = (),
        scopes_supported: Iterable[str] | str = (),
        resource_name: str | None = None,
        resource_documentation: str | None = None,
        resource_signing_alg_values_supported: Iterable[str] = (),
        allow_insecure_http: bool = False,
    ) -> None:
        insecure = allow_insecure_http
        document: dict[str, Any] = {
            "resource": check_resource(resource, allow_insecure_http=insecure)
        }
        servers = _issuers(authorization_servers, insecure)
        if servers:
            document["authorization_servers"] = list(servers)
        scopes = scope_list(scopes_supported) if scopes_supported else ()
        if scopes:
            document["scopes_supported"] = list(scopes)
        document["bearer_methods_supported"] = ["header"]
        if _text("resource_name", resource_name):
            document["resource_name"] = resource_name
        if _text("resource_documentation", resource_documentation):
            check_endpoint_url(
                resource_documentation,  # type: ignore[arg-type]  # checked by _text
                name="resource_documentation",
                allow_insecure_http=insecure,
            )
            document["resource_documentation"] = resource_documentation
        algorithms = _algorithms(resource_signing_alg_values_supported)
        if algorithms:
            document["resource_signing_alg_values_supported"] = list(algorithms)
        # Proof-of-possession members come from what checks the proofs
        # (``with_proofs``, called by BearerAuth), never from here: announcing
        # DPoP for tokens checked as bearer would promise a binding nobody
        # verifies.
        self._document = document
        self._body = json.dumps(document, separators=(",", ":")).encode()
        self._url, self._path = metadata_location(resource)

    @classmethod
    def for_verifier(
        cls,
        verifier: JWTVerifier | Introspection,
        *,
        resource: str | None = None,
        **settings: Any,
    ) -> ResourceMetadata:
        """The metadata of a resource protected by ``verifier``.

        ``authorization_servers`` is the verifier's issuer (an
        ``Introspection`` without ``issuer`` names none), and ``resource``
        defaults to the verifier's audience when it accepts exactly one.
        Other keyword arguments are those of the constructor.

        Raises:
            ConfigError: no ``resource`` was given and the verifier has not
                exactly one audience, or a setting is not acceptable.
        """
        if resource is None:
            audience = verifier.audience or ()
            if len(audience) != 1:
                raise ConfigError(
                    "resource must be given: the verifier does not accept exactly one audience"
                )
            resource = audience[0]
        if "authorization_servers" not in settings:
            settings["authorization_servers"] = (verifier.issuer,) if verifier.issuer else ()
        return cls(resource, **settings)

    @property
    def resource(self) -> str:
        """The resource identifier."""
        return str(self._document["resource"])

    @property
    def url(self) -> str:
        """Where the document lives (RFC 9728 §3.1); challenges name it ``resource_metadata``."""
        return self._url

    @property
    def path(self) -> str:
        """The path of ``url`` on the resource's host (with the query, if the resource has one)."""
        return self._path

    def with_proofs(
        self,
        *,
        dpop_signing_alg_values_supported: Iterable[str] = (),
        dpop_bound_access_tokens_required: bool = False,
        tls_client_certificate_bound_access_tokens: bool = False,
    ) -> ResourceMetadata:
        """This metadata, announcing the sender-constrained tokens its protection checks.

        ``BearerAuth`` calls it for the document it serves: it checks DPoP
        proofs (RFC 9449 §7.1) with its ``dpop`` checker, whose algorithms it
        announces, and certificate bindings (RFC 8705 §3) when it is given a
        ``client_certificate`` callable. Call it yourself only for a document
        served apart from ``BearerAuth``, with what your own checks verify.

        Args:
            dpop_signing_alg_values_supported: the DPoP proof algorithms
                accepted (RFC 9728 §2); none: DPoP is not announced.
            dpop_bound_access_tokens_required: whether every token must be
                DPoP-bound (RFC 9728 §2).
            tls_client_certificate_bound_access_tokens: whether certificate-bound
                tokens are supported (RFC 8705 §3.3).

        Returns:
            A new ``ResourceMetadata``; this one is unchanged.

        Raises:
            ConfigError: an algorithm is malformed.
        """
        document = self.document()
        algorithms = _algorithms(dpop_signing_alg_values_supported)
        if algorithms:
            document["dpop_signing_alg_values_supported"] = list(algorithms)
        if dpop_bound_access_tokens_required:
            document["dpop_bound_access_tokens_required"] = True
        if tls_client_certificate_bound_access_tokens:
            document["tls_client_certificate_bound_access_tokens"] = True
        announced = object.__new__(ResourceMetadata)
        announced._document = document
        announced._body = json.dumps(document, separators=(",", ":")).encode()
        announced._url, announced._path = self._url, self._path
        return announced

    def document(self) -> dict[str, Any]:
        """The metadata document (a fresh copy)."""
        return json.loads(self._body)  # type: ignore[no-any-return]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the document: 200 to ``GET`` and ``HEAD`` (RFC 9728 §3.2), 405 to the rest."""
        if scope["type"] != "http":
            return
        method = scope.get("method", "GET")
        if method in ("GET", "HEAD"):
            status, body = 200, self._body
            headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
        else:
            status, body = 405, b'{"error":"method_not_allowed"}'
            headers = [(b"content-type", b"application/json"), (b"allow", b"GET, HEAD")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    def __repr__(self) -> str:
        return f"ResourceMetadata(resource={self.resource!r}, url={self._url!r})"
