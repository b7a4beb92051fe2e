"""httpx transports that send each request with the certificate its token is bound to.

``CertificateTransport`` (for ``httpx.AsyncClient``) and
``SyncCertificateTransport`` (for ``httpx.Client``) hold one inner httpx
transport per certificate version and route every request as
``CertificateRoutes`` decides (see ``_certificate_routes``). A request
counts as in flight until its response is closed, so that a pool is never
closed under a response still being read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from typing import Any

import anyio
import httpx

from .._errors import ConfigError
from .._log import logger
from .._source import Clock
from ._certificate_routes import CertificateRoutes, Generation
from ._certificates import ClientCertificate, LoadedCertificate

__all__ = ["CertificateTransport", "SyncCertificateTransport"]

# The inner transports take their TLS context from the certificate version.
_OWN_SETTINGS = ("verify", "cert")


def _checked_settings(settings: dict[str, Any]) -> dict[str, Any]:
    given = sorted(name for name in _OWN_SETTINGS if name in settings)
    if given:
        raise ConfigError(
            f"{', '.join(given)} cannot be given to the certificate transport: "
            "it presents the client certificate and verifies servers against the source's ca"
        )
    return settings


class CertificateTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncClient`` transport that presents the certificate each token is bound to.

    Made by ``MutualTLS.transport()``. Every request goes over an inner
    ``httpx.AsyncHTTPTransport`` whose TLS context presents the client
    certificate named by the request's token (``cnf.x5t#S256``): the
    current certificate, or the one before it while tokens bound to it are
    still in use after a renewal. A request whose token is not bound goes
    over the current certificate. Pooled connections of each certificate
    are reused as by any httpx transport.

    Concurrency and cancellation: safe for any number of concurrent
    requests. A cancelled request gives its place back; an inner transport
    let go of is closed once its last response is closed, shielded from
    cancellation. ``aclose()`` closes every inner transport.

    Args:
        certificate: the client certificate, as the source follows it.
        clock: wall-clock time, for the certificates' validity.
        settings: keyword arguments for each ``httpx.AsyncHTTPTransport``
            (``http2``, ``limits``, ``retries``, ``proxy``, ...), but
            ``verify`` and ``cert``.

    Raises:
        ConfigError: ``verify`` or ``cert`` was given.
    """

    def __init__(self, certificate: ClientCertificate, *, clock: Clock, **settings: Any) -> None:
        settings = _checked_settings(settings)

        def make(loaded: LoadedCertificate) -> httpx.AsyncHTTPTransport:
            return httpx.AsyncHTTPTransport(verify=loaded.context, **settings)

        self._routes = CertificateRoutes(certificate, make, clock)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` over the certificate its token is bound to.

        Raises:
            RuntimeError: the transport was closed.
            ConfigError: the certificate has expired and was not renewed.
        """
        routes = self._routes
        generation = routes.take(request.headers.get("authorization"))
        try:
            if routes.closing:
                await self._close_each(strict=False)
            response = await generation.transport.handle_async_request(request)
            stream = response.stream
            assert isinstance(stream, httpx.AsyncByteStream)  # noqa: S101 - an async transport's
        except BaseException:
            await self._give_back(generation)
            raise
        response.stream = _CountedAsyncStream(stream, partial(self._give_back, generation))
        return response

    async def _give_back(self, generation: Generation[httpx.AsyncHTTPTransport]) -> None:
        self._routes.give_back(generation)
        if self._routes.closing:
            await self._close_each(strict=False)

    async def _close_each(self, *, strict: bool) -> None:
        """Close the generations let go of, one at a time.

        Shielded (anyio) so that a cancelled request does not leave a pool
        half closed; a cancellation that a shield does not stop (asyncio's
        own, ``asyncio.timeout``) puts the one being closed back, to be
        closed later. A failure to close an old pool is logged, not made
        the failure of an unrelated request; ``strict`` (``aclose()``)
        raises the first one after trying every generation.
        """
        routes = self._routes
        failure: Exception | None = None
        with anyio.CancelScope(shield=True):
            while (generation := routes.next_to_close()) is not None:
                try:
                    await generation.transport.aclose()
                except Exception as exc:  # noqa: PERF203 - one per old pool; not closed again
                    failure = failure or exc
                    if not strict:
                        logger.warning("closing an old client-certificate pool failed: %r", exc)
                except BaseException:  # cancelled mid-way: closed later
                    routes.put_back(generation)
                    raise
        if strict and failure is not None:
            raise failure

    async def aclose(self) -> None:
        """Close every inner transport (their pooled connections); later requests raise.

        Raises:
            Exception: the first error an inner transport raised closing
                (every other one is closed all the same).
        """
        self._routes.close_all()
        await self._close_each(strict=True)


class _CountedAsyncStream(httpx.AsyncByteStream):
    """A response body that gives its request's place back when closed."""

    def __init__(
        self, stream: httpx.AsyncByteStream, give_back: Callable[[], Awaitable[None]]
    ) -> None:
        self._stream = stream
        self._give_back: Callable[[], Awaitable[None]] | None = give_back

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        give_back, self._give_back = self._give_back, None
        try:
            await self._stream.aclose()
        finally:
            if give_back is not None:  # once, however often the body is closed
                await give_back()


class SyncCertificateTransport(httpx.BaseTransport):
    """The ``httpx.Client`` twin of ``CertificateTransport``: the same routing, blocking I/O.

    Made by ``MutualTLS.sync_transport()``. Safe for use from many threads
    at once.

    Args:
        certificate: the client certificate, as the source follows it.
        clock: wall-clock time, for the certificates' validity.
        settings: keyword arguments for each ``httpx.HTTPTransport``, but
            ``verify`` and ``cert``.

    Raises:
        ConfigError: ``verify`` or ``cert`` was given.
    """

    def __init__(self, certificate: ClientCertificate, *, clock: Clock, **settings: Any) -> None:
        settings = _checked_settings(settings)

        def make(loaded: LoadedCertificate) -> httpx.HTTPTransport:
            return httpx.HTTPTransport(verify=loaded.context, **settings)

        self._routes = CertificateRoutes(certificate, make, clock)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` over the certificate its token is bound to.

        Raises:
            RuntimeError: the transport was closed.
            ConfigError: the certificate has expired and was not renewed.
        """
        routes = self._routes
        generation = routes.take(request.headers.get("authorization"))
        try:
            if routes.closing:
                self._close_each(strict=False)
            response = generation.transport.handle_request(request)
            stream = response.stream
            assert isinstance(stream, httpx.SyncByteStream)  # noqa: S101 - a sync transport's
        except BaseException:
            self._give_back(generation)
            raise
        response.stream = _CountedSyncStream(stream, partial(self._give_back, generation))
        return response

    def _give_back(self, generation: Generation[httpx.HTTPTransport]) -> None:
        self._routes.give_back(generation)
        if self._routes.closing:
            self._close_each(strict=False)

    def _close_each(self, *, strict: bool) -> None:
        """Close the generations let go of, one at a time (as the async transport's)."""
        routes = self._routes
        failure: Exception | None = None
        while (generation := routes.next_to_close()) is not None:
            try:
                generation.transport.close()
            except Exception as exc:  # noqa: PERF203 - one per old pool; not closed again
                failure = failure or exc
                if not strict:
                    logger.warning("closing an old client-certificate pool failed: %r", exc)
            except BaseException:  # interrupted mid-way: closed later
                routes.put_back(generation)
                raise
        if strict and failure is not None:
            raise failure

    def close(self) -> None:
        """Close every inner transport (their pooled connections); later requests raise.

        Raises:
            Exception: the first error an inner transport raised closing
                (every other one is closed all the same).
        """
        self._routes.close_all()
        self._close_each(strict=True)


class _CountedSyncStream(httpx.SyncByteStream):
    """A response body that gives its request's place back when closed."""

    def __init__(self, stream: httpx.SyncByteStream, give_back: Callable[[], None]) -> None:
        self._stream = stream
        self._give_back: Callable[[], None] | None = give_back

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        give_back, self._give_back = self._give_back, None
        try:
            self._stream.close()
        finally:
            if give_back is not None:  # once, however often the body is closed
                give_back()
