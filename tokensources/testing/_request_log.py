"""The request log: every request the server saw, without a secret, and assertions over it."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._errors import ConfigError
from ._facts import RequestFacts

__all__ = ["DEFAULT_LOG_SIZE", "LoggedRequest", "RequestLog"]

DEFAULT_LOG_SIZE = 10_000
# How many requests a failure message lists before it says "and N more".
_SHOWN = 20
_FILTERS = (
    "issuer",
    "method",
    "path",
    "endpoint",
    "client_id",
    "grant_type",
    "auth_method",
    "scope",
    "status",
    "error",
    "outcome",
    "dpop_proof",
    "dpop_jkt",
    "certificate_thumbprint",
)


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the server saw, as the log keeps it: what it was and what came of it.

    It holds names, codes and claims only. No header value, no body, no
    secret, no assertion and no token is ever kept: ``token_claims`` are the
    claims of an issued access token, without its signature.

    Attributes:
        number: its position among the requests the server saw, from 1.
        at: when it arrived, by the server's clock (epoch seconds).
        method: the HTTP method.
        path: the full path, tenant prefix included (no query string).
        issuer: the name of the issuer it was for; ``""`` for the root issuer.
        endpoint: ``token``, ``jwks``, ``metadata``, ``introspection``, ``api``
            or ``debug``;
            None when no endpoint serves the path.
        client_id: the client a token request claimed to be (before any check).
        grant_type: the ``grant_type`` of a token request.
        auth_method: the client authentication method a token request used
            (``client_secret_basic``, ``client_secret_post``, ``private_key_jwt``).
        scope: the ``scope`` a token request asked for.
        audiences: the ``audience`` and ``resource`` values it asked for.
        status: the HTTP status answered; None when the connection was dropped.
        error: the error code answered (``invalid_client``, ``invalid_token``, …).
        outcome: ``issued``, ``refused``, ``throttled`` (a quota), ``fault``,
            ``enqueued`` (a queued answer), ``dropped``; None for other answers.
        token_claims: the claims of the access token issued, if one was.
        dpop_proof: whether it carried a ``DPoP`` header (verified or not).
        dpop_jkt: the RFC 7638 thumbprint of the key of a DPoP proof the
            server verified; None without one.
        certificate_thumbprint: the ``x5t#S256`` of a TLS client certificate
            the server verified; None without one.
    """

    number: int
    at: float
    method: str
    path: str
    issuer: str = ""
    endpoint: str | None = None
    client_id: str | None = None
    grant_type: str | None = None
    auth_method: str | None = None
    scope: str | None = None
    audiences: tuple[str, ...] = ()
    status: int | None = None
    error: str | None = None
    outcome: str | None = None
    token_claims: Mapping[str, Any] | None = field(default=None, compare=False)
    dpop_proof: bool = False
    dpop_jkt: str | None = None
    certificate_thumbprint: str | None = None

    def summary(self) -> str:
        """One line for a person: ``#3 POST /oauth/token client=billing -> 401 invalid_client``."""
        parts = [f"#{self.number}", self.method, self.path]
        for label, value in (
            ("client", self.client_id),
            ("grant", self.grant_type),
            ("auth", self.auth_method),
            ("scope", self.scope),
        ):
            if value is not None:
                parts.append(f"{label}={value}")
        if self.dpop_proof:
            parts.append("dpop" if self.dpop_jkt is None else f"dpop={self.dpop_jkt[:8]}…")
        if self.certificate_thumbprint is not None:
            parts.append(f"cert={self.certificate_thumbprint[:8]}…")
        answer = "dropped" if self.status is None else str(self.status)
        if self.error is not None:
            answer += f" {self.error}"
        elif self.outcome not in (None, "dropped"):
            answer += f" {self.outcome}"
        return " ".join(parts) + f" -> {answer}"


class RequestLog:
    """Every request a server saw, newest last, kept up to a bound.

    The log keeps the last ``size`` requests (older ones are forgotten and
    counted in ``forgotten``). Recording and reading are safe from any
    thread (the server may run in ``serve_in_thread`` while a test reads).

    The ``assert_*`` methods are for tests: they raise ``AssertionError``
    with a message that lists what the server saw, so a failing pytest
    assertion shows the requests without a debugger.

    Args:
        size: how many requests to keep.
    """

    def __init__(self, size: int = DEFAULT_LOG_SIZE) -> None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ConfigError(f"the request log size must be a positive integer, got {size!r}")
        self._lock = threading.Lock()
        self._entries: deque[LoggedRequest] = deque(maxlen=size)
        self._numbers = itertools.count(1)
        self._forgotten = 0

    def __repr__(self) -> str:
        return f"RequestLog({len(self)} requests)"

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.requests())

    @property
    def forgotten(self) -> int:
        """How many older requests were dropped to keep the log within its size."""
        return self._forgotten

    def record(
        self, *, at: float, method: str, status: int | None, facts: RequestFacts
    ) -> LoggedRequest:
        """Add one answered (or dropped) request to the log and return its entry."""
        claims = facts.token_claims
        with self._lock:
            entry = LoggedRequest(
                number=next(self._numbers),
                at=at,
                method=method,
                path=facts.path,
                issuer=facts.issuer,
                endpoint=facts.endpoint,
                client_id=facts.client_id,
                grant_type=facts.grant_type,
                auth_method=facts.auth_method,
                scope=facts.scope,
                audiences=facts.audiences,
                status=status,
                error=facts.error,
                outcome="dropped" if status is None else facts.outcome,
                token_claims=MappingProxyType(dict(claims)) if claims is not None else None,
                dpop_proof=facts.dpop_proof,
                dpop_jkt=facts.dpop_jkt,
                certificate_thumbprint=facts.certificate_thumbprint,
            )
            if len(self._entries) == self._entries.maxlen:
                self._forgotten += 1
            self._entries.append(entry)
        return entry

    def clear(self) -> None:
        """Forget every request (numbering goes on)."""
        with self._lock:
            self._entries.clear()
            self._forgotten = 0

    def requests(self, **filters: Any) -> list[LoggedRequest]:
        """The logged requests, oldest first, that match every filter given.

        Filters are fields of ``LoggedRequest`` compared for equality:
        ``issuer``, ``method``, ``path``, ``endpoint``, ``client_id``,
        ``grant_type``, ``auth_method``, ``scope``, ``status``, ``error``,
        ``outcome``, ``dpop_proof``, ``dpop_jkt``, ``certificate_thumbprint``.
        A filter given as None is ignored.

        Raises:
            ConfigError: a filter that is not one of those fields.
        """
        wanted = _filters(filters)
        with self._lock:
            entries = list(self._entries)
        return [entry for entry in entries if _matches(entry, wanted)]

    def token_requests(self, **filters: Any) -> list[LoggedRequest]:
        """The logged token endpoint requests matching ``filters`` (see ``requests``)."""
        return self.requests(endpoint="token", **filters)

    def issued_tokens(self, **filters: Any) -> list[Mapping[str, Any]]:
        """The claims of every access token issued by requests matching ``filters``."""
        return [
            entry.token_claims
            for entry in self.requests(**filters)
            if entry.token_claims is not None
        ]

    def assert_requests(self, count: int, **filters: Any) -> list[LoggedRequest]:
        """Assert that exactly ``count`` logged requests match ``filters``; return them.

        Raises:
            AssertionError: another number matched; the message lists what
                matched and every request seen.
        """
        return self._assert(count, "request", self.requests(**filters), filters, self.requests())

    def assert_token_requests(self, count: int, **filters: Any) -> list[LoggedRequest]:
        """Assert that exactly ``count`` token requests match ``filters``; return them.

        ``server.log.assert_token_requests(1, client_id="billing")`` passes
        when the billing client made one token request, whatever its answer;
        add ``status=200`` or ``outcome="issued"`` to count only successes.

        Raises:
            AssertionError: another number matched; the message lists what
                matched and every token request seen.
        """
        matched = self.token_requests(**filters)
        return self._assert(count, "token request", matched, filters, self.token_requests())

    def _assert(
        self,
        count: int,
        kind: str,
        matched: list[LoggedRequest],
        filters: Mapping[str, Any],
        seen: list[LoggedRequest],
    ) -> list[LoggedRequest]:
        if len(matched) == count:
            return matched
        described = ", ".join(f"{k}={v!r}" for k, v in filters.items() if v is not None)
        wanted = f"{_plural(count, kind)}" + (f" with {described}" if described else "")
        lines = [f"expected {wanted}, found {len(matched)}"]
        lines += _listing("matching", matched)
        if described:
            lines += _listing(f"all {kind}s seen", seen)
        if self._forgotten:
            lines.append(f"({self._forgotten} older requests were forgotten: the log is full)")
        raise AssertionError("\n".join(lines))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _listing(title: str, entries: list[LoggedRequest]) -> list[str]:
    if not entries:
        return [f"{title}: none"]
    lines = [f"{title}:"] + [f"  {entry.summary()}" for entry in entries[-_SHOWN:]]
    if len(entries) > _SHOWN:
        lines.insert(1, f"  … {len(entries) - _SHOWN} earlier ones not shown")
    return lines


def _filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(filters) - set(_FILTERS))
    if unknown:
        raise ConfigError(
            f"unknown request log filters {unknown}; the filters are {list(_FILTERS)}"
        )
    return {name: value for name, value in filters.items() if value is not None}


def _matches(entry: LoggedRequest, wanted: Mapping[str, Any]) -> bool:
    return all(getattr(entry, name) == value for name, value in wanted.items())
