"""Closing the certificate transport's inner transports: nothing is lost to errors or cancellation.

The inner transports here stand in for httpx's (their closing is what
fails or is cancelled); the routing and the certificates are real. The
cancellation test is asyncio-only by nature: it is asyncio's own
cancellation (``task.cancel()``, ``asyncio.timeout``), which an anyio
shield does not stop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import trustme

from tests.support.clock import FakeClock
from tests.support.mtls import Pair, issued
from tokensources.sources._certificate_routes import CertificateRoutes
from tokensources.sources._certificate_transport import (
    CertificateTransport,
    SyncCertificateTransport,
)
from tokensources.sources._certificates import ClientCertificate, LoadedCertificate

pytestmark = pytest.mark.anyio


class Body(httpx.AsyncByteStream):
    """A response body read as it arrives, like an inner transport's."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"ok"


class Inner(httpx.AsyncBaseTransport):
    """An inner transport that answers 200 and whose closing can fail or wait."""

    def __init__(self, loaded: LoadedCertificate) -> None:
        self.closed = False
        self.fail = False
        self.closing = anyio.Event()
        self.release: anyio.Event | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Body())

    async def aclose(self) -> None:
        self.closing.set()
        if self.release is not None:
            await self.release.wait()
        if self.fail:
            raise OSError("the pool could not be closed")
        self.closed = True


class World:
    """A certificate renewed on disk and a transport over inner transports that are recorded."""

    def __init__(self, directory: Path, ca: trustme.CA, clock: FakeClock) -> None:
        self.ca = ca
        self.certificate_path, self.key_path = directory / "tls.crt", directory / "tls.key"
        self.renew(issued(ca))
        self.certificate = ClientCertificate(
            self.certificate_path, self.key_path, key_password=None, ca=None, clock=clock
        )
        self.made: list[Inner] = []
        self.transport = CertificateTransport(self.certificate, clock=clock)
        routes = CertificateRoutes(self.certificate, self._make, clock)
        self.transport._routes = routes  # type: ignore[assignment]  # recorded inner transports

    def _make(self, loaded: LoadedCertificate) -> Inner:
        self.made.append(Inner(loaded))
        return self.made[-1]

    def renew(self, pair: Pair) -> None:
        for path, data in ((self.key_path, pair.key), (self.certificate_path, pair.certificate)):
            path.with_suffix(".new").write_bytes(data)
            os.replace(path.with_suffix(".new"), path)

    def renewed(self) -> None:
        self.renew(issued(self.ca))
        self.certificate.current()

    async def send(self) -> int:
        request = httpx.Request("GET", "https://api.example/")
        response = await self.transport.handle_async_request(request)
        await response.aclose()
        return response.status_code


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_a_pool_that_fails_to_close_does_not_fail_a_request_nor_hide_the_others(
    tmp_path: Path, ca: trustme.CA, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """In the request path the error is logged; aclose() closes the rest, then raises it."""
    world = World(tmp_path, ca, clock)
    assert await world.send() == 200
    world.made[0].fail = True
    world.renewed()
    world.renewed()  # the first version is let go of: closed by the next request
    with caplog.at_level(logging.WARNING, logger="tokensources"):
        assert await world.send() == 200
    assert [record.getMessage()[:41] for record in caplog.records] == [
        "closing an old client-certificate pool fa"
    ]
    world.made[-1].fail = True
    with pytest.raises(OSError, match="could not be closed"):
        await world.transport.aclose()
    assert [each.closed for each in world.made] == [False, True, False]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_native_cancellation_while_closing_keeps_what_is_not_closed(
    tmp_path: Path, ca: trustme.CA, clock: FakeClock
) -> None:
    """aclose() cancelled by asyncio while closing the first pool: a second aclose() closes all."""
    world = World(tmp_path, ca, clock)
    assert await world.send() == 200
    world.renewed()
    assert await world.send() == 200
    first = world.made[0]
    first.release = anyio.Event()
    closing = asyncio.ensure_future(world.transport.aclose())
    with anyio.fail_after(5):
        await first.closing.wait()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert [each.closed for each in world.made] == [False, False]
    first.release.set()
    with anyio.fail_after(5):
        await world.transport.aclose()
    assert [each.closed for each in world.made] == [True, True]


class SyncInner(httpx.BaseTransport):
    """The sync twin of ``Inner``: answers 200; its closing can fail."""

    def __init__(self, loaded: LoadedCertificate) -> None:
        self.closed = False
        self.fail = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=SyncBody())

    def close(self) -> None:
        if self.fail:
            raise OSError("the pool could not be closed")
        self.closed = True


class SyncBody(httpx.SyncByteStream):
    """A response body read as it arrives."""

    def __iter__(self) -> Iterator[bytes]:
        yield b"ok"


def test_the_sync_transport_logs_a_failed_close_and_closes_the_rest(
    tmp_path: Path, ca: trustme.CA, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """As the async one: a request is not failed by an old pool; close() raises after the rest."""
    world = World(tmp_path, ca, clock)
    made: list[SyncInner] = []

    def make(loaded: LoadedCertificate) -> SyncInner:
        made.append(SyncInner(loaded))
        return made[-1]

    transport = SyncCertificateTransport(world.certificate, clock=clock)
    routes = CertificateRoutes(world.certificate, make, clock)
    transport._routes = routes  # type: ignore[assignment]  # recorded inner transports

    def send() -> int:
        response = transport.handle_request(httpx.Request("GET", "https://api.example/"))
        response.close()
        return response.status_code

    assert send() == 200
    made[0].fail = True
    world.renewed()
    world.renewed()
    with caplog.at_level(logging.WARNING, logger="tokensources"):
        assert send() == 200
    assert len(caplog.records) == 1
    made[-1].fail = True
    with pytest.raises(OSError, match="could not be closed"):
        transport.close()
    assert [each.closed for each in made] == [False, True, False]
