"""Reading a protected resource's RFC 9728 metadata, as a client does before asking for a token."""

from __future__ import annotations

import time
from typing import Any

import httpx

from .._errors import ConfigError, TokenEndpointError, TokenResponseError
from .._http import HttpClient, check_endpoint_url
from .._redact import excerpt, safe_url
from .._wire import json_object, parse_retry_after
from ._resource_metadata import check_resource, metadata_location

__all__ = ["MAX_METADATA_BYTES", "authorization_server_of", "fetch_resource_metadata"]

# A metadata document is a few hundred bytes.
MAX_METADATA_BYTES = 64 * 1024
# Members that RFC 9728 §2 defines as JSON arrays of strings.
_STRING_LISTS = (
    "authorization_servers",
    "scopes_supported",
    "bearer_methods_supported",
    "resource_signing_alg_values_supported",
    "dpop_signing_alg_values_supported",
)


async def fetch_resource_metadata(
    resource: str,
    *,
    metadata_url: str | None = None,
    http: httpx.AsyncClient | None = None,
    allow_insecure_http: bool = False,
) -> dict[str, Any]:
    """Fetch and check the RFC 9728 metadata of the protected resource ``resource``.

    The document is fetched from ``metadata_url`` — the ``resource_metadata``
    a 401 named — or else from the well-known URL of ``resource`` (RFC 9728
    §3.1). Either way its ``resource`` member must be identical to
    ``resource`` (RFC 9728 §3.3): when the URL came from a challenge,
    ``resource`` is the URL the client requested. A document that names
    another resource is refused, so a resource cannot send clients to an
    authorization server on another resource's behalf. The members RFC 9728
    defines as lists of strings are checked to be so; the document is
    returned as it came. ``from_resource()`` on the grant sources goes on
    to the authorization server it lists and builds a source for it.

    Concurrency and cancellation: one request; safe to call concurrently;
    cancelling it abandons the request.

    Args:
        resource: the resource identifier (an https URL; plain http only to
            loopback unless ``allow_insecure_http``).
        metadata_url: where the metadata is, when a challenge said so.
        http: an ``httpx.AsyncClient`` for the request (borrowed, never closed).
        allow_insecure_http: accept plain-http URLs to non-loopback hosts
            (only for tests).

    Returns:
        The metadata document.

    Raises:
        ConfigError: ``resource`` or ``metadata_url`` is not an acceptable URL.
        TokenRequestError: the document could not be fetched.
        TokenEndpointError: the answer was not 200.
        TokenResponseError: the answer is too large, not a JSON object, has
            malformed members, or names another resource.
    """
    insecure = allow_insecure_http
    check_resource(resource, allow_insecure_http=insecure)
    if metadata_url is None:
        url = metadata_location(resource)[0]
    else:
        url = check_endpoint_url(metadata_url, name="metadata_url", allow_insecure_http=insecure)
    client = HttpClient(http, clock=time.time)
    try:
        raw = await client.request(
            "GET", url, headers={"Accept": "application/json"}, max_body=MAX_METADATA_BYTES
        )
    finally:
        await client.aclose()
    where = safe_url(url)
    if raw.status_code != 200:
        raise TokenEndpointError(
            f"the resource metadata at {where} answered {raw.status_code}",
            status_code=raw.status_code,
            retry_after=parse_retry_after(raw.retry_after, raw.sent_at),
            body_excerpt=excerpt(raw.body, raw.carried),
            url=where,
        )
    if raw.truncated:
        raise TokenResponseError(
            f"the resource metadata at {where} is larger than {MAX_METADATA_BYTES} bytes", url=where
        )
    document = json_object(
        raw, what=f"the resource metadata at {where}", url=where, secrets=raw.carried
    )
    # RFC 9728 §3.3: identical, character for character; otherwise "MUST NOT be used".
    named = document.get("resource")
    if named != resource:
        shown = excerpt(str(named), raw.carried, limit=100)
        raise TokenResponseError(
            f"the resource metadata at {where} names resource {shown!r}, not "
            f"{safe_url(resource)!r}; it is not used (RFC 9728 §3.3)",
            url=where,
        )
    for name in _STRING_LISTS:
        value = document.get(name)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(item, str) for item in value)
        ):
            raise TokenResponseError(
                f"the resource metadata at {where} has a {name!r} that is not a list of strings",
                url=where,
            )
    return document


async def authorization_server_of(
    resource: str,
    *,
    authorization_server: str | None = None,
    metadata_url: str | None = None,
    http: httpx.AsyncClient | None = None,
    allow_insecure_http: bool = False,
) -> str:
    """The issuer of the authorization server to ask for tokens for ``resource``.

    Reads the resource's metadata (``fetch_resource_metadata``: it must name
    ``resource`` itself) and takes the one authorization server it lists,
    or ``authorization_server`` when it lists several (RFC 9728 §2 leaves
    the choice to the client; guessing could send the client's credentials
    to the wrong one).

    Concurrency and cancellation: one request, as ``fetch_resource_metadata``.

    Raises:
        ConfigError: the metadata lists no authorization server; lists
            several and none was chosen; or does not list the one chosen.
        TokenSourceError: the metadata could not be fetched or used (see
            ``fetch_resource_metadata``).
    """
    document = await fetch_resource_metadata(
        resource, metadata_url=metadata_url, http=http, allow_insecure_http=allow_insecure_http
    )
    listed: list[str] = document.get("authorization_servers") or []
    shown = ", ".join(repr(safe_url(issuer)) for issuer in listed)
    where = safe_url(resource)
    if authorization_server is not None:
        wanted = authorization_server.rstrip("/")
        for issuer in listed:
            if issuer.rstrip("/") == wanted:
                return issuer
        raise ConfigError(
            f"the metadata of resource {where!r} does not list authorization server "
            f"{safe_url(authorization_server)!r} (it lists: {shown or 'none'})"
        )
    if not listed:
        raise ConfigError(
            f"the metadata of resource {where!r} names no authorization server "
            "(RFC 9728 authorization_servers); build the source with from_issuer()"
        )
    if len(listed) > 1:
        raise ConfigError(
            f"the metadata of resource {where!r} lists {len(listed)} authorization servers "
            f"({shown}); choose one with authorization_server="
        )
    return listed[0]
