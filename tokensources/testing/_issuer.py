"""One issuer's identity and defaults: its URL, audience, token lifetime and clock.

Every part of the server that needs to know who it speaks for, or what time
it is, receives the ``Issuer`` and reads it when it answers, so a change made
while the server runs (``server.token_lifetime = 5``, serving on loopback) is
seen by the next request.
"""

from __future__ import annotations

import threading

from .._source import Clock
from ._paths import JWKS_PATH, TOKEN_PATH

__all__ = ["DEFAULT_ISSUER", "Issuer"]

DEFAULT_ISSUER = "http://testserver"


class Issuer:
    """Who signs the tokens, for whom by default, for how long, and by which clock.

    The URL is, in this order: the fixed URL given to the constructor; while
    served on loopback, the most recent served base URL; otherwise
    ``http://testserver``, the base URL of the in-process client.

    Attributes:
        audience: the ``aud`` of tokens by default, and what the demo API requires.
        token_lifetime: seconds an access token lives unless its client says otherwise.
        clock: the wall clock (epoch seconds) for ``iat``/``exp`` and every expiry check.
    """

    def __init__(
        self, *, url: str | None, audience: str, token_lifetime: float, clock: Clock
    ) -> None:
        self._fixed_url = url.rstrip("/") if url else None
        self._lock = threading.Lock()
        self._served: list[str] = []
        self.audience = audience
        self.token_lifetime = token_lifetime
        self.clock = clock

    @property
    def url(self) -> str:
        """The issuer URL, without a trailing slash."""
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

    def own_urls(self) -> set[str]:
        """The URLs that name this server: what a client assertion's ``aud`` may be.

        RFC 7523 §3: the aud names the token endpoint; the issuer is accepted
        too, as OpenID Connect and most servers do. While serving on loopback
        under a fixed issuer, the served URLs are this server as well. The
        request's Host header is not: the client chooses it, so accepting it
        would accept any audience.
        """
        urls = {self.url, self.token_endpoint}
        with self._lock:
            served = tuple(self._served)
        for base in served:
            urls |= {base, base + TOKEN_PATH}
        return urls
