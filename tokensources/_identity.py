"""What keys a shared token: the identity of a token request and the credential digest.

Every source that can share its tokens describes the request that decides
which token the endpoint issues; this module turns that description into one
identity string, and a credential into a one-way digest, so that no two
configurations that would get different tokens ever share one, and no secret
ever appears in a key.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ._chain import wrapper_chain
from ._errors import ConfigError

__all__ = [
    "credential_digest",
    "grant_identity",
    "identity_digest",
    "process_digest",
    "shared_identity",
]

# A user-chosen key goes inside a Redis Cluster hash tag, so it may not hold
# braces; the rest keeps keys readable in `redis-cli` and safe in logs.
_KEY_PATTERN = re.compile(r"[A-Za-z0-9._:/@+=-]{1,200}")


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
    # Wrappers (buffer, retry, ...) do not change which token the endpoint issues.
    for current in wrapper_chain(source):
        identity = getattr(current, "cache_identity", None)
        if isinstance(identity, str) and identity:
            return identity
    raise ConfigError(
        f"{type(source).__name__} has no cache_identity, so it cannot say which sources "
        "may share its tokens; pass key= naming the token (the same key means the same token)"
    )


def identity_digest(material: Mapping[str, Any]) -> str:
    """The identity of a token request described by ``material``: SHA-256 of canonical JSON.

    ``material`` holds what decides which token the endpoint issues, with
    every credential already replaced by its ``credential_digest``. Keys are
    sorted and whitespace dropped, so equal descriptions give equal
    identities whatever their order.
    """
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def grant_identity(
    *,
    token_url: str,
    client_id: str | None,
    client_auth: tuple[str, str],
    scopes: Iterable[str],
    params: Mapping[str, str],
    dpop_jkt: str | None = None,
) -> str:
    """The identity of a grant's token request.

    Args:
        token_url: the token endpoint.
        client_id: the client identifier.
        client_auth: the client authentication's method name and its
            credential digest (see ``credential_digest``).
        scopes: the requested scopes, in any order.
        params: the other form fields (audience, resource, ...).
        dpop_jkt: the thumbprint of the DPoP key tokens are bound to (RFC
            9449 §6.1), or None for bearer tokens. A public value: the
            private key never enters an identity.
    """
    method, credential = client_auth
    material: dict[str, Any] = {
        "token_url": token_url,
        "client_id": client_id,
        "auth": method,
        "scopes": sorted(scopes),
        "params": sorted(params.items()),
        "credential": credential,
    }
    if dpop_jkt is not None:
        # Only when set, so that the identities of bearer sources stay as they were.
        material["dpop_jkt"] = dpop_jkt
    return identity_digest(material)


# scrypt (RFC 7914) at N=2**13, r=8: about 30 ms and 8 MiB per digest, so
# that testing guesses of a weak secret against a published identity (a
# Redis key name, a log line) costs that much per guess.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**13, 8, 1
_SCRYPT_SALT = b"tokensources.credential.v2"
# Memo keys are MACs under a key that never leaves this process, so the memo
# holds no secret and nothing that can be tested offline without that key.
_PROCESS_KEY = os.urandom(32)


def _material(parts: tuple[str, ...]) -> bytes:
    """The parts, length-prefixed, so that different splits never collide."""
    material = bytearray()
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        material += len(encoded).to_bytes(4, "big") + encoded
    return bytes(material)


def credential_digest(*parts: str) -> str:
    """A slow, salted one-way digest of credential material (scrypt, RFC 7914).

    Fit to leave the process (a Redis key, a log line). The parts (for
    example client id and secret) are length-prefixed, so different splits
    never collide. Building many sources with the same credential stays
    cheap: the last few digests are remembered, keyed by a MAC under a
    per-process random key (never by the secret itself).
    """
    material = _material(parts)
    memo_key = hmac.new(_PROCESS_KEY, material, hashlib.sha256).digest()
    cell = _slow_digest_memo(memo_key)
    if not cell:
        digest = hashlib.scrypt(
            material, salt=_SCRYPT_SALT, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
        )
        cell.append(digest.hex())
    return cell[0]


@functools.lru_cache(maxsize=32)
def _slow_digest_memo(memo_key: bytes) -> list[str]:
    # A mutable cell per memo key: the material is never an lru_cache key.
    return []


def process_digest(*parts: str) -> str:
    """A fast digest of credential material that means something only inside this process.

    HMAC-SHA256 under a random key made when the process starts: cheap
    enough for every request, for remembering something about a credential
    (what ``AuthStyle.AUTO`` learned) without keeping the credential, and
    useless outside the process. Never publish it; ``credential_digest`` is
    the one to publish.
    """
    return hmac.new(_PROCESS_KEY, _material(parts), hashlib.sha256).hexdigest()
