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
- a token bound to a certificate not held makes the files be looked at
  once (the renewal may have been learnt by another source sharing the
  token cache, or another ``MutualTLS`` on the same files): when they now
  hold that certificate, the token goes over it;
- a token bound to a certificate no longer held (expired, or renewed twice
  since) goes over the newest one: the API's 401 then makes ``TokenAuth``
  fetch a token bound to it.

At most two generations are held: the newest and the one before it, until
that one expires or another renewal comes. A generation is one loaded
version, not one leaf: a new chain, key or ``ca`` under the same leaf is a
new generation too. A generation let go of is closed once its last request
(its response body included) is done. Renewals are learnt from the
certificate (every token request looks at the files); here the files are
looked at only for a token bound to a certificate not held, and once
everything held expired.

This module decides and counts; it does no network I/O, so the async and
the sync transport share it (``_certificate_transport``). Its state is
guarded by a lock never held across network I/O, so one routing serves
threads too.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from .._errors import ConfigError
from .._source import Clock
from ._certificates import ClientCertificate, LoadedCertificate
from ._jwt_claims import unverified_claims

__all__ = ["CertificateRoutes", "Generation", "bound_thumbprint"]

T = TypeVar("T")

# Decisions remembered: the tokens in use at once (old and new around a
# renewal, a few scopes), not every token ever seen.
_MEMO_SIZE = 8


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

    The hot path — a request with one of the last few ``Authorization``
    values seen, no certificate held expired and no new version loaded
    since — is one dictionary lookup, one integer compare and one clock
    reading under an uncontended lock. A new value (once per token) reads
    the token's claims once; one bound to a certificate none of the
    generations has (a renewal learnt by another source sharing the token
    cache) makes the files be looked at (``current()``, a stat).

    Generations to close (``closing``) are handed to the transport, which
    closes them one at a time (``next_to_close()``): closing is I/O, and
    async for the async transport.

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
        # The decisions for the last few Authorization values, valid while the
        # certificate loads no new version (`_loads`) and until the first held
        # certificate expires (`_until`): then the generations change.
        self._memo: dict[str | None, Generation[T]] = {}
        self._loads = -1
        self._until = float("-inf")
        self._follow(clock())

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
            route = self._memo.get(authorization)
            if (
                route is None
                or self._certificate.loads != self._loads
                or self._clock() >= self._until
            ):
                route = self._reroute(authorization)
            route.in_flight += 1
            return route

    def give_back(self, generation: Generation[T]) -> None:
        """A request over ``generation`` is done; a retired one with none left is to be closed."""
        with self._lock:
            generation.in_flight -= 1
            if generation.retired and generation.in_flight == 0 and generation in self._draining:
                self._draining.remove(generation)
                self.closing.append(generation)

    def next_to_close(self) -> Generation[T] | None:
        """One generation to close now (each handed out once), or None.

        Give it back with ``put_back()`` if it could not be closed (the
        closing was cancelled), so that it is not lost.
        """
        with self._lock:
            return self.closing.pop(0) if self.closing else None

    def put_back(self, generation: Generation[T]) -> None:
        """``generation`` was handed out to be closed but is not: close it later."""
        with self._lock:
            self.closing.insert(0, generation)

    def close_all(self) -> None:
        """Refuse new requests; every generation not closed yet is to be closed now."""
        with self._lock:
            self._closed = True
            self.closing = [*self.closing, *self._draining, *self._held]
            self._draining, self._held, self._memo = [], [], {}

    def _reroute(self, authorization: str | None) -> Generation[T]:
        """Follow the certificate; decide for ``authorization`` and remember it."""
        now = self._clock()
        if now >= self._held[-1].certificate.not_after:
            # Nothing held is valid: look at the files (raises if no renewal is usable).
            self._certificate.current()
        if self._certificate.loads != self._loads or now >= self._until:
            self._follow(now)
        bound = bound_thumbprint(_credentials(authorization))
        route = self._bound_to(bound)
        if route is None and bound is not None:
            # A renewal this transport has not seen: learnt by another source
            # that shares the token cache. The files tell (a stat, at most a
            # read); a problem there is not this request's, the held one serves.
            with contextlib.suppress(ConfigError):
                self._certificate.current()
            if self._certificate.loads != self._loads:
                self._follow(now)
                route = self._bound_to(bound)
        route = route or self._held[-1]
        if len(self._memo) >= _MEMO_SIZE:
            del self._memo[next(iter(self._memo))]  # the oldest decision
        self._memo[authorization] = route
        return route

    def _bound_to(self, thumbprint: str | None) -> Generation[T] | None:
        """The newest generation presenting ``thumbprint``, if one is held."""
        if thumbprint is None:
            return None
        return next(
            (each for each in reversed(self._held) if each.certificate.thumbprint == thumbprint),
            None,
        )

    def _follow(self, now: float) -> None:
        """Hold the certificate's recent versions (the older one while valid); retire the rest."""
        recent, self._loads = self._certificate.snapshot()
        *older, latest = recent
        wanted = [each for each in older if now < each.not_after and each is not latest]
        wanted.append(latest)
        held: dict[int, Generation[T] | None] = {id(each.certificate): each for each in self._held}
        self._held = [
            held.pop(id(version), None) or self._generation(version) for version in wanted
        ]
        for generation in held.values():
            if generation is not None:
                self._retire(generation)
        self._memo.clear()
        self._until = min(each.certificate.not_after for each in self._held)

    def _generation(self, version: LoadedCertificate) -> Generation[T]:
        return Generation(version, self._make(version))

    def _retire(self, generation: Generation[T]) -> None:
        generation.retired = True
        if generation.in_flight:
            self._draining.append(generation)
        else:
            self.closing.append(generation)
