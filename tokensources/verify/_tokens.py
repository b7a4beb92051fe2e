"""What is checked of every incoming token before anything else, and its cache key.

Both verifiers refuse a token that is absent, too long or not ASCII before
they hash it, parse it or send it anywhere: a 1 MB header costs one length
check. Caches key their entries by ``token_digest``, the SHA-256 of the whole
token, so no cache holds a token as a key and two tokens that differ in a
single byte (a forged signature on a real header and payload) never share an
entry.
"""

from __future__ import annotations

import hashlib

from .._errors import InvalidTokenError

__all__ = ["check_token", "token_digest"]


def check_token(token: object, max_bytes: int) -> str:
    """``token`` if it is a non-empty ASCII string of at most ``max_bytes``.

    Raises:
        InvalidTokenError: it is not; the message never holds the token.
    """
    if not isinstance(token, str) or not token:
        raise InvalidTokenError("no token")
    # The length first: nothing else runs over an oversized value.
    if len(token) > max_bytes:
        raise InvalidTokenError(f"the token is longer than {max_bytes} bytes")
    # RFC 6750 §2.1 (b64token) and RFC 7515 §7.1 (base64url): tokens are ASCII,
    # so characters and bytes are the same count.
    if not token.isascii():
        raise InvalidTokenError("the token has characters outside ASCII")
    return token


def token_digest(token: str) -> bytes:
    """The SHA-256 digest of a token checked by ``check_token``: the key of its cache entries."""
    return hashlib.sha256(token.encode("ascii")).digest()
