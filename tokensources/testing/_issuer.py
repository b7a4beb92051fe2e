"""One issuer's identity and defaults: its URL, audience, token lifetime, strictness, clock.

Every part of the server that needs to know who it speaks for, or what time
it is, receives the ``Issuer`` and reads it when it answers, so a change made
while the server runs (``server.token_lifetime = 5``, serving on loopback) is
seen by the next request.

A server has one root issuer and any number of named ones (tenants), each
reached under its name as the first path segment. A tenant's URL is the
root's URL plus ``/<name>``; it keeps the root's clock, and follows the
root's audience, token lifetime and strictness until it is given its own.
"""

from __future__ import annotations

import threading

from .._source import Clock
from ._paths import JWKS_PATH, TOKEN_PATH

__all__ = ["DEFAULT_ISSUER", "Issuer"]

DEFAULT_ISSUER = "http://testserver"


class Issuer:
    """Who signs the tokens, for whom by default, for how long, how strictly, by which clock.

    The root issuer's URL is, in this order: the fixed URL given to the
    constructor; while served on loopback, the most recent served base URL;
    otherwise ``http://testserver``, the base URL of the in-process client.
    A tenant's (``Issuer.tenant``) is the root's URL followed by ``/<name>``.

    Attributes:
        clock: the wall clock (epoch seconds) for ``iat``/``exp`` and every
            expiry check; a tenant's is always its root's.
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        audience: str | None = None,
        token_lifetime: float | None = None,
        clock: Clock | None = None,
        strict: bool | None = None,
        parent: Issuer | None = None,
        name: str = "",
    ) -> None:
        if parent is None and (audience is None or token_lifetime is None or clock is None):
            raise TypeError("the root issuer needs an audience, a token lifetime and a clock")
        self._fixed_url = url.rstrip("/") if url else None
        self._lock = threading.Lock()
        self._served: list[str] = []
        self._parent = parent
        self._name = name
        self._audience = audience
        self._token_lifetime = token_lifetime
        self._strict = strict if strict is not None or parent is not None else False
        self._clock = clock

    @classmethod
    def tenant(cls, parent: Issuer, name: str) -> Issuer:
        """A named issuer under ``parent``, following its settings until given its own."""
        return cls(parent=parent, name=name)

    @property
    def name(self) -> str:
        """The tenant name (the first path segment), or ``""`` for the root issuer."""
        return self._name

    @property
    def clock(self) -> Clock:
        """The wall clock; a tenant's follows its root's."""
        if self._parent is not None:
            return self._parent.clock
        assert self._clock is not None  # noqa: S101 - the root always has one
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self._clock = clock

    @property
    def audience(self) -> str:
        """The ``aud`` of tokens by default, and what the demo API requires."""
        if self._audience is None:
            assert self._parent is not None  # noqa: S101 - only a tenant inherits
            return self._parent.audience
        return self._audience

    @audience.setter
    def audience(self, audience: str) -> None:
        self._audience = audience

    @property
    def token_lifetime(self) -> float:
        """Seconds an access token lives unless its client says otherwise."""
        if self._token_lifetime is None:
            assert self._parent is not None  # noqa: S101 - only a tenant inherits
            return self._parent.token_lifetime
        return self._token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: float) -> None:
        self._token_lifetime = seconds

    @property
    def strict(self) -> bool:
        """Whether legacy client behaviour is refused (see ``_strict``)."""
        if self._strict is None:
            assert self._parent is not None  # noqa: S101 - only a tenant inherits
            return self._parent.strict
        return self._strict

    @strict.setter
    def strict(self, strict: bool) -> None:
        self._strict = bool(strict)

    @property
    def url(self) -> str:
        """The issuer URL, without a trailing slash."""
        if self._parent is not None:
            return f"{self._parent.url}/{self._name}"
        if self._fixed_url is not None:
            return self._fixed_url
        with self._lock:  # serve_in_thread() changes the served URLs from another thread
            return self._served[-1] if self._served else DEFAULT_ISSUER

    @property
    def token_endpoint(self) -> str:
        """The token endpoint URL, built from the issuer URL."""
        return self.url + TOKEN_PATH

    @property
    def jwks_uri(self) -> str:
        """The JWKS URL, built from the issuer URL."""
        return self.url + JWKS_PATH

    def now(self) -> float:
        """The current time by the issuer's clock (a ``Clock`` that follows clock changes)."""
        return self.clock()

    def serving(self, url: str) -> None:
        """Record that the server is reachable at ``url`` (a loopback base URL) from now on."""
        with self._lock:
            self._served.append(url)

    def stopped_serving(self, url: str) -> None:
        """Record that the server is no longer reachable at ``url``."""
        with self._lock:
            self._served.remove(url)

    def base_urls(self) -> set[str]:
        """Every base URL that names this issuer: its URL, and where it is served."""
        if self._parent is not None:
            return {f"{base}/{self._name}" for base in self._parent.base_urls()}
        with self._lock:
            served = set(self._served)
        return {self.url} | served

    def own_urls(self) -> set[str]:
        """The URLs that name this issuer: what a client assertion's ``aud`` may be.

        RFC 7523 §3: the aud names the token endpoint; the issuer is accepted
        too, as OpenID Connect and most servers do. While serving on loopback
        under a fixed issuer, the served URLs are this server as well. The
        request's Host header is not: the client chooses it, so accepting it
        would accept any audience.
        """
        bases = self.base_urls()
        return bases | {base + TOKEN_PATH for base in bases}
