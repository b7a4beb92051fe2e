"""The DPoP nonces servers hand out, remembered per origin (RFC 9449 §8 and §9).

A server that wants fresh proofs sends ``DPoP-Nonce`` on its answers (the
token endpoint on any answer, a resource on any answer too); the client
puts the latest value in its next proof to that server. Nonces are kept
per origin — scheme, host and port — because that is the scope RFC 9449
gives them: the token endpoint's nonce means nothing to an API.

A malformed ``DPoP-Nonce`` never fails the request that carried it: it is
ignored, logged once per origin, and counted (``ignored``).

``asks_for_nonce`` recognises a resource's nonce challenge (a 401 with
``WWW-Authenticate: DPoP error="use_dpop_nonce"``), which, unlike any other
401, does not mean the token was rejected.
"""

from __future__ import annotations

import re

from .._bounded import forget_oldest
from .._errors import ConfigError
from .._log import logger
from ._dpop_key import target_uri

__all__ = [
    "DEFAULT_MAX_ORIGINS",
    "MAX_NONCE_LENGTH",
    "DPoPNonces",
    "asks_for_nonce",
    "dpop_error",
    "origin",
    "valid_nonce",
]

# RFC 9449 §8.1: nonce = 1*NQCHAR; NQCHAR = %x21 / %x23-5B / %x5D-7E.
_NONCE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# Real nonces are tens of characters; this bounds what a server can make us store.
MAX_NONCE_LENGTH = 1024
# A client talks to a handful of origins; this bounds the memory all the same.
DEFAULT_MAX_ORIGINS = 256
# RFC 9110 §11.6.1: WWW-Authenticate is a comma-separated list of challenges
# (a scheme, then a token68 or parameters) and of the parameters that follow.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_ITEM = re.compile(
    rf"\s*(?:(?P<scheme>{_TOKEN})(?=\s|,|$))?\s*"
    rf'(?:(?P<name>{_TOKEN})\s*=\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s,]*)|{_TOKEN}=*)?\s*(?:,|$)'
)
# Real headers are short; this bounds the work a hostile one causes.
_MAX_CHALLENGE_LENGTH = 4096


def valid_nonce(value: object) -> bool:
    """Whether ``value`` is a nonce RFC 9449 §8.1 allows (and not absurdly long)."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_NONCE_LENGTH
        and _NONCE.fullmatch(value) is not None
    )


def asks_for_nonce(status_code: int, www_authenticate: str | None) -> bool:
    """Whether a resource's answer is a DPoP nonce challenge (RFC 9449 §9).

    A 401 whose ``WWW-Authenticate`` has a ``DPoP`` challenge with
    ``error="use_dpop_nonce"``. Such an answer does not reject the token: the
    request is to be sent again, once, with a fresh proof carrying the nonce.
    """
    return status_code == 401 and dpop_error(www_authenticate) == "use_dpop_nonce"


def dpop_error(www_authenticate: str | None) -> str | None:
    """The ``error`` of the ``DPoP`` challenge in a ``WWW-Authenticate`` value, if any.

    ``use_dpop_nonce`` and ``invalid_dpop_proof`` (RFC 9449 §7.1, §9) say
    the proof was refused, not the token; None when there is no DPoP
    challenge with an error, or the value is not a well-formed challenge list.
    """
    if not www_authenticate:
        return None
    text = www_authenticate[:_MAX_CHALLENGE_LENGTH]
    scheme, position = "", 0
    while position < len(text):
        item = _ITEM.match(text, position)
        if item is None or item.end() == position:
            return None  # not a well-formed challenge list
        scheme = (item["scheme"] or scheme).lower()
        if scheme == "dpop" and (item["name"] or "").lower() == "error":
            return (item["value"] or "").strip('"')
        position = item.end()
    return None


def origin(url: str) -> str:
    """The origin a nonce belongs to: ``scheme://host[:port]`` of ``url``, normalised.

    Raises:
        ConfigError: ``url`` is not an absolute http(s) URL.
    """
    target = target_uri(url)
    return target[: target.index("/", len("https://"))]


class DPoPNonces:
    """The latest DPoP nonce of each origin, learned from ``DPoP-Nonce`` headers.

    At most ``max_origins`` origins are remembered; learning one more drops
    the one learned longest ago. Safe for concurrent use from tasks of one
    event loop and from threads: every operation is one dictionary step.

    Args:
        max_origins: how many origins to remember.

    Attributes:
        ignored: how many malformed ``DPoP-Nonce`` values were ignored.

    Raises:
        ConfigError: ``max_origins`` is not a positive integer.
    """

    __slots__ = ("_logged", "_max", "_nonces", "ignored")

    def __init__(self, *, max_origins: int = DEFAULT_MAX_ORIGINS) -> None:
        if isinstance(max_origins, bool) or not isinstance(max_origins, int) or max_origins < 1:
            raise ConfigError("max_origins must be a positive integer")
        self._max = max_origins
        self._nonces: dict[str, str] = {}
        self._logged: dict[str, None] = {}  # origins whose malformed nonce was logged
        self.ignored = 0

    def __repr__(self) -> str:
        return f"DPoPNonces(origins={len(self._nonces)}, ignored={self.ignored})"

    def get(self, url: str) -> str | None:
        """The nonce last learned from ``url``'s origin, or None."""
        return self._nonces.get(origin(url))

    def learn(self, url: str, value: str | None) -> str | None:
        """Remember ``value`` (a ``DPoP-Nonce`` header, or None) as the nonce of ``url``'s origin.

        Returns the nonce now remembered for that origin: ``value`` when it
        was a valid nonce; otherwise (no header, a malformed one) the nonce
        known before, if any.
        """
        where = origin(url)
        if value is None:
            return self._nonces.get(where)
        value = value.strip()
        if not valid_nonce(value):
            self.ignored += 1
            if where not in self._logged:
                self._logged[where] = None
                forget_oldest(self._logged, self._max)
                # The value is not quoted: it is the server's, and may be anything.
                logger.warning(
                    "ignored a malformed DPoP-Nonce header from %s (%d characters); "
                    "proofs to it go on without that nonce",
                    where,
                    len(value),
                )
            return self._nonces.get(where)
        nonces = self._nonces
        nonces.pop(where, None)
        nonces[where] = value
        forget_oldest(nonces, self._max)
        return value
