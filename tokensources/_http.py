"""The HTTP exchange shared by every source that talks to an endpoint.

Owns the optional ``httpx.AsyncClient``, checks endpoint URLs, sends one
request and reads its answer with a size limit, notes the credentials the
request carried (so that nothing said about its answer shows them), and
turns transport failures into ``TokenRequestError``.

httpx logs every request's full URL at INFO on the ``httpx`` logger, query
and all, and has no per-client switch for it. For the clients the library
creates itself, the query's values are masked in those records (by a filter
on that logger that touches only requests those clients sent); a client you
pass in as ``http=`` is yours, and so is its log.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import weakref
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import anyio.lowlevel
import httpx

from ._errors import ConfigError, TokenRequestError, TokenResponseError
from ._foreign_loop import aclose_at_end, aclose_on
from ._redact import credential_values, excerpt, logged_url, safe_url
from ._source import Clock
from ._wire import RawResponse

__all__ = ["DEADLINE", "DEFAULT_TIMEOUT", "MAX_BODY_BYTES", "HttpClient", "check_endpoint_url"]

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Token responses are a few KiB; a megabyte is generous and bounds a hostile body.
MAX_BODY_BYTES = 1024 * 1024
# How much of an oversized body is read (and dropped) before giving up on it.
DRAIN_LIMIT = 32 * 1024 * 1024
# The most one exchange (send and read) may take, whatever the per-read timeouts.
DEADLINE = 30.0
# Headers that describe a request rather than authenticate it; the values of
# all others are treated as credentials.
_PLAIN_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "connection",
        "content-length",
        "content-type",
        "host",
        "user-agent",
    }
)


def check_endpoint_url(url: str, *, name: str = "token_url", allow_insecure_http: bool) -> str:
    """Validate an endpoint URL and return it.

    Plain ``http://`` is refused unless the host is loopback or
    ``allow_insecure_http`` is set: a client secret sent in clear over a
    network is a leaked secret.

    Raises:
        ConfigError: the URL is not absolute http(s), or is insecure.
    """
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{name} must be a non-empty URL string")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        parts = None
    if parts is None:
        # Raised outside the handler: the parse error would quote the URL.
        raise ConfigError(f"{name} is not a valid URL")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{name} must be an absolute http(s) URL, got {safe_url(url)!r}")
    if parts.username or parts.password:
        raise ConfigError(f"{name} must not carry credentials in the URL")
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"{name} {safe_url(url)!r} uses plain http to a non-loopback host; "
            "use https, or pass allow_insecure_http=True if you really mean it"
        )
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpClient:
    """An ``httpx.AsyncClient`` that is either borrowed or owned.

    A borrowed client (passed by the user) is never closed by us; an owned one
    is created on first use and closed by ``aclose()``.
    """

    def __init__(
        self,
        http: httpx.AsyncClient | None,
        *,
        clock: Clock,
        deadline: float = DEADLINE,
        ssl_context: ssl.SSLContext | Callable[[], ssl.SSLContext | None] | None = None,
    ) -> None:
        if http is not None and not isinstance(http, httpx.AsyncClient):
            raise ConfigError("http must be an httpx.AsyncClient")
        # A callable is asked before every request: a client certificate renewed
        # on disk gives a new context, and the owned client is rebuilt with it.
        self._context = ssl_context if callable(ssl_context) else lambda: ssl_context
        if http is not None and self._context() is not None:
            # The context (a client certificate) cannot be put into a client
            # that is already built; silently not using it would fail later.
            raise ConfigError(
                "this client authentication needs its own TLS context: give your http "
                "client verify=<the context>, or let the source create its client"
            )
        self._client = http
        self._owned = http is None
        self._clock = clock
        self._deadline = deadline
        self._built_with: ssl.SSLContext | None = None
        self._loop: anyio.lowlevel.EventLoopToken | None = None
        # Clients replaced by a renewed certificate on this loop, while requests
        # still run on them: each is closed when its last request ends (requests
        # are bounded by the deadline), or by aclose(). `_users` counts the
        # requests running on each client.
        self._retired: list[httpx.AsyncClient] = []
        self._users: dict[httpx.AsyncClient, int] = {}

    def _get(self) -> httpx.AsyncClient:
        if not self._owned:
            assert self._client is not None  # noqa: S101 - a borrowed client is always set
            return self._client
        # An owned client's connections belong to the event loop that opened
        # them; a source used from a later loop (a new asyncio.run, a bridge
        # that moved) gets a client of its own instead of "Event loop is closed".
        loop = anyio.lowlevel.current_token()
        context = self._context()
        if (
            self._client is None
            or self._client.is_closed  # closed at its loop's end
            or loop != self._loop
            or context is not self._built_with
        ):
            if self._client is not None and loop == self._loop:
                self._retired.append(self._client)
            elif self._client is not None and self._loop is not None:
                # Its sockets belong to that loop: closed there, not dropped open.
                for old in (*self._retired, self._client):
                    aclose_on(self._loop, old)
                self._retired = []
            verify: ssl.SSLContext | bool = context or True
            self._client = httpx.AsyncClient(
                timeout=DEFAULT_TIMEOUT, follow_redirects=False, verify=verify
            )
            # A loop that ends with the source still open closes this client first.
            aclose_at_end(self._client)
            self._loop = loop
            self._built_with = context
        return self._client

    async def aclose(self) -> None:
        """Close the client if we created it.

        A client opened by an event loop that is no longer the current one
        cannot be closed from here (its sockets belong to that loop); it is
        closed on that loop instead, if it still runs.
        """
        retired, self._retired = self._retired, []
        if self._owned and self._client is not None:
            client, self._client = self._client, None
            if anyio.lowlevel.current_token() == self._loop:
                for old in retired:
                    await old.aclose()
                await client.aclose()
            elif self._loop is not None:
                for old in (*retired, client):
                    aclose_on(self._loop, old)

    async def request(
        self,
        method: str,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        max_body: int = MAX_BODY_BYTES,
        on_headers: Callable[[httpx.Headers], None] | None = None,
    ) -> RawResponse:
        """Send one request and read at most ``max_body`` bytes of the answer.

        ``on_headers``, when given, sees the answer's headers as they arrive
        (DPoP learns ``DPoP-Nonce`` from them). ``json``, when given, is
        sent as an ``application/json`` body instead of the ``data`` form.

        Concurrency and cancellation: safe for concurrent use (httpx pools
        connections). Cancelling the caller abandons the request.

        Raises:
            TokenRequestError: the request could not be completed.
        """
        client = self._get()
        self._users[client] = self._users.get(client, 0) + 1
        try:
            return await self._send(
                client,
                method,
                url,
                data=data,
                json=json,
                headers=headers,
                max_body=max_body,
                on_headers=on_headers,
            )
        finally:
            self._users[client] -= 1
            if not self._users[client]:
                del self._users[client]
            if self._retired and anyio.lowlevel.current_token() == self._loop:
                await self._close_idle_retired()

    async def _close_idle_retired(self) -> None:
        """Close the replaced clients no request runs on any more."""
        idle = [old for old in self._retired if old not in self._users]
        for old in idle:
            self._retired.remove(old)
        with anyio.CancelScope(shield=True):
            for old in idle:
                await old.aclose()

    async def _send(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        data: Mapping[str, str] | None,
        json: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        max_body: int,
        on_headers: Callable[[httpx.Headers], None] | None,
    ) -> RawResponse:
        request = client.build_request(method, url, data=data, json=json, headers=headers)
        # Bodies are read raw (see _read_bounded); br/zstd would need extra decoders.
        request.headers["Accept-Encoding"] = "gzip, deflate"
        if self._owned:
            # Checked on every request: logging may have been reconfigured since.
            _OWN_REQUESTS.install()
            _OWN_REQUESTS.add(request.url)
        sent_at = self._clock()
        try:
            # httpx timeouts bound each read, not the whole exchange: a server
            # trickling bytes would otherwise hold every waiting caller forever.
            with anyio.fail_after(self._deadline):
                # Never follow a redirect: it would re-send the credentials in the
                # form to wherever the server points, plain http included.
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    if on_headers is not None:
                        on_headers(response.headers)
                    body, truncated = await _read_bounded(response, max_body)
                finally:
                    await response.aclose()
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise _request_error(url, "timed out", exc) from None
        except httpx.TransportError as exc:
            raise _request_error(url, "failed", exc) from None
        return RawResponse(
            status_code=response.status_code,
            content_type=response.headers.get("content-type", ""),
            body=body,
            retry_after=response.headers.get("retry-after"),
            sent_at=sent_at,
            truncated=truncated,
            url=url,
            cache_control=response.headers.get("cache-control"),
            # The request as sent: your client's default headers and auth included.
            carried=carried_credentials(response.request),
        )


def carried_credentials(request: httpx.Request) -> tuple[str, ...]:
    """The credentials ``request`` carries: its non-descriptive header values and query values."""
    values = [value for name, value in request.headers.items() if name not in _PLAIN_HEADERS]
    values += [value for _, value in parse_qsl(request.url.query.decode("ascii", "replace"))]
    return credential_values(values)


class _OwnRequests(logging.Filter):
    """Masks the query values in httpx's request log records of the library's own requests.

    httpx logs ``request.url`` itself (the object); the requests of the
    clients the library owns are remembered by that object's identity,
    weakly, so a record is recognised exactly and nothing outlives its
    request. Records of any other request pass untouched.
    """

    def __init__(self) -> None:
        super().__init__()
        self._urls: weakref.WeakValueDictionary[int, httpx.URL] = weakref.WeakValueDictionary()

    def install(self) -> None:
        """Add the filter to the ``httpx`` logger, unless it is there already."""
        logger = logging.getLogger("httpx")
        if self not in logger.filters:
            logger.addFilter(self)

    def add(self, url: httpx.URL) -> None:
        """Remember that the request to ``url`` (this very object) is the library's own."""
        if url.query:
            self._urls[id(url)] = url

    def _own(self, value: object) -> bool:
        return isinstance(value, httpx.URL) and self._urls.get(id(value)) is value

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the query of the library's own URLs in ``record``; never drop a record."""
        args = record.args
        if isinstance(args, tuple) and any(self._own(arg) for arg in args):
            record.args = tuple(logged_url(str(arg)) if self._own(arg) else arg for arg in args)
        return True


_OWN_REQUESTS = _OwnRequests()


def _request_error(url: str, what: str, exc: Exception) -> TokenRequestError:
    """A TokenRequestError that names the failure without chaining httpx's exception.

    httpx's exceptions carry the request (its Authorization header and form,
    secrets included) and protocol errors quote offending header values, so
    they are not chained: only the kind of failure, and for network failures
    the operating system's reason, are kept.
    """
    reason = type(exc).__name__
    tls, untrusted = _tls_failure(exc)
    if tls is not None:
        reason = f"{reason}: {tls}"
    elif isinstance(exc, (httpx.ConnectError, httpx.TimeoutException)) and str(exc):
        reason = f"{reason}: {excerpt(str(exc), limit=120)}"
    where = safe_url(url)
    return TokenRequestError(
        f"request to {where} {what} ({reason})",
        url=where,
        reason=reason,
        # An untrusted server certificate is configuration (ca=, the trust
        # store, the URL): the next attempt would be refused just the same.
        transient=not untrusted,
    )


# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED.
_CERTIFICATE_TIME_CODES = frozenset({9, 10})


def _tls_failure(exc: BaseException) -> tuple[str | None, bool]:
    """What a failed TLS handshake said, when that is what ``exc`` came from.

    trio reports a refused server certificate with an empty message, the
    ``ssl`` error only in the chain; it is the one thing worth saying.

    Returns:
        The description (None when ``exc`` did not come from TLS), and
        whether the failure was a server certificate that is not trusted
        (its chain or its name; not its validity period, which time mends).
    """
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            said = (
                "CERTIFICATE_VERIFY_FAILED, the server's TLS certificate is not trusted "
                f"({excerpt(str(seen.verify_message), limit=80)})"
            )
            # A server certificate expired or not valid yet is the server's to
            # renew (or a clock that is off): it may be right on the next try.
            return said, seen.verify_code not in _CERTIFICATE_TIME_CODES
        if isinstance(seen, ssl.SSLError):
            return f"TLS handshake failed ({excerpt(str(seen.reason or seen), limit=80)})", False
        seen = seen.__cause__ or seen.__context__
    return None, False


async def _read_bounded(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Keep at most ``limit`` decoded bytes of the body; say whether there was more.

    Past the limit the rest is read and dropped, up to ``DRAIN_LIMIT`` bytes:
    finishing the stream lets httpx finalise its nested async generators (on
    trio an abandoned one is a ResourceWarning); only a body beyond that is
    abandoned mid-way.
    """
    if response.is_stream_consumed:
        # Already in memory (an in-memory transport built it from bytes).
        return response.content[:limit], len(response.content) > limit
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    decoder = None
    if encoding in ("gzip", "deflate"):
        # 47 = autodetect zlib or gzip headers; bounded output guards against zip bombs.
        decoder = zlib.decompressobj(wbits=47 if encoding == "gzip" else 15)
    kept = bytearray()
    received = 0
    truncated = corrupt = False
    # Nothing is raised inside the loop: leaving it early would abandon httpx's
    # nested async generators (a ResourceWarning on trio); the rest is drained.
    async for raw in response.aiter_raw():
        received += len(raw)
        if not (truncated or corrupt):
            room = limit + 1 - len(kept)
            try:
                chunk = raw if decoder is None else decoder.decompress(raw, room)
            except zlib.error:
                corrupt = True
                continue
            kept += chunk[:room]
            truncated = len(kept) > limit or bool(decoder and decoder.unconsumed_tail)
        if received > DRAIN_LIMIT:
            break
    if corrupt:
        url = safe_url(str(response.url))
        raise TokenResponseError(
            f"the body from {url} is not valid {encoding} data",
            status_code=response.status_code,
            content_type=response.headers.get("content-type"),
            url=url,
        )
    return bytes(kept[:limit]), truncated
