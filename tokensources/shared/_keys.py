"""The identity that keys a shared token, and the Redis key names built from it."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from .._errors import ConfigError

__all__ = ["RedisKeys", "shared_identity"]

# A user-chosen key goes inside a Redis Cluster hash tag, so it may not hold
# braces; the rest keeps keys readable in `redis-cli` and safe in logs.
_KEY_PATTERN = re.compile(r"[A-Za-z0-9._:/@+=-]{1,200}")
# Wrappers (buffer, retry, ...) expose the source they wrap as `.source`;
# they do not change which token the endpoint issues.
_MAX_UNWRAP = 16


def shared_identity(source: object, key: str | None) -> str:
    """The identity under which ``source``'s tokens are shared.

    ``key``, when given, is used as it is. Otherwise the identity is the
    ``cache_identity`` of ``source`` or of the first source it wraps (through
    ``.source``): a digest of everything that decides which token the
    endpoint issues — token URL, client id, authentication method, scopes,
    parameters and a one-way digest of the credential.

    Raises:
        ConfigError: ``key`` is malformed, or there is no ``key`` and no
            ``cache_identity`` to be found.
    """
    if key is not None:
        if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
            raise ConfigError(
                "key must be 1 to 200 characters from letters, digits and ._:/@+=- "
                "(no braces or spaces)"
            )
        return key
    current: object = source
    for _ in range(_MAX_UNWRAP):
        identity = getattr(current, "cache_identity", None)
        if isinstance(identity, str) and identity:
            return identity
        current = getattr(current, "source", None)
        if current is None:
            break
    raise ConfigError(
        f"{type(source).__name__} has no cache_identity, so it cannot say which sources "
        "may share its tokens; pass key= naming the token (the same key means the same token)"
    )


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
