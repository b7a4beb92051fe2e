"""The check of a DPoP proof against the request it came with (RFC 9449 §4.3), pure but for a clock.

One home for both sides: ``tokensources.verify`` checks the proofs that come
with DPoP-bound tokens, and the testing server checks those that come with
token requests. A proof is accepted when all of these hold:

1. it is a compact JWS whose header says ``typ: dpop+jwt``, names an
   accepted asymmetric ``alg`` and carries a public ``jwk`` (no private
   member) that fits it, and its signature verifies with that key;
2. ``htm`` is the request's method and ``htu`` its URL (both normalised
   by ``target_uri``: no query, no fragment);
3. ``iat`` is within ``max_age`` seconds before now (``leeway`` forgiven on
   either side);
4. with an access token: ``ath`` is its hash; with a ``jkt`` (the token's
   ``cnf.jkt``): the key's thumbprint is that ``jkt``;
5. with nonces demanded: ``nonce`` is one of them — otherwise the answer is
   ``use_dpop_nonce``, so that the client retries with the current one;
6. its ``jti`` has not been seen with this key while such a proof was
   acceptable (the replay memory is bounded and shared by every request the
   checker sees). It is remembered only once every other check passed, so a
   proof refused for another reason cannot poison a later one. An id is
   never forgotten while its proof could still be replayed: when the memory
   is full of such ids, new proofs are refused until some of them expire
   (failing closed), so size it for the peak proof rate (see ``DPoPReplays``).

Every refusal is a ``DPoPProofError`` (``invalid_dpop_proof``) or a
``DPoPNonceError`` (``use_dpop_nonce``) whose message names the check, and
never contains the proof, the token or the key.
"""

from __future__ import annotations

import heapq
import hmac
import itertools
import json
import math
import threading
import time
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import jwt

from .._errors import ConfigError, InvalidTokenError
from .._jose import verify_signature
from .._log import logger
from .._source import Clock
from ..sources._dpop_key import PROOF_TYPE, access_token_hash, target_uri
from ..wrappers._checks import check_seconds
from ._jwk import check_algorithms, parse_jwks

__all__ = [
    "DEFAULT_PROOF_ALGORITHMS",
    "DPoPNonceError",
    "DPoPProofChecker",
    "DPoPProofError",
    "DPoPReplays",
    "VerifiedProof",
]

DEFAULT_PROOF_ALGORITHMS = ("ES256", "ES384", "EdDSA", "PS256", "RS256")
# A proof is a few hundred bytes (an RSA jwk makes it about a kilobyte).
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 256
# Private JWK members (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2): RFC 9449
# §4.3 refuses a proof whose header carries any of them.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class DPoPProofError(InvalidTokenError):
    """A DPoP proof is missing or not acceptable (RFC 9449 §7.1 ``invalid_dpop_proof``).

    Attributes:
        error: the OAuth error code to answer with.
    """

    error: ClassVar[str] = "invalid_dpop_proof"


class DPoPNonceError(DPoPProofError):
    """A DPoP proof lacks the nonce the server demands, or has an old one (``use_dpop_nonce``).

    The answer carries the current nonce in ``DPoP-Nonce`` (RFC 9449 §8),
    and the client retries once with it.
    """

    error: ClassVar[str] = "use_dpop_nonce"


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    """What an accepted DPoP proof says.

    Attributes:
        jkt: the RFC 7638 thumbprint of the proof's key: what a token bound
            to it carries as ``cnf.jkt``.
        jti: the proof's unique id.
        htm: the method it was made for.
        htu: the URL it was made for, normalised.
        iat: when it was made, in epoch seconds.
        nonce: the nonce it carried, or None.
    """

    jkt: str
    jti: str
    htm: str
    htu: str
    iat: float
    nonce: str | None


class DPoPReplays:
    """A bounded memory of the proof ids seen, each kept while its proof could be replayed.

    An id is kept until its proof is too old to be accepted anyway, and
    never forgotten before: forgetting a live id would let its proof be
    replayed. At most ``max_entries`` ids are kept; when that many live ids
    are remembered, a new proof is refused (``DPoPProofError`` saying the
    replay memory is full) until the oldest expire. Such refusals are
    counted in ``refused_full`` and the first one is logged at WARNING on
    the ``tokensources`` logger.

    Size it for the peak rate of accepted proofs times the time each one is
    kept (the checker's ``max_age + 2 * leeway``, 70 seconds by default):
    the default 100 000 holds about 1 400 proofs a second. Memory is about
    400 bytes an id. The memory is per process: replicas each keep their
    own, so a proof replayed to another replica within its ``max_age`` is
    not recognised there (a short-lived ``DPoPNonce`` narrows that window).

    Safe from any thread and from every task of a server: each call holds a
    lock for a few dictionary and heap steps.

    Args:
        max_entries: the most ids remembered.

    Raises:
        ConfigError: ``max_entries`` is not a positive integer.
    """

    __slots__ = ("_expiry", "_lock", "_max", "_order", "_seen", "_warned", "refused_full")

    def __init__(self, *, max_entries: int = 100_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ConfigError("max_entries must be a positive integer")
        self._max = max_entries
        self._seen: dict[Hashable, float] = {}
        # (until, order, key) for every remembered id, soonest expiry first;
        # ``order`` breaks ties, so that keys themselves are never compared.
        self._expiry: list[tuple[float, int, Hashable]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._warned = False
        self.refused_full = 0

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, key: Hashable, until: float, now: float) -> bool:
        """Remember ``key`` until ``until``; False when it is remembered already.

        Raises:
            DPoPProofError: the memory is full of ids that are still live.
        """
        with self._lock:
            self._forget_expired(now)
            seen = self._seen
            if key in seen:
                return False
            full = len(seen) >= self._max
            if not full:
                seen[key] = until
                heapq.heappush(self._expiry, (until, next(self._order), key))
            else:
                self.refused_full += 1
                warn, self._warned = not self._warned, True
        if full:
            if warn:
                logger.warning(
                    "the DPoP replay memory is full (%d live proof ids): new proofs are "
                    "refused until some expire; raise DPoPReplays(max_entries=...)",
                    self._max,
                )
            raise DPoPProofError("the DPoP replay memory is full; the proof is refused")
        return True

    def _forget_expired(self, now: float) -> None:
        expiry, seen = self._expiry, self._seen
        while expiry and expiry[0][0] <= now:
            _, _, key = heapq.heappop(expiry)
            seen.pop(key, None)


class DPoPProofChecker:
    """Checks DPoP proofs (RFC 9449 §4.3) against the requests they come with.

    Args:
        algorithms: the accepted proof algorithms (asymmetric names of the
            JOSE table only).
        max_age: seconds a proof is acceptable after its ``iat`` (> 0).
        leeway: seconds of clock difference forgiven on ``iat`` (>= 0).
        replays: the memory of seen ``jti`` values; share one between
            checkers that guard the same resource. Each accepted proof is
            kept ``max_age + 2 * leeway`` seconds: size ``max_entries`` for
            the peak proof rate times that.
        clock: wall-clock time.

    Raises:
        ConfigError: an argument is not acceptable.
    """

    __slots__ = ("_algorithms", "_clock", "_leeway", "_max_age", "replays")

    def __init__(
        self,
        *,
        algorithms: Collection[str] = DEFAULT_PROOF_ALGORITHMS,
        max_age: float = 60.0,
        leeway: float = 5.0,
        replays: DPoPReplays | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._algorithms = frozenset(check_algorithms(algorithms))
        self._max_age = check_seconds("max_age", max_age, positive=True)
        self._leeway = check_seconds("leeway", leeway)
        self.replays = replays if replays is not None else DPoPReplays()
        self._clock = clock

    @property
    def algorithms(self) -> list[str]:
        """The accepted proof algorithms, sorted (what metadata announces)."""
        return sorted(self._algorithms)

    def check(
        self,
        proof: object,
        method: str,
        url: str | Iterable[str],
        *,
        access_token: str | None = None,
        jkt: str | None = None,
        nonces: Collection[str] | None = None,
    ) -> VerifiedProof:
        """Check ``proof`` (the ``DPoP`` header) for a ``method`` request to ``url``.

        Args:
            proof: the ``DPoP`` header's value (None when the request had none).
            method: the request's method.
            url: the request's URL as the server received it, or every URL
                that names the resource (a server known by several names).
            access_token: the access token the request presents, if any; the
                proof's ``ath`` must be its hash.
            jkt: the token's ``cnf.jkt``, if any; the proof's key must be it.
            nonces: the nonces accepted now (the current one and, during a
                rotation, the previous), or one nonce as a string; None
                when no nonce is demanded.

        Raises:
            DPoPNonceError: the proof lacks an accepted nonce.
            DPoPProofError: any other check failed (the message says which).
        """
        header, signed = _split(proof)
        alg = header.get("alg")
        if header.get("typ") != PROOF_TYPE:
            raise DPoPProofError(f"the DPoP proof's typ is not {PROOF_TYPE}")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise DPoPProofError("the DPoP proof's algorithm is not accepted")
        key = _embedded_key(header.get("jwk"), alg)
        claims = _verified_claims(signed, key[1], alg)
        now = self._clock()
        checked = self._claims(claims, method, url, now)
        if access_token is not None:
            ath = claims.get("ath")
            if not isinstance(ath, str) or not _same(ath, access_token_hash(access_token)):
                raise DPoPProofError("the DPoP proof's ath is not the access token's hash")
        if jkt is not None and not _same(key[0], jkt):
            raise DPoPProofError("the DPoP proof's key is not the key the token is bound to")
        nonce = claims.get("nonce")
        if isinstance(nonces, str):
            # A str is a Collection[str] of its characters: `in` would match substrings.
            nonces = (nonces,)
        if nonces is not None and (not isinstance(nonce, str) or nonce not in nonces):
            what = "lacks the nonce" if nonce is None else "has a nonce that is not current"
            raise DPoPNonceError(f"the DPoP proof {what}; use the DPoP-Nonce given")
        until = checked.iat + self._max_age + 2 * self._leeway
        if not self.replays.first_use((key[0], checked.jti), until, now):
            raise DPoPProofError("the DPoP proof's jti was used before (a replayed proof)")
        return VerifiedProof(
            key[0],
            checked.jti,
            checked.htm,
            checked.htu,
            checked.iat,
            nonce if isinstance(nonce, str) else None,
        )

    def _claims(
        self, claims: Mapping[str, Any], method: str, url: str | Iterable[str], now: float
    ) -> _Claims:
        jti, htm, htu, iat = (claims.get(name) for name in ("jti", "htm", "htu", "iat"))
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise DPoPProofError("the DPoP proof has no usable jti")
        if htm != method:
            raise DPoPProofError("the DPoP proof's htm is not the request's method")
        targets = {target_uri(url)} if isinstance(url, str) else {target_uri(u) for u in url}
        target = _target(htu) if isinstance(htu, str) else None
        if target is None or target not in targets:
            raise DPoPProofError("the DPoP proof's htu is not the request's URL")
        if isinstance(iat, bool) or not isinstance(iat, (int, float)) or not math.isfinite(iat):
            raise DPoPProofError("the DPoP proof has no numeric iat")
        if iat > now + self._leeway:
            raise DPoPProofError("the DPoP proof's iat is in the future")
        if iat < now - self._max_age - self._leeway:
            raise DPoPProofError("the DPoP proof is too old (iat)")
        return _Claims(jti, htm, target, float(iat))


@dataclass(frozen=True, slots=True)
class _Claims:
    jti: str
    htm: str
    htu: str
    iat: float


def _split(proof: object) -> tuple[dict[str, Any], str]:
    if proof is None:
        raise DPoPProofError("the request has no DPoP proof")
    if isinstance(proof, str) and "," in proof:
        # A compact JWS has no comma: this is several DPoP headers combined
        # (RFC 9110 §5.3), and RFC 9449 §4.3 allows exactly one.
        raise DPoPProofError("the request has more than one DPoP header")
    if not isinstance(proof, str) or len(proof) > MAX_PROOF_LENGTH or proof.count(".") != 2:
        raise DPoPProofError("the DPoP proof is not a compact JWS")
    header: object = None
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError:
        header = None
    if not isinstance(header, dict):
        # Raised outside the handler: pyjwt's error is no evidence worth keeping.
        raise DPoPProofError("the DPoP proof's header is not readable")
    return header, proof


def _embedded_key(jwk: object, alg: str) -> tuple[str, Any]:
    """The thumbprint and key object of a proof's ``jwk``, checked to fit ``alg``."""
    if not isinstance(jwk, Mapping):
        raise DPoPProofError("the DPoP proof's header has no jwk")
    if _PRIVATE_MEMBERS.intersection(jwk):
        raise DPoPProofError("the DPoP proof's jwk holds private key members")
    found = parse_jwks({"keys": [dict(jwk)]}).find(None, alg)
    if found is None:
        raise DPoPProofError("the DPoP proof's jwk is not a public key that fits its algorithm")
    return found.thumbprint, found.key


def _verified_claims(proof: str, key: Any, alg: str) -> dict[str, Any]:
    payload: bytes | None = None
    try:
        payload = verify_signature(proof, key, alg)
    except (jwt.PyJWTError, ValueError):
        payload = None
    if payload is None:
        raise DPoPProofError("the DPoP proof's signature does not verify")
    claims: object = None
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        claims = None
    if not isinstance(claims, dict):
        raise DPoPProofError("the DPoP proof's claims are not a JSON object")
    return claims


def _same(given: str, expected: str) -> bool:
    """Constant-time equality of two strings, whatever characters they hold.

    ``hmac.compare_digest`` refuses non-ASCII ``str`` (TypeError), and a
    proof's claims may hold any JSON string, lone surrogates included.
    """
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _target(htu: str) -> str | None:
    """``htu`` normalised like the request's URL, or None when it is not an http(s) URL."""
    try:
        return target_uri(htu)
    except ConfigError:
        return None
