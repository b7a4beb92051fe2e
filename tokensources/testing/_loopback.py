"""A minimal HTTP/1.1 server (anyio + h11) for serving an ASGI app on loopback.

Enough HTTP for tests and benchmarks: keep-alive, Content-Length and chunked
request bodies with a hard size cap, one complete response per request, and
closing the socket when the app asks for a dropped connection. It runs in
the caller's event loop, on asyncio or trio.

Given a TLS context it serves HTTPS, with client certificates when the
context asks for them: each request's certificate goes to the app in the
ASGI TLS extension and in a header (see ``_tls``), any copy of that header
the client sent having been removed.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import anyio.abc
import h11
from anyio.streams.tls import TLSAttribute, TLSStream

from ._asgi import MAX_REQUEST_BODY, ConnectionDropped, Message, Receive, Scope, Send
from ._tls import CLIENT_CERT_HEADER, certificate_header

__all__ = ["serve_asgi"]

logger = logging.getLogger("tokensources.testing")

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
MAX_HEADER_BYTES = 16 * 1024
_READ_SIZE = 64 * 1024
_CLOSED = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
# Seconds a client may take to finish the TLS handshake.
_HANDSHAKE_TIMEOUT = 10.0
_CERT_HEADER = CLIENT_CERT_HEADER.encode("ascii")
Stream = anyio.abc.ByteStream


class _Refused(Exception):  # noqa: N818 - a control-flow signal
    """The request cannot be served; answer ``status`` and close."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@asynccontextmanager
async def serve_asgi(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_body: int = MAX_REQUEST_BODY,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[str]:
    """Serve ``app`` over HTTP/1.1 on ``host:port`` while the context is open.

    Yields the base URL (``http://127.0.0.1:54321``, or ``https://`` with
    ``tls``, a server-side context). Leaving the context stops accepting and
    closes every open connection.
    """
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound_port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    url_host = f"[{host}]" if ":" in host else host
    handler = partial(_serve_tcp, app, (host, bound_port), max_body, tls)
    scheme = "http" if tls is None else "https"
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler)
        try:
            yield f"{scheme}://{url_host}:{bound_port}"
        finally:
            tg.cancel_scope.cancel()


async def _serve_tcp(
    app: ASGIApp,
    server: tuple[str, int],
    max_body: int,
    tls: ssl.SSLContext | None,
    stream: Stream,
) -> None:
    if tls is None:
        await _serve_connection(app, server, max_body, stream)
        return
    wrapped: TLSStream | None = None
    try:
        with anyio.move_on_after(_HANDSHAKE_TIMEOUT):
            try:
                wrapped = await TLSStream.wrap(
                    stream, server_side=True, ssl_context=tls, standard_compatible=False
                )
            except (ssl.SSLError, *_CLOSED):
                wrapped = None  # a failed handshake (an untrusted certificate): no answer
    finally:
        if wrapped is None:
            # Also when the server stops mid-handshake: the socket is closed, not leaked.
            await anyio.aclose_forcefully(stream)
    if wrapped is not None:
        await _serve_connection(app, server, max_body, wrapped)


async def _serve_connection(
    app: ASGIApp, server: tuple[str, int], max_body: int, stream: Stream
) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
    async with stream:
        try:
            while await _exchange(app, server, max_body, stream, conn):
                conn.start_next_cycle()
        except _CLOSED:
            pass  # the client went away; nothing to answer
        except h11.ProtocolError:
            await _send_quietly(stream, conn, 400)
        except _Refused as refused:
            await _send_quietly(stream, conn, refused.status)
        except ConnectionDropped:
            pass  # the app asked for the connection to drop without an answer
        except Exception:
            # A bug must not take the whole server down with it.
            logger.exception("testing server: request failed")
            await _send_quietly(stream, conn, 500)


async def _next_event(stream: Stream, conn: h11.Connection) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        if conn.they_are_waiting_for_100_continue:
            await stream.send(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        try:
            data = await stream.receive(_READ_SIZE)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            data = b""
        conn.receive_data(data)


async def _read_body(stream: Stream, conn: h11.Connection, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await _next_event(stream, conn)
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > limit:
                raise _Refused(413)
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        else:
            raise anyio.EndOfStream


async def _exchange(
    app: ASGIApp,
    server: tuple[str, int],
    max_body: int,
    stream: Stream,
    conn: h11.Connection,
) -> bool:
    """Serve one request; True when the connection may carry another."""
    event = await _next_event(stream, conn)
    if not isinstance(event, h11.Request):
        return False
    length = dict(event.headers).get(b"content-length")
    if length is not None and length.isdigit() and int(length) > max_body:
        raise _Refused(413)
    body = await _read_body(stream, conn, max_body)
    await app(_scope(event, server, stream), _receiver(body), _Sender(stream, conn))
    return conn.our_state is h11.DONE and conn.their_state is h11.DONE


def _scope(event: h11.Request, server: tuple[str, int], stream: Stream) -> Scope:
    target = bytes(event.target)
    raw_path, _, query = target.partition(b"?")
    try:
        client = stream.extra(anyio.abc.SocketAttribute.remote_address)  # noqa: S610
    except anyio.TypedAttributeLookupError:
        client = None
    # Only the handshake may say which certificate was presented.
    headers = [
        (bytes(name), bytes(value)) for name, value in event.headers if name.lower() != _CERT_HEADER
    ]
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": event.http_version.decode(),
        "method": event.method.decode(),
        "scheme": "http",
        "path": raw_path.decode("latin-1"),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": client[:2] if isinstance(client, tuple) else None,
        "server": server,
    }
    if isinstance(stream, TLSStream):
        _add_tls(scope, stream)
    return scope


def _add_tls(scope: Scope, stream: TLSStream) -> None:
    """The ASGI TLS extension, and the client certificate's header, for a TLS connection."""
    der = stream.extra(TLSAttribute.peer_certificate_binary, None)  # noqa: S610
    chain: list[str] = []
    if der is not None:
        scope["headers"].append((_CERT_HEADER, certificate_header(der)))
        chain.append(ssl.DER_cert_to_PEM_cert(der))
    scope["scheme"] = "https"
    scope["extensions"] = {
        "tls": {
            "server_cert": None,
            "client_cert_chain": chain,
            "client_cert_name": None,
            "client_cert_error": None,
            "tls_version": None,
            "cipher_suite": None,
        }
    }


def _receiver(body: bytes) -> Receive:
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class _Sender:
    """The ASGI ``send`` callable: one socket write per complete response."""

    def __init__(self, stream: Stream, conn: h11.Connection) -> None:
        self._stream = stream
        self._conn = conn
        self._pending: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        conn = self._conn
        if message["type"] == "http.response.start":
            head = h11.Response(status_code=message["status"], headers=message.get("headers", []))
            self._pending.append(conn.send(head) or b"")
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            if body:
                self._pending.append(conn.send(h11.Data(data=body)) or b"")
            if not message.get("more_body", False):
                self._pending.append(conn.send(h11.EndOfMessage()) or b"")
            await self._stream.send(b"".join(self._pending))
            self._pending.clear()


async def _send_quietly(stream: Stream, conn: h11.Connection, status: int) -> None:
    """Answer ``status`` with an empty body if a response can still be sent."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    headers = [(b"content-length", b"0"), (b"connection", b"close")]
    try:
        await stream.send(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
        await stream.send(conn.send(h11.EndOfMessage()) or b"")
    except (*_CLOSED, h11.ProtocolError):
        pass
