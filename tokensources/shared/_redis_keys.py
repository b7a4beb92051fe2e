"""The Redis key names of one shared token: its value, its lock and its cooldown."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from .._errors import ConfigError

__all__ = ["RedisKeys"]


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """The Redis keys of one shared token.

    The tag is a Redis Cluster hash tag (``{...}``), so the token, its lock
    and its cooldown always live in one slot and one Lua script may touch
    all three. Without an encryption key the tag is the identity itself;
    with one it is HMAC-SHA256(key, identity), so that key names tell
    someone without the key nothing to test guesses of the credential
    against.
    """

    token: str
    lock: str
    cooldown: str

    @classmethod
    def build(cls, namespace: str, identity: str, secret: bytes | None = None) -> RedisKeys:
        """The keys for ``identity`` under ``namespace``, tagged by HMAC under ``secret`` if given.

        Raises:
            ConfigError: the namespace is empty or holds a brace.
        """
        if not isinstance(namespace, str) or not namespace or "{" in namespace or "}" in namespace:
            raise ConfigError("namespace must be a non-empty string without braces")
        tag = identity
        if secret is not None:
            # Domain-separated from the key's use by AES-GCM for the values.
            mac = hmac.new(secret, b"tokensources.shared.keyname.v1\x00", hashlib.sha256)
            mac.update(identity.encode())
            tag = mac.hexdigest()
        base = f"{namespace}:{{{tag}}}"
        return cls(token=f"{base}:token", lock=f"{base}:lock", cooldown=f"{base}:cooldown")
