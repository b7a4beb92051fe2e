"""External: a token from a token service or an async callable outside OAuth."""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from .._closing import AsyncClosing
from .._errors import ConfigError, TokenRequestError, TokenSourceError
from .._http import HttpClient, check_endpoint_url
from .._identity import credential_digest, identity_digest
from .._redact import safe_url
from .._source import Clock
from .._token import Token
from .._wire import parse_token_response
from ._external_token import apply_expires_at, token_from_result

__all__ = ["External", "FetchToken"]

FetchToken = Callable[[], Awaitable[Token | Mapping[str, Any]]]
"""An async callable returning a ``Token`` or a token-response mapping."""

# RFC 9110 §5.1: a field name is a token (§5.6.2).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 §5.5: visible characters with spaces and tabs inside. obs-text
# (bytes 0x80-0xFF) is left out: httpx encodes str header values as ASCII,
# and the encoding error would carry the whole value.
_FIELD_VALUE = re.compile(r"[\x21-\x7e \t]*")


class External(AsyncClosing):
    """A token source that takes tokens from somewhere other than an OAuth grant.

    Two modes, exactly one of which is chosen:

    * **URL**: ``GET`` (or ``POST``, with an empty body) ``url`` with your
      ``headers`` — typically the token service's own API key — and read a
      JSON answer with ``access_token``, ``token_type`` and either
      ``expires_at`` (RFC 3339 or epoch seconds) or ``expires_in``
      (seconds). When both are present, ``expires_at`` wins. Answers are
      read with a size limit and judged like token responses: a non-2xx is a
      ``TokenEndpointError``, a body that is not JSON or has no
      ``access_token`` a ``TokenResponseError``.
    * **Callable**: ``await fetch()`` returns a ``Token`` or a mapping with
      the same fields (``expires_at`` may also be an aware ``datetime``),
      for example an adapter around a cloud SDK's credential.

    Either way, a token that has already expired, or whose expiry is more
    than ten years away (usually milliseconds taken for seconds), is a
    ``TokenResponseError``.

    Failures of the callable: a ``TokenSourceError`` it raises passes
    through unchanged, so it can say whether trying again may help; any
    other exception becomes a ``TokenRequestError`` (transient, so
    ``retry()`` retries it) with the original as ``__cause__``, because a
    network failure inside an SDK surfaces as the SDK's own exception type.
    Raise ``TokenResponseError`` or ``ConfigError`` yourself for failures that
    retrying cannot fix. Cancellation always propagates untouched.

    Header values and the URL's query are treated as secrets: they never
    appear in a ``repr``, an error message or a log line.

    Args:
        url: the token service URL (URL mode). Plain ``http://`` is refused
            unless the host is loopback or ``allow_insecure_http=True``.
        fetch: an async callable taking no arguments (callable mode).
        method: ``"GET"`` (default) or ``"POST"``; URL mode only.
        headers: request headers, such as an API key; URL mode only.
            Names must be RFC 9110 tokens; values must be visible ASCII,
            with spaces or tabs only between other characters.
            ``Accept: application/json`` is added unless you set ``Accept``.
        http: an ``httpx.AsyncClient`` to send with; URL mode only. It is
            not closed by ``aclose()``; a client the source creates is.
        clock: wall-clock time, for expiry.
        allow_insecure_http: permit ``http://`` to non-loopback hosts.

    Raises:
        ConfigError: not exactly one of ``url`` and ``fetch``, a URL-mode
            option in callable mode, or an unacceptable argument.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        fetch: FetchToken | None = None,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        allow_insecure_http: bool = False,
    ) -> None:
        self._clock = clock
        self._fetch = fetch
        self.url = url
        self.method = _method(method)
        self._headers = _headers(headers)
        self._http: HttpClient | None = None
        if fetch is not None:
            if url is not None:
                raise ConfigError("pass exactly one of url and fetch, not both")
            if not callable(fetch):
                raise ConfigError("fetch must be an async callable")
            if headers is not None or http is not None or self.method != "GET":
                raise ConfigError("method, headers and http apply to url mode only, not to fetch")
            self._name = _callable_name(fetch)
            return
        if url is None:
            raise ConfigError("pass exactly one of url and fetch")
        self.url = check_endpoint_url(url, name="url", allow_insecure_http=allow_insecure_http)
        self._http = HttpClient(http, clock=clock)
        self._name = safe_url(self.url)

    def __repr__(self) -> str:
        if self._fetch is not None:
            return f"External(fetch={self._name})"
        names = sorted(self._headers)
        return f"External(url={self._name!r}, method={self.method!r}, headers={names!r})"

    async def token(self) -> Token:
        """Fetch a token from the service or the callable.

        Every call makes one request (or one call); wrap the source in
        ``reuse()`` to cache.

        Concurrency and cancellation: safe to call from many tasks at once;
        each call is independent. Cancelling a call abandons its request or
        cancels the callable's await.

        Raises:
            TokenRequestError: the request could not be completed, or the
                callable raised something other than a ``TokenSourceError``.
            TokenEndpointError: the service answered with an error status.
            TokenResponseError: the answer or result is not a usable token.
            TokenSourceError: whatever the callable raised of this kind.
        """
        if self._fetch is not None:
            return await self._call(self._fetch)
        http, url = self._http, self.url
        if http is None or url is None:  # pragma: no cover - the constructor sets a mode
            raise AssertionError("External has neither url nor fetch")
        headers = {"accept": "application/json"}
        headers.update(self._headers)  # names are lower case, so the user's Accept replaces ours
        # Every header and query value the request carried is masked in
        # whatever is said about the answer (RawResponse.carried).
        raw = await http.request(self.method, url, headers=headers)
        return apply_expires_at(parse_token_response(raw), raw)

    async def _call(self, fetch: FetchToken) -> Token:
        started_at = self._clock()
        try:
            pending = fetch()
            if not inspect.isawaitable(pending):
                raise ConfigError(
                    f"fetch {self._name} returned a {type(pending).__name__}, not an awaitable; "
                    "pass an async callable (run blocking code with anyio.to_thread.run_sync)"
                )
            result = await pending
        except TokenSourceError:
            raise
        except Exception as exc:
            # Only Exception: cancellation (a BaseException) must pass untouched.
            raise TokenRequestError(
                f"fetch {self._name} raised {type(exc).__name__}; see the cause"
            ) from exc
        return token_from_result(result, started_at=started_at, origin=f"fetch {self._name}")

    def invalidate(self, token: Token) -> None:
        """Do nothing: this source keeps no token (see ``reuse()``)."""

    @property
    def cache_identity(self) -> str:
        """A digest naming where this source's tokens come from, for shared caches.

        URL mode: the URL, the method and a one-way digest of the headers, so
        two sources with the same service and credentials share a token.
        Callable mode: the callable's name and object identity, which holds
        only within one process; give shared caches across processes (such
        as ``RedisShared``) an explicit ``key``.
        """
        if self._fetch is not None:
            target = getattr(self._fetch, "__self__", None)
            function = getattr(self._fetch, "__func__", self._fetch)
            material: dict[str, Any] = {
                "fetch": self._name,
                "object": [id(function), id(target) if target is not None else None],
            }
        else:
            material = {
                "url": self.url,
                "method": self.method,
                "headers": credential_digest(
                    *(f"{k}:{v}" for k, v in sorted(self._headers.items()))
                ),
            }
        return identity_digest({"external": material})

    async def aclose(self) -> None:
        """Close the HTTP client if this source created it (not one you passed)."""
        if self._http is not None:
            await self._http.aclose()


def _method(method: str) -> str:
    if not isinstance(method, str) or method.upper() not in ("GET", "POST"):
        raise ConfigError('method must be "GET" or "POST"')
    return method.upper()


def _headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Headers with lower-case names; values are never echoed in messages."""
    result: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ConfigError(
                f"header name {_shown_name(name)} is not a valid HTTP header name "
                "(RFC 9110 token characters only)"
            )
        if not isinstance(value, str):
            raise ConfigError(f"the value of header {name!r} must be a string")
        problem = _value_problem(value)
        if problem:
            raise ConfigError(f"the value of header {name!r} {problem}")
        if name.lower() in result:
            raise ConfigError(f"header {name!r} is given twice (names ignore case)")
        result[name.lower()] = value
    return result


def _shown_name(name: object) -> str:
    """A bad header name for a message, cut at its first bad character.

    A name like ``"Authorization: Bearer ..."`` carries a value after the
    colon, so only the valid prefix is shown.
    """
    if not isinstance(name, str):
        return f"of type {type(name).__name__}"
    prefix = _TOKEN.match(name)
    shown = prefix.group() if prefix else ""
    return repr(shown + "...") if shown != name else repr(name)


def _value_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as a header value, without quoting it; None if it can."""
    if any(c in value for c in "\r\n\x00"):
        return "contains a line break or NUL"
    if not _FIELD_VALUE.fullmatch(value):
        return "contains a control or non-ASCII character"
    if value != value.strip(" \t"):
        return "has leading or trailing whitespace"
    return None


def _callable_name(fetch: object) -> str:
    """``module.qualname`` of a callable, from attributes only (a repr may hold secrets)."""
    name = getattr(fetch, "__qualname__", None) or type(fetch).__qualname__
    module = getattr(fetch, "__module__", None) or type(fetch).__module__
    return f"{module}.{name}"
