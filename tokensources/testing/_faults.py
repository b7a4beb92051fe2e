"""Fault injection for the testing server: latency, failures, bad bodies, drops."""

from __future__ import annotations

import functools
import json
import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal, get_args

from .._errors import ConfigError
from ._asgi import Response, json_response

__all__ = [
    "Fault",
    "Faults",
    "MalformedKind",
    "encode_body",
    "fault_response",
    "retry_after_header",
]

MalformedKind = Literal["html", "no_access_token", "truncated", "error_field", "huge"]
_MALFORMED_KINDS: frozenset[str] = frozenset(get_args(MalformedKind))
HUGE_BODY_BYTES = 10 * 1024 * 1024

# A JWT-shaped value: realistic enough that a careless error message would leak it.
_FAKE_JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9."
    "eyJzdWIiOiJkZW1vLWNsaWVudCIsInNjb3BlIjoicmVhZDptZXNzYWdlcyJ9."
    "c2lnbmF0dXJlLW9mLWEtdHJ1bmNhdGVkLXJlc3BvbnNl"
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected misbehaviour: ``fail`` (an error status), ``malformed`` or ``drop``."""

    action: Literal["fail", "malformed", "drop"]
    status: int = 503
    error: str | None = None
    retry_after: str | None = None
    body: bytes | None = None
    content_type: str | None = None
    malformed: MalformedKind | None = None


class Faults:
    """The misbehaviours queued for the next requests of one ``AuthorizationServer``.

    Faults are consumed in the order they were queued, one per request:
    ``fail_next(2)`` then ``drop_next(1)`` makes the next two token requests
    fail and the third one drop. They apply to the token endpoint, except
    ``jwks_fail_next`` which applies to the JWKS endpoint. ``latency`` delays
    every token response (faulted or not) and stays until changed.

    Every method is safe to call from another thread than the one serving
    (``serve_in_thread``).

    Attributes:
        latency: seconds added before every token endpoint answer (an
            ``anyio.sleep``, so it works on asyncio and trio, and a cancelled
            client simply stops waiting).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: deque[list[Any]] = deque()
        self._jwks: deque[list[Any]] = deque()
        self.latency = 0.0

    def fail_next(
        self,
        n: int,
        status: int = 503,
        *,
        error: str | None = None,
        retry_after: float | str | None = None,
        body: bytes | str | Mapping[str, Any] | None = None,
    ) -> None:
        """Make the next ``n`` token requests answer with ``status``.

        Args:
            n: how many requests fail.
            status: the HTTP status to answer with.
            error: an RFC 6749 §5.2 error code; the body is then
                ``{"error": error}`` as JSON. Without it (and without ``body``)
                the body is the plain-text reason phrase, as a gateway sends.
            retry_after: a ``Retry-After`` header: seconds (rounded up to a
                whole number) or a ready-made HTTP-date string.
            body: the exact body instead: a mapping is sent as JSON, text or
                bytes as they are (JSON if they start with ``{``, else plain text).
        """
        if not 100 <= status <= 599:
            raise ConfigError(f"status must be an HTTP status code, got {status!r}")
        raw, content_type = encode_body(status, error, body)
        fault = Fault(
            "fail",
            status=status,
            error=error,
            retry_after=retry_after_header(retry_after),
            body=raw,
            content_type=content_type,
        )
        self._push(self._token, fault, n)

    def malformed_next(self, n: int, kind: MalformedKind) -> None:
        """Make the next ``n`` token requests answer 200 with an unusable body.

        ``kind`` is one of ``"html"`` (a ``text/html`` login page),
        ``"no_access_token"`` (JSON without ``access_token``), ``"truncated"``
        (``application/json`` cut in the middle), ``"error_field"`` (JSON
        carrying an ``error`` field) or ``"huge"`` (a 10 MB JSON body).
        """
        if kind not in _MALFORMED_KINDS:
            raise ConfigError(f"kind must be one of {sorted(_MALFORMED_KINDS)}, got {kind!r}")
        self._push(self._token, Fault("malformed", status=200, malformed=kind), n)

    def drop_next(self, n: int) -> None:
        """Make the next ``n`` token requests lose their connection without an answer."""
        self._push(self._token, Fault("drop"), n)

    def jwks_fail_next(self, n: int, status: int = 503) -> None:
        """Make the next ``n`` JWKS requests answer with ``status`` (plain-text body)."""
        raw, content_type = encode_body(status, None, None)
        self._push(self._jwks, Fault("fail", status=status, body=raw, content_type=content_type), n)

    def reset(self) -> None:
        """Forget every queued fault and set ``latency`` back to zero."""
        with self._lock:
            self._token.clear()
            self._jwks.clear()
        self.latency = 0.0

    @property
    def pending(self) -> int:
        """How many token requests still have a fault waiting for them."""
        with self._lock:
            return sum(remaining for _, remaining in self._token)

    def take_token_fault(self) -> Fault | None:
        """Take the fault for this token request, if any (used by the server)."""
        return self._take(self._token)

    def take_jwks_fault(self) -> Fault | None:
        """Take the fault for this JWKS request, if any (used by the server)."""
        return self._take(self._jwks)

    def _push(self, queue: deque[list[Any]], fault: Fault, n: int) -> None:
        if not isinstance(n, int) or n < 0:
            raise ConfigError(f"n must be a non-negative integer, got {n!r}")
        if n:
            with self._lock:
                queue.append([fault, n])

    def _take(self, queue: deque[list[Any]]) -> Fault | None:
        if not queue:  # the hot path: no fault queued, no lock taken
            return None
        with self._lock:
            if not queue:
                return None
            entry = queue[0]
            entry[1] -= 1
            if entry[1] == 0:
                queue.popleft()
            fault: Fault = entry[0]
            return fault


def retry_after_header(value: float | str | None) -> str | None:
    """A ``Retry-After`` value: seconds rounded up to a whole number, or a date string as it is."""
    if value is None or isinstance(value, str):
        return value
    # RFC 9110 §10.2.3: delay-seconds is a non-negative integer.
    return str(max(0, math.ceil(value)))


def encode_body(
    status: int, error: str | None, body: bytes | str | Mapping[str, Any] | None
) -> tuple[bytes, str]:
    """The bytes and content type of an answer's body.

    A mapping is JSON; text or bytes are sent as they are (JSON if they start
    with ``{``, else plain text); without a body, ``{"error": error}`` for an
    error code, else the status line as plain text, as a gateway sends.
    """
    if isinstance(body, Mapping):
        return json.dumps(dict(body)).encode(), "application/json"
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes):
        kind = "application/json" if body.lstrip().startswith(b"{") else "text/plain; charset=utf-8"
        return body, kind
    if error is not None:
        return json.dumps({"error": error}).encode(), "application/json"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"{status} {phrase}".encode(), "text/plain; charset=utf-8"


def fault_response(fault: Fault) -> Response:
    """The response that a ``fail`` or ``malformed`` fault answers with."""
    if fault.action == "malformed":
        assert fault.malformed is not None  # noqa: S101 - set by malformed_next
        return _malformed(fault.malformed)
    headers: list[tuple[bytes, bytes]] = [(b"cache-control", b"no-store")]
    if fault.retry_after is not None:
        headers.append((b"retry-after", fault.retry_after.encode("latin-1")))
    content_type = (fault.content_type or "application/json").encode()
    return Response(fault.status, fault.body or b"", headers, content_type)


def _malformed(kind: MalformedKind) -> Response:
    if kind == "html":
        page = (
            b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"
        )
        return Response(200, page, content_type=b"text/html; charset=utf-8")
    if kind == "no_access_token":
        return json_response(200, {"token_type": "Bearer", "expires_in": 3600}, no_store=True)
    if kind == "error_field":
        payload = {"error": "invalid_request", "error_description": "error in a 200 answer"}
        return json_response(200, payload, no_store=True)
    if kind == "truncated":
        whole = json.dumps({"access_token": _FAKE_JWT, "token_type": "Bearer", "expires_in": 3600})
        return Response(200, whole[: len(whole) // 2].encode(), [(b"cache-control", b"no-store")])
    return Response(200, _huge_body(), [(b"cache-control", b"no-store")])


@functools.cache
def _huge_body() -> bytes:
    head = b'{"access_token":"huge","token_type":"Bearer","expires_in":3600,"padding":"'
    tail = b'"}'
    return head + b"x" * (HUGE_BODY_BYTES - len(head) - len(tail)) + tail
