"""The value stored for a shared token: a versioned envelope, optionally AES-GCM sealed.

Two forms, both JSON::

    {"v": 1, "id": "<identity>", "token": {...Token.to_dict()...}}
    {"v": 1, "alg": "AES-GCM", "nonce": "<base64>", "ct": "<base64>"}

In the sealed form the plaintext is the token JSON and the identity is the
associated data (NIST SP 800-38D), so a value moved from another identity's
key, written by someone without the key, or sealed with another key fails
authentication. Anything that does not open cleanly is treated as absent.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._errors import ConfigError
from .._token import Token

__all__ = ["Envelope", "encryption_keys"]

VERSION = 1
_AAD_PREFIX = b"tokensources.shared.v1\x00"
_NONCE_BYTES = 12  # NIST SP 800-38D §8.2: 96-bit random nonces
_AES_KEY_SIZES = frozenset({16, 24, 32})
_ALG = "AES-GCM"
# A token is a few KiB at most; anything far larger is not ours, and is not
# worth parsing (a deeply nested one would exhaust the recursion limit).
MAX_VALUE_BYTES = 64 * 1024


def encryption_keys(value: bytes | Sequence[bytes] | None) -> tuple[bytes, ...]:
    """Validate ``encryption_key``: one AES key, or several for rotation (first seals).

    Raises:
        ConfigError: a key is not 16, 24 or 32 bytes. The message never
            shows key material.
    """
    if value is None:
        return ()
    keys = (value,) if isinstance(value, (bytes, bytearray)) else tuple(value)
    if not keys:
        raise ConfigError("encryption_key must be a key or a non-empty sequence of keys")
    for key in keys:
        if not isinstance(key, (bytes, bytearray)) or len(key) not in _AES_KEY_SIZES:
            raise ConfigError(
                "encryption_key must be 16, 24 or 32 random bytes (AES-128/192/256), "
                "e.g. os.urandom(32)"
            )
    return tuple(bytes(key) for key in keys)


class Envelope:
    """Seals tokens into stored values for one identity, and opens them again.

    Args:
        identity: the shared identity; bound into every value.
        keys: AES keys; the first seals, any of them opens. Empty: values
            are stored as plain JSON (readable by anyone with store access).
    """

    __slots__ = ("_aad", "_ciphers", "_identity")

    def __init__(self, identity: str, keys: tuple[bytes, ...] = ()) -> None:
        self._identity = identity
        self._aad = _AAD_PREFIX + identity.encode()
        self._ciphers = tuple(AESGCM(key) for key in keys)

    @property
    def encrypted(self) -> bool:
        """Whether values are sealed with AES-GCM."""
        return bool(self._ciphers)

    def seal(self, token: Token) -> bytes:
        """The stored value for ``token``."""
        if not self._ciphers:
            document: dict[str, Any] = {
                "v": VERSION,
                "id": self._identity,
                "token": token.to_dict(),
            }
        else:
            nonce = os.urandom(_NONCE_BYTES)
            ciphertext = self._ciphers[0].encrypt(nonce, token.to_json().encode(), self._aad)
            document = {
                "v": VERSION,
                "alg": _ALG,
                "nonce": base64.b64encode(nonce).decode(),
                "ct": base64.b64encode(ciphertext).decode(),
            }
        return json.dumps(document, separators=(",", ":")).encode()

    def open(self, value: bytes | str | None) -> Token | None:
        """The token in a stored value, or None if it is absent, corrupt or not ours.

        Never raises for a bad value: a value that does not open (larger
        than 64 KiB, nested too deeply, ...) is treated as if there were
        none, so it gets replaced.
        """
        if value is None or len(value) > MAX_VALUE_BYTES:
            return None
        try:
            document = json.loads(value)
            if not isinstance(document, dict) or document.get("v") != VERSION:
                return None
            if self._ciphers:
                return self._open_sealed(document)
            if "alg" in document or document.get("id") != self._identity:
                return None
            return Token.from_dict(document["token"])
        except (ValueError, KeyError, TypeError, RecursionError):
            # ValueError covers bad JSON, bad base64 and ConfigError from Token;
            # RecursionError, nesting deep enough to fit in the size limit.
            return None

    def _open_sealed(self, document: dict[str, Any]) -> Token | None:
        if document.get("alg") != _ALG:
            return None
        try:
            nonce = base64.b64decode(document["nonce"], validate=True)
            ciphertext = base64.b64decode(document["ct"], validate=True)
        except (binascii.Error, TypeError):
            return None
        if len(nonce) != _NONCE_BYTES:
            return None
        for cipher in self._ciphers:
            try:
                plaintext = cipher.decrypt(nonce, ciphertext, self._aad)
            except InvalidTag:
                continue
            return Token.from_json(plaintext)
        return None
