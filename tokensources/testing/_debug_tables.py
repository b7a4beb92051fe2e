"""The tables of the ``/_debug`` page: issuers, clients, recent requests, issued tokens.

Every cell is text, escaped when written (``_html``); none holds a secret:
clients are shown by id, methods and scopes, tokens by their claims.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ._assembly import IssuerParts
from ._clients import RegisteredClient
from ._html import Markup, Piece, element, join, table
from ._paths import METADATA_PATHS
from ._request_log import LoggedRequest

__all__ = [
    "client_section",
    "issuer_label",
    "issuer_table",
    "json_block",
    "request_table",
    "token_table",
]


def issuer_label(parts: IssuerParts) -> str:
    return parts.issuer.name or "(root)"


def json_block(value: Any) -> Markup:
    return element("pre", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def issuer_table(issuers: list[IssuerParts]) -> Markup:
    rows = [
        [
            issuer_label(parts),
            parts.issuer.url,
            parts.issuer.token_endpoint,
            parts.issuer.url + METADATA_PATHS[0],
            "strict" if parts.issuer.strict else "",
            str(len(parts.clients.ids())),
        ]
        for parts in issuers
    ]
    headers = ["name", "issuer", "token endpoint", "discovery", "mode", "clients"]
    return table(headers, rows, empty="no issuers")


def _methods(client: RegisteredClient) -> str:
    """How the client may authenticate, by what was registered for it."""
    methods = []
    if client.secret is not None:
        methods += ["client_secret_basic", "client_secret_post", "client_secret_jwt"]
    if client.keys:
        methods.append(f"private_key_jwt ({len(client.keys)} keys)")
    if client.federation is not None:
        methods.append("federated assertion")
    if client.tls is not None:
        methods.append("mutual TLS")
    return ", ".join(methods)


def client_section(parts: IssuerParts) -> Markup:
    rows = [
        [
            client.client_id,
            _methods(client),
            " ".join(client.scopes),
            " ".join(client.audiences or (parts.issuer.audience,)),
            f"{client.token_lifetime:g} s" if client.token_lifetime is not None else "",
        ]
        for client in parts.clients.all()
    ]
    headers = ["client id", "authentication", "scopes", "audiences", "token lifetime"]
    return join([element("h3", issuer_label(parts)), table(headers, rows, empty="no clients")])


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _evidence(entry: LoggedRequest) -> str:
    """What bound the request to a key: a DPoP proof's key, a TLS client certificate."""
    found = []
    if entry.dpop_proof:
        found.append("DPoP" if entry.dpop_jkt is None else f"DPoP {entry.dpop_jkt}")
    if entry.certificate_thumbprint is not None:
        found.append(f"certificate {entry.certificate_thumbprint}")
    return ", ".join(found)


def request_table(entries: list[LoggedRequest]) -> Markup:
    rows = [
        [
            str(e.number),
            _when(e.at),
            e.method,
            e.path,
            e.client_id or "",
            e.grant_type or "",
            e.auth_method or "",
            _evidence(e),
            "dropped" if e.status is None else str(e.status),
            e.error or e.outcome or "",
        ]
        for e in reversed(entries)
    ]
    headers = [
        *("#", "at (UTC)", "method", "path", "client", "grant", "auth", "binding"),
        *("status", "outcome"),
    ]
    return table(headers, rows, empty="no requests yet")


def token_table(entries: list[LoggedRequest]) -> Markup:
    rows: list[list[Piece]] = [
        [str(e.number), e.issuer or "(root)", json_block(dict(e.token_claims or {}))]
        for e in reversed(entries)
    ]
    return table(["request", "issuer", "claims"], rows, empty="no tokens issued yet")
