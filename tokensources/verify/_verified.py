"""The verified-token cache: a token seen before costs a hash and a dictionary lookup.

``JWTVerifier`` remembers what it concluded about each token it accepted,
under ``token_digest(token)`` (SHA-256 of the whole token), in an LRU of
bounded size. An entry is served only while all of this still holds:

1. The clock is inside the token's own validity window — ``exp``, ``nbf``
   and ``iat`` with the verifier's leeway, exactly as the checks apply them
   (``valid_window``): an entry expires with its token.
2. The key that verified the token is still in the issuer's key set, under
   the token's ``kid`` and fitting its ``alg``: after every change of the
   key set (a JWKS refresh, a rotation) the entry is confirmed once against
   the new set by the key's RFC 7638 thumbprint, and dropped if its key
   left. No result is served from a key set that is not the current one, and
   none at all while the verifier has no usable key set.
3. It is the same token: the digest covers every byte, so a token that
   shares a header and payload with a cached one but carries another
   signature is a miss and is verified in full.

What is cached is only what depends on the token alone (signature, issuer,
audience, times, required claims). Everything about the request is checked
on every call, cached or not: the scopes a route requires, and — for
sender-constrained tokens — the proof of possession of the key the token
is bound to (``cnf``, RFC 7800): a DPoP proof names one request (RFC 9449
§4.3) and can never come from a cache. The cached ``Claims`` carry ``cnf``
for that check.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._claims import Claims
from ._decode import valid_window
from ._jwk import KeySet, VerificationKey
from ._lru import LRU

__all__ = ["Verified", "VerifiedTokens"]


@dataclass(slots=True)
class Verified:
    """What was concluded about one accepted token.

    Attributes:
        claims: its verified claims (shared by every hit: ``Claims`` are read-only).
        kid: the ``kid`` of its header (None without one).
        alg: the ``alg`` of its header.
        thumbprint: the RFC 7638 thumbprint of the key that verified it.
        keys: the key set that key was last confirmed in.
        valid_from: the first instant the checks accept the token.
        valid_until: the first instant they refuse it again (its ``exp``
            plus leeway).
    """

    claims: Claims
    kid: str | None
    alg: str
    thumbprint: str
    keys: KeySet
    valid_from: float
    valid_until: float


class VerifiedTokens:
    """At most ``size`` verification results by token digest (see the module docstring).

    Safe from any thread (``JWTVerifier.verify_sync``): the LRU locks, and an
    entry's confirmation against a new key set is a single attribute write
    that any thread may repeat.
    """

    __slots__ = ("_entries", "_leeway")

    def __init__(self, size: int, *, leeway: float) -> None:
        self._entries: LRU[bytes, Verified] = LRU(size)
        self._leeway = leeway

    def get(self, digest: bytes, keys: KeySet, now: float) -> Claims | None:
        """The claims of the token with ``digest`` if they may be served now, else None.

        ``keys`` is the verifier's current key set; an entry whose key is
        not in it is dropped.
        """
        entries = self._entries
        entry = entries.get(digest)
        if entry is None:
            return None
        if not entry.valid_from <= now < entry.valid_until:
            entries.discard(digest, entry)
            return None
        if entry.keys is not keys:
            key = keys.find(entry.kid, entry.alg)
            if key is None or key.thumbprint != entry.thumbprint:
                # Its key left the key set (or the kid now names another key).
                entries.discard(digest, entry)
                return None
            entry.keys = keys
        return entry.claims

    def put(
        self,
        digest: bytes,
        claims: Claims,
        header: tuple[str, str | None],
        key: VerificationKey,
        keys: KeySet,
    ) -> None:
        """Remember that the token with ``digest`` verified as ``claims``.

        Args:
            digest: the token's ``token_digest``.
            claims: its verified claims.
            header: the ``alg`` and ``kid`` of its header, as the key was
                looked up by (a confirmation repeats that lookup).
            key: the key that verified it.
            keys: the current key set.
        """
        alg, kid = header
        valid_from, valid_until = valid_window(claims, self._leeway)
        entry = Verified(claims, kid, alg, key.thumbprint, keys, valid_from, valid_until)
        self._entries.put(digest, entry)

    def __len__(self) -> int:
        return len(self._entries)
