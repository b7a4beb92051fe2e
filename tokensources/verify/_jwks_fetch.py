"""One fetch of an issuer's JWKS: the request, the checks and the parsed key set (no caching)."""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import TokenEndpointError, TokenResponseError
from .._http import HttpClient
from .._log import logger
from .._redact import excerpt, safe_url
from .._wire import cache_max_age, parse_retry_after
from ._jwk import KeySet, parse_jwks

__all__ = ["MAX_JWKS_BYTES", "FetchedJWKS", "fetch_jwks"]

# Real key sets are a few KiB (dozens of keys at most).
MAX_JWKS_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class FetchedJWKS:
    """A key set as fetched.

    Attributes:
        keys: the usable signing keys (at least one).
        max_age: the endpoint's ``Cache-Control`` max-age in seconds, if it sent one.
    """

    keys: KeySet
    max_age: float | None


async def fetch_jwks(url: str, http: HttpClient) -> FetchedJWKS:
    """GET the JWKS at ``url`` and parse it.

    Concurrency and cancellation: one request; cancelling abandons it.

    Raises:
        TokenRequestError: the request failed.
        TokenEndpointError: the answer was not 200 (with its ``Retry-After``).
        TokenResponseError: the answer is too large, not a JWKS, or holds no
            usable signing key.
    """
    raw = await http.request(
        "GET", url, headers={"Accept": "application/json"}, max_body=MAX_JWKS_BYTES
    )
    where = safe_url(url)
    if raw.status_code != 200:
        raise TokenEndpointError(
            f"the JWKS endpoint {where} answered {raw.status_code}",
            status_code=raw.status_code,
            # RFC 9110 §10.2.3: the cache waits at least this long to retry.
            retry_after=parse_retry_after(raw.retry_after, raw.sent_at),
            body_excerpt=excerpt(raw.body),
            url=where,
        )
    if raw.truncated:
        raise TokenResponseError(
            f"the JWKS at {where} is larger than {MAX_JWKS_BYTES} bytes", url=where
        )
    try:
        keys = parse_jwks(raw.body)
    except (ValueError, UnicodeDecodeError):
        raise TokenResponseError(
            f"the JWKS at {where} is not a JSON object with a 'keys' array",
            content_type=raw.content_type,
            body_excerpt=excerpt(raw.body),
            url=where,
        ) from None
    if not keys.keys:
        raise TokenResponseError(f"the JWKS at {where} holds no usable signing key", url=where)
    logger.debug("fetched the JWKS from %s: %d usable keys", where, len(keys.keys))
    return FetchedJWKS(keys, cache_max_age(raw.cache_control))
