"""Which client certificate a request goes out with: the one its token is bound to.

A certificate-bound token (``cnf.x5t#S256``, RFC 8705 §3) is accepted only
over a connection that presents that certificate. When the certificate is
renewed, tokens bound to the old one are still in caches and in flight for
a while; sending them over a connection made with the new certificate
would cost a 401 each. So an API client keeps one connection pool (an
inner transport) per certificate version — a *generation* — and sends each
request over the pool whose certificate its token names:

- a token bound to a certificate held goes over that certificate;
- a token that is not bound (no ``cnf.x5t#S256``, not a JWT, no
  ``Authorization`` at all) goes over the newest certificate;
- a token bound to a certificate no longer held (expired, or renewed twice
  since) goes over the newest one too: the API's 401 then makes
  ``TokenAuth`` fetch a token bound to it.

At most two generations are held: the newest and the one before it, until
that one expires or another renewal comes. A generation let go of is
closed once its last request (its response body included) is done.
Renewals are learnt from the certificate (every token request looks at
the files); the files are read here only once everything held expired.

This module decides and counts; it does no network I/O, so the async and
the sync transport share it (``_certificate_transport``). Its state is
guarded by a lock never held across network I/O, so one routing serves
threads too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from .._source import Clock
from ._certificates import ClientCertificate, LoadedCertificate
from ._jwt_claims import unverified_claims

__all__ = ["CertificateRoutes", "Generation", "bound_thumbprint"]

T = TypeVar("T")


def bound_thumbprint(access_token: str) -> str | None:
    """The ``cnf.x5t#S256`` of ``access_token`` (read, not verified), or None if it is unbound."""
    cnf = (unverified_claims(access_token) or {}).get("cnf")
    bound = cnf.get("x5t#S256") if isinstance(cnf, Mapping) else None
    return bound if isinstance(bound, str) else None


def _credentials(authorization: str | None) -> str:
    """The token of an ``Authorization`` value (``Bearer <token>``, ``DPoP <token>``)."""
    if not authorization:
        return ""
    return authorization.partition(" ")[2].strip()


class Generation(Generic[T]):
    """One certificate version and the inner transport that presents it.

    Attributes:
        certificate: the certificate version.
        transport: the inner transport, made with its TLS context.
        in_flight: requests sent over it whose response is not closed yet.
        retired: let go of: no new request is sent over it.
    """

    __slots__ = ("certificate", "in_flight", "retired", "transport")

    def __init__(self, certificate: LoadedCertificate, transport: T) -> None:
        self.certificate = certificate
        self.transport = transport
        self.in_flight = 0
        self.retired = False


class CertificateRoutes(Generic[T]):
    """The generations of a client certificate, and the choice of one per request.

    The hot path — a request with the same ``Authorization`` value as the
    one before, within its certificate's validity, no renewal seen since —
    is one string compare, one integer compare and one clock reading under
    an uncontended lock. A new value (once per
    token) reads the token's claims once and looks at what the certificate
    has become.

    Generations to close (``closing``) are handed to the transport, which
    closes them: closing is I/O, and async for the async transport.

    Args:
        certificate: the client certificate, as the token source follows it.
        make: builds the inner transport of a certificate version.
        clock: wall-clock time, for the certificates' validity.
    """

    def __init__(
        self,
        certificate: ClientCertificate,
        make: Callable[[LoadedCertificate], T],
        clock: Clock,
    ) -> None:
        self._certificate = certificate
        self._make = make
        self._clock = clock
        self._lock = threading.Lock()
        self._held: list[Generation[T]] = []  # oldest first; at most two
        self._draining: list[Generation[T]] = []  # retired, requests still in flight
        self.closing: list[Generation[T]] = []  # retired and idle: to be closed
        self._closed = False
        self._follow(clock())
        # The decision for the last Authorization value, valid until `_until`
        # and while the certificate loads no new version.
        self._value: str | None = None
        self._loads = -1
        self._route = self._held[-1]
        self._until = float("-inf")

    def take(self, authorization: str | None) -> Generation[T]:
        """The generation for a request with this ``Authorization`` value, counted in flight.

        Give it back with ``give_back()`` once the response is closed (or
        the send failed).

        Raises:
            RuntimeError: the transport was closed.
            ConfigError: every certificate held has expired, and the files
                hold no usable renewal.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the certificate transport is closed")
            if (
                authorization != self._value
                or self._certificate.loads != self._loads
                or self._clock() >= self._until
            ):
                self._reroute(authorization)
            route = self._route
            route.in_flight += 1
            return route

    def give_back(self, generation: Generation[T]) -> None:
        """A request over ``generation`` is done; a retired one with none left is to be closed."""
        with self._lock:
            generation.in_flight -= 1
            if generation.retired and generation.in_flight == 0 and generation in self._draining:
                self._draining.remove(generation)
                self.closing.append(generation)

    def drain(self) -> list[Generation[T]]:
        """The generations to close now (each handed out once)."""
        with self._lock:
            closing, self.closing = self.closing, []
            return closing

    def close_all(self) -> list[Generation[T]]:
        """Refuse new requests; every generation not closed yet, to be closed now."""
        with self._lock:
            self._closed = True
            every = [*self.closing, *self._draining, *self._held]
            self.closing, self._draining, self._held = [], [], []
            return every

    def _reroute(self, authorization: str | None) -> None:
        """Follow the certificate; decide for ``authorization`` until its certificate expires."""
        now = self._clock()
        if now >= self._held[-1].certificate.not_after:
            # Nothing held is valid: look at the files (raises if no renewal is usable).
            self._certificate.current()
        self._loads = self._certificate.loads
        self._follow(now)
        bound = bound_thumbprint(_credentials(authorization))
        newest = self._held[-1]
        route = next((each for each in self._held if each.certificate.thumbprint == bound), newest)
        self._value, self._route, self._until = authorization, route, route.certificate.not_after

    def _follow(self, now: float) -> None:
        """Hold the certificate's recent versions (the older one while valid); retire the rest."""
        *older, latest = self._certificate.recent
        wanted = [each for each in older if now < each.not_after] + [latest]
        held: dict[str, Generation[T]] = {each.certificate.thumbprint: each for each in self._held}
        self._held = [
            held.pop(version.thumbprint)
            if version.thumbprint in held
            else self._generation(version)
            for version in wanted
        ]
        for generation in held.values():
            self._retire(generation)

    def _generation(self, version: LoadedCertificate) -> Generation[T]:
        return Generation(version, self._make(version))

    def _retire(self, generation: Generation[T]) -> None:
        generation.retired = True
        if generation.in_flight:
            self._draining.append(generation)
        else:
            self.closing.append(generation)
