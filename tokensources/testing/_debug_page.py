"""``GET /_debug``: a page for people that shows what the server holds and has seen.

It lists the issuers, their clients (ids, methods, scopes: never a secret),
the recent requests and the claims of the tokens issued (never a token or
a signature), and has a form to mint a token by hand (``POST /_debug/mint``),
whose answer shows the token once. Everything shown is escaped (``_html``),
and the page forbids scripts outright (``Content-Security-Policy``), so a
client id or a claim can never inject markup or code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt

from ._asgi import Request, Response
from ._assembly import IssuerParts
from ._clients import DEMO_CLIENT_ID
from ._debug_tables import (
    client_section,
    issuer_label,
    issuer_table,
    json_block,
    request_table,
    token_table,
)
from ._direct_tokens import issue_direct
from ._directory import IssuerDirectory
from ._html import Markup, Piece, element, join
from ._paths import DEBUG_MINT_PATH, DEBUG_PATH
from ._request_log import RequestLog

__all__ = ["DebugPage"]

RECENT_REQUESTS = 50
RECENT_TOKENS = 20
_MAX_FORM = 4096
_HEADERS = [
    (b"cache-control", b"no-store"),  # a minted token is on the page
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}"
    "table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
    "pre{margin:0;white-space:pre-wrap}textarea{width:100%;height:6em}"
    ".error{color:#a00}.empty{color:#666}"
)


class MintRefused(Exception):  # noqa: N818 - names the condition
    """The mint form was filled in wrongly; the message says how (it is shown escaped)."""


class DebugPage:
    """The ``/_debug`` page and its mint form.

    Args:
        directory: the server's issuers.
        log: the server's request log.
    """

    def __init__(self, *, directory: IssuerDirectory, log: RequestLog) -> None:
        self._directory = directory
        self._log = log

    async def handle(self, request: Request) -> Response:
        """Show the page (GET), or mint a token and show it (POST to the mint path)."""
        if request.path == DEBUG_PATH and request.method == "GET":
            return self._page(200)
        if request.path == DEBUG_MINT_PATH and request.method == "POST":
            return self._mint(request)
        allow = b"GET" if request.path == DEBUG_PATH else b"POST"
        if request.path in (DEBUG_PATH, DEBUG_MINT_PATH):
            return _html_response(405, _document(element("p", "method not allowed")), allow)
        return _html_response(404, _document(element("p", "not found")))

    def _issuers(self) -> list[IssuerParts]:
        return [self._directory.root, *self._directory.tenants().values()]

    def _mint(self, request: Request) -> Response:
        facts = request.facts
        try:
            _check_same_origin(request)
            form = _form(request)
            parts = self._issuer_named(form.get("issuer", ""))
            client_id = form.get("client_id", "").strip() or DEMO_CLIENT_ID
            facts.issuer, facts.client_id = parts.issuer.name, client_id
            token = issue_direct(
                parts.issuer,
                parts.clients,
                parts.tokens,
                client_id,
                scope=form.get("scope", "").strip() or None,
                lifetime=_lifetime(form.get("lifetime", "")),
                audience=form.get("audience", "").strip() or None,
            )
        except MintRefused as exc:
            facts.error = "invalid_request"
            return self._page(400, error=str(exc))
        claims = _claims(token)
        facts.token_claims, facts.outcome = claims, "issued"
        return self._page(200, minted=(token, claims))

    def _issuer_named(self, name: str) -> IssuerParts:
        for parts in self._issuers():
            if parts.issuer.name == name:
                return parts
        raise MintRefused(f"there is no issuer named {name!r}")

    def _page(
        self,
        status: int,
        *,
        error: str | None = None,
        minted: tuple[str, Mapping[str, Any]] | None = None,
    ) -> Response:
        issuers = self._issuers()
        entries = self._log.requests()
        sections: list[Piece] = [
            element("h1", "tokensources testing server"),
            element("p", "For tests and demos only: every secret here is a test secret."),
        ]
        if error is not None:
            sections.append(element("p", f"Not minted: {error}", class_="error"))
        if minted is not None:
            sections += _minted(*minted)
        sections += [
            element("h2", "Mint a token"),
            _mint_form(issuers),
            element("h2", "Issuers"),
            issuer_table(issuers),
            element("h2", "Clients"),
            *(client_section(parts) for parts in issuers),
            element("h2", f"Recent requests ({len(entries)} logged)"),
            request_table(entries[-RECENT_REQUESTS:]),
            element("h2", "Issued tokens (claims only)"),
            token_table([e for e in entries if e.token_claims is not None][-RECENT_TOKENS:]),
        ]
        return _html_response(status, _document(join(sections)))


def _document(body: Piece) -> Markup:
    head = element(
        "head",
        element("meta", charset="utf-8"),
        element("title", "tokensources testing server"),
        element("style", Markup(_STYLE)),
    )
    return Markup("<!DOCTYPE html>" + element("html", head, element("body", body), lang="en").html)


def _html_response(status: int, page: Markup, allow: bytes | None = None) -> Response:
    headers = list(_HEADERS) + ([(b"allow", allow)] if allow else [])
    return Response(status, page.html.encode(), headers, b"text/html; charset=utf-8")


def _check_same_origin(request: Request) -> None:
    # A form on another site can post here (the server listens on loopback,
    # which any page a person visits can reach): refuse what the browser
    # says came from elsewhere (Fetch Metadata, then the Origin header).
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site == "cross-site" or (
        origin is not None and origin != "null" and urlsplit(origin).netloc != request.host
    ):
        raise MintRefused("the form was sent from another site")


def _form(request: Request) -> dict[str, str]:
    if len(request.body) > _MAX_FORM:
        raise MintRefused("the form is too large")
    try:
        pairs = parse_qsl(request.body.decode("utf-8"), errors="strict", max_num_fields=16)
    except ValueError:
        raise MintRefused("the form cannot be decoded") from None
    return dict(pairs)


def _lifetime(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 366 * 24 * 3600:
        raise MintRefused("the lifetime must be a number of seconds, more than 0, at most a year")
    return seconds


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _minted(token: str, claims: Mapping[str, Any]) -> list[Piece]:
    return [
        element("h2", "Minted token"),
        element("textarea", token, id="minted-token", readonly="readonly"),
        json_block(dict(claims)),
    ]


def _mint_form(issuers: list[IssuerParts]) -> Markup:
    options = [element("option", issuer_label(parts), value=parts.issuer.name) for parts in issuers]
    fields = [
        element("label", "issuer ", element("select", *options, name="issuer")),
        element("label", " client id ", element("input", name="client_id", value=DEMO_CLIENT_ID)),
        element("label", " scope ", element("input", name="scope", placeholder="its scopes")),
        element("label", " audience ", element("input", name="audience", placeholder="default")),
        element("label", " lifetime ", element("input", name="lifetime", placeholder="seconds")),
        element("button", "Mint", type="submit"),
    ]
    return element("form", *fields, method="post", action=DEBUG_MINT_PATH)
