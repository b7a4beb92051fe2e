"""Authorization server metadata discovery (OpenID Connect Discovery, RFC 8414)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .._errors import ConfigError, TokenEndpointError
from .._http import HttpClient, check_endpoint_url
from .._redact import excerpt, safe_url
from .._wire import json_object

__all__ = ["discover", "metadata_urls"]


def metadata_urls(issuer: str) -> tuple[str, ...]:
    """Where an issuer's metadata may live, in the order they are tried.

    OpenID Connect appends ``/.well-known/openid-configuration`` to the
    issuer; RFC 8414 §3.1 inserts ``/.well-known/oauth-authorization-server``
    between the host and the issuer's path.
    """
    parts = urlsplit(issuer.rstrip("/"))
    oidc = issuer.rstrip("/") + "/.well-known/openid-configuration"
    rfc8414_path = "/.well-known/oauth-authorization-server" + parts.path
    rfc8414 = urlunsplit((parts.scheme, parts.netloc, rfc8414_path, "", ""))
    return (oidc, rfc8414)


async def discover(
    issuer: str,
    *,
    http: httpx.AsyncClient | None = None,
    allow_insecure_http: bool = False,
) -> dict[str, Any]:
    """Fetch and check the metadata document of ``issuer``.

    Tries OpenID Connect discovery, then RFC 8414. The document's ``issuer``
    must equal the one asked for (ignoring a trailing slash), so that a
    misconfigured or hostile document cannot redirect tokens elsewhere.

    Concurrency and cancellation: makes at most two requests; safe to call
    concurrently; cancelling it abandons the request.

    Raises:
        ConfigError: the issuer is not an acceptable URL, or the document
            names another issuer.
        TokenRequestError: the metadata could not be fetched.
        TokenEndpointError: no metadata document was found.
        TokenResponseError: the document is not a JSON object.
    """
    check_endpoint_url(issuer, name="issuer", allow_insecure_http=allow_insecure_http)
    client = HttpClient(http, clock=time.time)
    try:
        last = None
        for url in metadata_urls(issuer):
            raw = await client.request("GET", url, headers={"Accept": "application/json"})
            if raw.status_code == 200:
                break
            last = raw
        else:
            assert last is not None  # noqa: S101 - the loop ran at least once
            raise TokenEndpointError(
                f"no metadata found for issuer {safe_url(issuer)} (last answer {last.status_code})",
                status_code=last.status_code,
                url=safe_url(issuer),
            )
    finally:
        await client.aclose()
    where = safe_url(url)
    document = json_object(raw, what=f"the metadata at {where}", url=where, secrets=raw.carried)
    if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        named = excerpt(str(document.get("issuer")), raw.carried, limit=100)
        raise ConfigError(
            f"the metadata at {safe_url(url)} names issuer {named!r}, not {safe_url(issuer)!r}"
        )
    for name in ("token_endpoint", "jwks_uri"):
        if name in document and isinstance(document[name], str):
            check_endpoint_url(document[name], name=name, allow_insecure_http=allow_insecure_http)
    return document
