"""ASGI middleware and helpers: protect routes of any ASGI app with a verifier.

Plain ASGI 3.0, so it works with Starlette, FastAPI, Quart or a bare app
without importing any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import ConfigError, TokenSourceError
from .._log import logger
from ._asgi_types import ASGIApp, Receive, Scope, Send
from ._bearer import access_token, challenge, check_realm
from ._certificate_binding import CertificateGetter, check_certificate_binding, tls_certificate
from ._claims import Claims, scope_list
from ._contract import Verifier
from ._dpop import DPoPProofChecker, DPoPProofError
from ._dpop_binding import bound_jkt, check_dpop_binding
from ._dpop_nonce import DPoPNonce
from ._paths import PathRules, route_path
from ._proof_url import proof_urls, public_bases
from ._resource_metadata import ResourceMetadata

__all__ = ["CLAIMS_KEY", "ASGIApp", "BearerAuth", "authenticate", "claims_from"]


CLAIMS_KEY = "tokensources.claims"
"""The ASGI scope key under which ``BearerAuth`` puts the verified ``Claims``."""

# RFC 6455 §7.4.1: 1008 = policy violation, the closest to "not authorised".
_WS_POLICY_VIOLATION = 1008


def _header(scope: Mapping[str, Any], wanted: bytes) -> list[str]:
    return [
        value.decode("latin-1")
        for name, value in scope.get("headers", ())
        if name.lower() == wanted
    ]


def _proof(scope: Mapping[str, Any]) -> str | None:
    """The request's one ``DPoP`` header (RFC 9449 §4.3: exactly one), or None."""
    proofs = _header(scope, b"dpop")
    if len(proofs) > 1:
        raise DPoPProofError("the request has more than one DPoP header")
    return proofs[0] if proofs else None


async def authenticate(
    verifier: Verifier,
    request: object,
    *,
    scopes: Iterable[str] | str = (),
    client_certificate: CertificateGetter | None = None,
    dpop: DPoPProofChecker | None = None,
    dpop_nonce: DPoPNonce | None = None,
    public_url: str | Iterable[str] | None = None,
) -> Claims:
    """Verify the bearer or DPoP token of an ASGI request and return its claims.

    For framework dependencies (a FastAPI ``Depends``): ``request`` is the
    ASGI scope or any object with a ``.scope`` (a Starlette/FastAPI
    ``Request``). Only the ``Authorization`` header is read (RFC 6750
    §2.1); tokens in the query string are ignored. ``scopes`` is an
    iterable of scopes or one space-separated string. ``verifier`` is a
    ``JWTVerifier``, an ``Introspection`` or any ``Verifier``.

    A certificate-bound token (``cnf.x5t#S256``, RFC 8705 §3) is accepted
    only when the request presented that certificate: the one of the ASGI
    TLS extension, or what ``client_certificate(scope)`` returns (DER or
    PEM, for a proxy that terminates TLS and forwards the certificate in a
    header it controls).

    A DPoP-bound token (``cnf.jkt``, RFC 9449 §7) is accepted only as
    ``Authorization: DPoP <token>`` with a ``DPoP`` proof for this request
    (its method, its URL, the token's hash, the token's key, a fresh
    ``jti``) checked by ``dpop``; with ``dpop_nonce``, the proof must carry
    its current nonce. Without ``dpop``, DPoP tokens are refused. A
    DPoP-bound token presented as a bearer token is always refused, and so
    is a token whose ``cnf`` claim is malformed.

    The URL a proof's ``htu`` must name is, without ``public_url``, the
    request's scheme and ``Host`` header, ``root_path`` and path. The
    ``Host`` header is chosen by the client: a token and proof captured on
    their way to another API that accepts the same tokens (same issuer and
    audience) are accepted here if the sender says that API's host name.
    Set ``public_url`` to the URL clients reach this API at
    (``"https://api.example.com"``), with the path prefix a proxy strips
    (``"https://api.example.com/svc"``), or a list of them for an API with
    several names: ``htu`` must then be one of them followed by the path
    the application received. It is also what makes proofs pass behind a
    proxy that terminates TLS or rewrites ``Host``.

    Concurrency and cancellation: as the verifier's ``verify``. The proof
    checker's replay memory is shared by every request it checks.

    Raises:
        InvalidTokenError: missing, malformed or refused token
            (``challenge()`` gives the answer to send).
        InsufficientScopeError: a scope in ``scopes`` is missing.
        DPoPProofError: the DPoP proof is missing or refused (a
            ``DPoPNonceError`` when it lacks the current nonce).
        TokenSourceError: the verifier could not decide (the issuer's keys
            or the introspection endpoint are unavailable).
        ConfigError: a scope in ``scopes`` is empty or not a string, or
            ``public_url`` is not a URL (or list of URLs) ``BearerAuth``
            would accept.
    """
    scope = getattr(request, "scope", request)
    if not isinstance(scope, Mapping):
        raise TypeError("request must be an ASGI scope or have a .scope")
    schemes = ("bearer",) if dpop is None else ("bearer", "dpop")
    scheme, token = access_token(_header(scope, b"authorization"), schemes=schemes)
    claims = await verifier.verify(token, scopes=scopes)
    # The bound-token checks, one after the other: RFC 8705 §3, then RFC 9449 §7.
    getter = client_certificate or tls_certificate
    check_certificate_binding(claims, getter(scope))
    check_dpop_binding(
        claims,
        scheme=scheme,
        access_token=token,
        proof=_proof(scope) if scheme == "dpop" else None,
        method=str(scope.get("method", "GET")),
        url=proof_urls(scope, _header(scope, b"host"), public_bases(public_url)),
        checker=dpop,
        nonces=None if dpop_nonce is None else dpop_nonce.accepted(),
    )
    return claims


def claims_from(request: object) -> Claims:
    """The claims ``BearerAuth`` verified for this request.

    Args:
        request: the ASGI scope, or any object with a ``.scope`` (a
            Starlette/FastAPI ``Request``, a WebSocket).

    Raises:
        LookupError: the request did not pass through ``BearerAuth`` (the
            route is not protected).
    """
    scope = getattr(request, "scope", request)
    claims = scope.get(CLAIMS_KEY) if isinstance(scope, Mapping) else None
    if not isinstance(claims, Claims):
        raise LookupError("no verified claims: this route is not protected by BearerAuth")
    return claims


class BearerAuth:
    """ASGI middleware that lets through only requests with a valid bearer token.

    For each HTTP or WebSocket request under one of ``paths`` (all of them
    when None) it reads ``Authorization: Bearer …``, verifies the token and
    checks ``scopes``. On success the app is called with the ``Claims`` in
    ``scope["tokensources.claims"]`` (read them with ``claims_from``). On
    failure the app is not called and the answer follows RFC 6750 §3 (see
    ``challenge``): 401 for a missing or invalid token, 403 for a missing
    scope, 400 for a malformed header, 503 when the verifier cannot decide
    (the issuer's keys or the introspection endpoint are unreachable): a
    token that could not be checked is never let through. A WebSocket is
    closed with code 1008 instead. The client never learns why a token was
    refused; the reason is logged at INFO level on the ``tokensources``
    logger (without the token).

    With ``metadata``, the middleware also serves the resource's RFC 9728
    metadata document at ``metadata.path`` (to ``GET`` and ``HEAD``, never
    protected, whatever ``paths`` says) and names ``metadata.url`` in every
    ``Bearer`` challenge (``resource_metadata="…"``, RFC 9728 §5.1), as MCP
    servers must. Put it where requests for the host's ``/.well-known/``
    paths arrive: the outermost application.

    DPoP-bound tokens (RFC 9449) are accepted with their proof; a refused
    proof is answered 401 with ``WWW-Authenticate: DPoP
    error="invalid_dpop_proof"``, a proof without the current nonce (with
    ``dpop_nonce``) with ``DPoP error="use_dpop_nonce"`` and the nonce in
    ``DPoP-Nonce``, so that the client sends it once more with that nonce.
    Any refusal of a request that presented ``Authorization: DPoP`` is a
    ``DPoP`` challenge (``error="invalid_token"`` for a refused token), and
    every ``DPoP`` challenge names the accepted proof algorithms in
    ``algs`` (RFC 9449 §7.1).
    Set ``public_url`` when DPoP tokens are in use: without it, the URL a
    proof must name is built from the client's own ``Host`` header (see
    ``authenticate``), and the first DPoP token accepted that way is
    logged once at WARNING.

    Other scope types (``lifespan``) pass through untouched.

    Args:
        app: the ASGI application to protect.
        verifier: what checks tokens: a ``JWTVerifier``, an
            ``Introspection``, or any ``Verifier``.
        scopes: scopes every protected request must carry: an iterable of
            scopes, or one space-separated string.
        paths: path prefixes to protect (None: every path), as the wrapped
            app routes them — below any ``root_path``, so under a ``Mount``
            or a server's ``--root-path`` they name the app's own routes.
            Matched on whole segments (``"/api"`` covers ``/api`` and
            ``/api/x``, not ``/apix``), case-insensitively, and on every
            reading of the path a router might make: the full ``path`` as
            well as the part below ``root_path``, each also decoded once
            more and with ``//``, ``\\``, ``.`` and ``..`` resolved. When in
            doubt, a request is protected.
        realm: the ``realm`` named in challenges.
        metadata: the resource's ``ResourceMetadata``, to serve and to name
            in challenges.
        client_certificate: where a request's client certificate is, for
            certificate-bound tokens (see ``authenticate``); by default the
            ASGI TLS extension.
        dpop: the checker of DPoP proofs (RFC 9449), for DPoP-bound tokens
            (see ``authenticate``); by default one of this middleware's own,
            whose bounded replay memory all its requests share.
        dpop_nonce: demand this nonce in every DPoP proof; every answer to a
            protected request then names the current one in ``DPoP-Nonce``.
        public_url: the URL clients send requests to
            (``"https://api.example.com"``), with any path prefix a proxy
            strips before the application sees the path
            (``"https://api.example.com/svc"``); or a list of them, for an
            API known by several names. DPoP proofs name it, followed by
            the application's path, in their ``htu``. By default the
            request's own scheme, ``Host`` header and ``root_path``, which
            the client controls.

    Raises:
        ConfigError: ``paths`` is a string, a path does not start with
            ``/``, a scope is empty, not a string or not a valid scope
            token, the realm is unusable, or ``public_url`` is not an
            http(s) URL (or a list of them) without query or fragment.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier,
        *,
        scopes: Iterable[str] | str = (),
        paths: Iterable[str] | None = None,
        realm: str | None = None,
        metadata: ResourceMetadata | None = None,
        client_certificate: CertificateGetter | None = None,
        dpop: DPoPProofChecker | None = None,
        dpop_nonce: DPoPNonce | None = None,
        public_url: str | Iterable[str] | None = None,
    ) -> None:
        self._public_url = public_bases(public_url)
        self._warned_host = False
        if dpop is not None and not isinstance(dpop, DPoPProofChecker):
            raise ConfigError("dpop must be a DPoPProofChecker")
        if dpop_nonce is not None and not isinstance(dpop_nonce, DPoPNonce):
            raise ConfigError("dpop_nonce must be a DPoPNonce")
        self._dpop = dpop if dpop is not None else DPoPProofChecker()
        self._dpop_nonce = dpop_nonce
        if metadata is not None and not isinstance(metadata, ResourceMetadata):
            raise ConfigError("metadata must be a ResourceMetadata")
        if client_certificate is not None and not callable(client_certificate):
            raise ConfigError("client_certificate must be a callable taking the ASGI scope")
        self._client_certificate = client_certificate
        self.app = app
        self._verifier = verifier
        self._scopes = scope_list(scopes)
        self._realm = check_realm(realm)
        self._paths = PathRules(paths)
        self._metadata = (
            None
            if metadata is None
            else metadata.with_proofs(
                dpop_signing_alg_values_supported=self._dpop.algorithms,
                tls_client_certificate_bound_access_tokens=client_certificate is not None,
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        metadata = self._metadata
        if metadata is not None and scope["type"] == "http" and _at(scope, metadata.path):
            # RFC 9728 §3: the document is public; it is how a client learns
            # where to get a token, so it cannot require one.
            await metadata(scope, receive, send)
            return
        if scope["type"] not in ("http", "websocket") or not self._paths.protects(scope):
            await self.app(scope, receive, send)
            return
        try:
            claims = await authenticate(
                self._verifier,
                scope,
                scopes=self._scopes,
                client_certificate=self._client_certificate,
                dpop=self._dpop,
                dpop_nonce=self._dpop_nonce,
                public_url=self._public_url,
            )
        except TokenSourceError as exc:
            logger.info("request to %s refused: %s", scope.get("path", ""), exc)
            await self._refuse(scope, send, exc)
            return
        if self._public_url is None and not self._warned_host and bound_jkt(claims) is not None:
            self._warned_host = True
            logger.warning(
                "a DPoP token was accepted with its proof checked against the request's own "
                "Host header; set BearerAuth(public_url=...) to the URL clients use, so that "
                "a proof made for another server is not accepted here"
            )
        nonce = self._dpop_nonce
        if nonce is not None and scope["type"] == "http":
            send = _with_nonce(send, nonce)
        await self.app({**scope, CLAIMS_KEY: claims}, receive, send)

    async def _refuse(self, scope: Scope, send: Send, error: TokenSourceError) -> None:
        if scope["type"] == "websocket":
            # ASGI: closing before accepting makes the server reject the handshake.
            await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION})
            return
        metadata = self._metadata
        answer = challenge(
            error,
            realm=self._realm,
            scopes=self._scopes,
            resource_metadata=metadata.url if metadata is not None else None,
            scheme=_credential_scheme(scope),
            dpop_algorithms=self._dpop.algorithms,
        )
        body = answer.body_bytes()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            *((name.lower().encode(), value.encode()) for name, value in answer.headers.items()),
        ]
        if self._dpop_nonce is not None:
            # RFC 9449 §9: the nonce to use, on the challenge that asks for it (and any other).
            headers.append((b"dpop-nonce", self._dpop_nonce.current.encode("ascii")))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _credential_scheme(scope: Mapping[str, Any]) -> str:
    """The lower-cased scheme of the request's ``Authorization`` header (``"bearer"`` if none)."""
    values = _header(scope, b"authorization")
    words = values[0].split(None, 1) if len(values) == 1 else []
    return "dpop" if words and words[0].lower() == "dpop" else "bearer"


def _with_nonce(send: Send, nonce: DPoPNonce) -> Send:
    """``send`` that adds the current ``DPoP-Nonce`` to the response's headers."""

    async def sending(message: Any) -> None:
        if message.get("type") == "http.response.start":
            headers = [*message.get("headers", ()), (b"dpop-nonce", nonce.current.encode("ascii"))]
            message = {**message, "headers": headers}
        await send(message)

    return sending


def _at(scope: Mapping[str, Any], path: str) -> bool:
    """Whether the request is for exactly ``path`` (and its query, when ``path`` has one).

    Compared as sent: only the one exact spelling is answered here, and
    answering it serves nothing but the public document.
    """
    wanted, _, query = path.partition("?")
    if scope.get("path") != wanted and route_path(scope) != wanted:
        return False
    if not query:
        return True
    return bytes(scope.get("query_string", b"")).decode("latin-1") == query
