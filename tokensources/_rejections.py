"""The APIs that reject even a fresh token, and how long their 401s go without a new one.

Every client adapter resends a request once with a fresh token after a 401.
An API that rejects the fresh token too (a wrong audience, a misconfigured
gateway) would then cost one token request per request; instead its 401s
are returned as they are for a backoff that doubles (with jitter) while the
rejections go on, and any 2xx from it ends the backoff. APIs are told apart
by origin (scheme, host and port: never a path, a query or credentials in
the URL), so the adapters of every HTTP library share this one record
keeper, each passing its own URLs as text.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ._bounded import forget_oldest
from ._cache import failure_delay
from ._errors import ConfigError
from ._log import logger
from ._source import Clock
from .sources._dpop_nonces import origin as http_origin

__all__ = ["Rejections", "origin"]

_UNAUTHORIZED = 401
# The first pause after an API rejected a fresh token; it doubles (with
# jitter) while the rejections go on, up to the cache's failure cap.
FIRST_REJECTION_BACKOFF = 1.0
# How many rejecting APIs are remembered at once; the oldest is forgotten first.
MAX_REJECTING_ORIGINS = 64


def origin(url: str) -> str:
    """``https://api.example:8443`` for any URL: scheme, host and port, never user or password.

    Normalised as DPoP nonces are (lower case, no default port); a URL of
    another scheme (a transport adapter's ``http+unix://``) keeps its
    scheme and authority as they are.
    """
    try:
        return http_origin(url)
    except ConfigError:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{parts.netloc.rpartition('@')[2]}"


class Rejections:
    """The APIs (by origin) that answered 401 even to a fresh token, and their backoff.

    How an adapter uses it, per request: after a 2xx, ``answered()`` (only
    when ``origins`` is not empty, the normal case costs one truth test);
    after a 401, ``backing_off()`` says whether to return it as it is;
    after the one resend with a fresh token, ``answered()`` with its status.

    Safe for concurrent use from threads and tasks: a race between requests
    costs at most one extra token request, never a wrong answer.

    Args:
        clock: wall-clock time in epoch seconds (the adapter's clock).

    Raises:
        ConfigError: ``clock`` is not callable.

    Attributes:
        origins: each rejecting origin's consecutive rejections and the
            instant its backoff ends; empty in the normal case.
    """

    __slots__ = ("_clock", "origins")

    def __init__(self, clock: Clock) -> None:
        if not callable(clock):
            raise ConfigError(
                f"clock must be a callable such as time.time, not {type(clock).__name__}"
            )
        self._clock = clock
        self.origins: dict[str, tuple[int, float]] = {}

    def backing_off(self, api: str) -> bool:
        """Whether a 401 from the origin ``api`` is to be returned as it is, without a new token."""
        rejected = self.origins.get(api)
        return rejected is not None and self._clock() < rejected[1]

    def answered(self, api: str, status: int) -> None:
        """Note an answer from the origin ``api``: a 401 to a fresh token, or a 2xx."""
        if status == _UNAUTHORIZED:
            failures = self.origins.pop(api, (0, 0.0))[0] + 1
            delay = failure_delay(FIRST_REJECTION_BACKOFF, failures)
            self.origins[api] = (failures, self._clock() + delay)
            forget_oldest(self.origins, MAX_REJECTING_ORIGINS)
            logger.warning(
                "%s rejected a fresh token too (401): its 401s are returned as they are, "
                "without a new token, for %.1fs",
                api,
                delay,
            )
        elif 200 <= status < 300 and self.origins.pop(api, None) is not None:
            logger.info("%s accepts the token again", api)
