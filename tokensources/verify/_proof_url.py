"""The URL a DPoP proof must name for an ASGI request (RFC 9449 §4.3 ``htu``).

Either the application names where its clients send requests
(``public_url``: one or several base URLs, each perhaps with the path
prefix a proxy strips), and the URL is such a base followed by the path the
application received; or it is built from the request itself: its scheme,
its ``Host`` header (which the client chooses), the server's ``root_path``
and the path. The path is always taken as sent (``raw_path``), so that its
percent-encoding is the client's.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from .._errors import ConfigError

__all__ = ["proof_urls", "public_bases"]


def public_bases(url: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """``url`` checked as where clients send requests: ``scheme://host[:port][/prefix]``.

    ``url`` is one such URL or several (an API known by several names).
    Each is returned without a trailing ``/``; a proof's ``htu`` must be
    one of them followed by the path the application received.

    Raises:
        ConfigError: a URL is not an absolute http(s) URL without user
            information, query or fragment, or the list is empty.
    """
    if url is None:
        return None
    urls = [url] if isinstance(url, str) else url
    try:
        bases = tuple(_checked_base(one) for one in urls)
    except TypeError:  # not iterable, or an unhashable item
        bases = ()
    if not bases:
        raise ConfigError(
            "public_url must be a URL such as 'https://api.example.com', or a list of them"
        )
    return bases


# ``authenticate`` is called per request with the application's few URLs.
@functools.lru_cache(maxsize=64)
def _checked_base(url: object) -> str:
    parts = urlsplit(url) if isinstance(url, str) else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or "?" in str(url)
        or "#" in str(url)
    ):
        raise ConfigError(
            "public_url must be a URL such as 'https://api.example.com' or "
            "'https://api.example.com/prefix': scheme, host and an optional path "
            "prefix, no user information, query or fragment"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _path(scope: Mapping[str, Any]) -> str:
    """The request's path as sent (``raw_path``, so its percent-encoding is the client's)."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw.decode("latin-1").partition("?")[0]
    return _quoted(str(scope.get("path", "/")))


def _quoted(path: str) -> str:
    return quote(path, safe="/%!$&'()*+,;=:@~")


def _with_root_path(scope: Mapping[str, Any], path: str) -> str:
    """``path`` with as much of ``root_path`` in front as it does not already start with.

    Servers disagree: uvicorn (>= 0.26) puts ``root_path`` in front of
    ``path`` and ``raw_path`` itself, others (and ``httpx.ASGITransport``)
    leave it out, and a Starlette ``Mount`` adds its prefix to ``root_path``
    while ``path`` keeps it. So the longest end of ``root_path`` (on a
    segment boundary) that ``path`` starts with is not repeated: ``/gw/svc``
    and ``/svc/x`` make ``/gw/svc/x``, ``/svc`` and ``/svc/x`` stay
    ``/svc/x``, ``/svc`` and ``/x`` make ``/svc/x``.
    """
    root = _quoted(str(scope.get("root_path", "") or "").rstrip("/"))
    for start in range(len(root)):
        if root[start] != "/":
            continue
        tail = root[start:]
        if path == tail or path.startswith(tail + "/"):
            return root[:start] + path
    return root + path


def proof_urls(
    scope: Mapping[str, Any], hosts: list[str], bases: tuple[str, ...] | None = None
) -> list[str]:
    """The URLs an ASGI request may name in a proof's ``htu``, without query.

    The path is taken as sent (``raw_path``) when the server gives it, so
    that its percent-encoding is the client's (RFC 9449 §4.3). With
    ``bases`` (``public_url``), each base followed by that path. Without,
    the request's scheme and ``Host`` header followed by ``root_path`` and
    the path: ``Host`` is the client's to choose, so a proof made for
    another server that shares this one's tokens is accepted here when its
    sender says that server's name (hence ``public_url``).

    Args:
        scope: the ASGI scope.
        hosts: the request's ``Host`` header values (the first is used).
        bases: what ``public_bases`` made of ``public_url``, or None.
    """
    path = _path(scope)
    if bases is not None:
        return [f"{base}{path}" for base in bases]
    server = scope.get("server")
    if hosts:
        host = hosts[0]
    elif isinstance(server, (list, tuple)) and len(server) == 2:
        host = f"{server[0]}:{server[1]}"
    else:
        host = "localhost"
    scheme = "https" if str(scope.get("scheme", "http")) in ("https", "wss") else "http"
    return [f"{scheme}://{host}{_with_root_path(scope, path)}"]
