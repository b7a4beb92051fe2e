"""DPoP (RFC 9449) at one issuer's token endpoint: who must use it, nonces, checks, counters.

A token request that carries a ``DPoP`` header has its proof checked by
``tokensources.verify``'s checker (the one the resource side uses too) and
receives a DPoP-bound token: ``token_type: DPoP`` and a JWT access token
whose ``cnf.jkt`` is the proof key's thumbprint (RFC 9449 §5, §6.1). A
request without one receives a bearer token, unless its client must use
DPoP. With nonces on, every answer carries ``DPoP-Nonce`` and a proof
without the current nonce is answered ``use_dpop_nonce`` (RFC 9449 §8);
``rotate_nonce()`` (or ``nonce_lifetime``) moves to a new one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._source import Clock
from ..verify._dpop import DPoPNonceError, DPoPProofChecker, DPoPProofError, VerifiedProof
from ..verify._dpop_binding import check_dpop_binding
from ._asgi import Request, Response
from ._oauth_errors import OAuthError

__all__ = ["DPoPCounters", "ResourceDPoP", "TokenEndpointDPoP"]


@dataclass(slots=True)
class DPoPCounters:
    """What the token endpoint saw of DPoP.

    Attributes:
        proofs: token requests that carried a DPoP proof.
        accepted: proofs that passed every check.
        invalid: proofs refused with ``invalid_dpop_proof`` (and requests of
            clients that must use DPoP that carried none).
        nonce_challenges: answers ``use_dpop_nonce``: a proof without the
            current nonce.
        bound_tokens: DPoP-bound tokens issued.
    """

    proofs: int = 0
    accepted: int = 0
    invalid: int = 0
    nonce_challenges: int = 0
    bound_tokens: int = 0

    def reset(self) -> None:
        """Set every counter back to zero."""
        self.proofs = self.accepted = self.invalid = 0
        self.nonce_challenges = self.bound_tokens = 0


class TokenEndpointDPoP:
    """DPoP at one issuer's token endpoint; tests change its settings at any time.

    Args:
        clock: the issuer's clock (proof ``iat`` windows, nonce lifetimes).
        token_urls: the URLs that name the token endpoint now (a proof's
            ``htu`` must be one of them).
        bind_token: signs an access token again with ``cnf.jkt``.
        base_urls: the issuer's base URLs now, for the demo API's URLs.

    Attributes:
        supported: False makes the endpoint ignore DPoP altogether, as a
            server without DPoP does: proofs are not looked at, every token
            is a bearer token.
        require_nonce: demand the current nonce in every proof.
        nonce_lifetime: seconds after which the nonce rotates by itself, or
            None to rotate only on ``rotate_nonce()``.
        counters: what was seen.
        checker: the proof checker (its replay memory spans all requests).
        api: DPoP at the demo API, which shares the nonce: the API and the
            token endpoint are one origin, and a client keeps one nonce per
            origin.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        token_urls: Callable[[], Iterable[str]],
        bind_token: Callable[[str, str], str],
        base_urls: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self._clock = clock
        self._token_urls = token_urls
        self._bind_token = bind_token
        self.supported = True
        self.require_nonce = False
        self.nonce_lifetime: float | None = None
        self.counters = DPoPCounters()
        self.checker = DPoPProofChecker(clock=clock)
        self._required: set[str] = set()
        self._nonce = secrets.token_urlsafe(16)
        self._nonce_at = clock()
        self.api = ResourceDPoP(clock=clock, nonce=lambda: self.nonce, base_urls=base_urls)

    def require(self, client_id: str, required: bool = True) -> None:
        """Make ``client_id`` use DPoP (or, with ``required=False``, let it choose again)."""
        if required:
            self._required.add(client_id)
        else:
            self._required.discard(client_id)

    def required(self, client_id: str) -> bool:
        """Whether ``client_id`` must send a DPoP proof with its token requests."""
        return client_id in self._required

    @property
    def nonce(self) -> str:
        """The current nonce (rotated first if its lifetime is over)."""
        lifetime = self.nonce_lifetime
        if lifetime is not None and self._clock() >= self._nonce_at + lifetime:
            self.rotate_nonce()
        return self._nonce

    def rotate_nonce(self) -> str:
        """Move to a new nonce at once; proofs with the old one are answered ``use_dpop_nonce``."""
        self._nonce = secrets.token_urlsafe(16)
        self._nonce_at = self._clock()
        return self._nonce

    def check(self, request: Request, client_id: str) -> str | None:
        """The ``jkt`` to bind the token to, or None for a bearer token.

        Raises:
            OAuthError: ``invalid_dpop_proof`` (the proof fails a check, or
                the client must use DPoP and sent none) or ``use_dpop_nonce``.
        """
        if not self.supported:
            return None
        proof = request.headers.get("dpop")
        if proof is None:
            if client_id in self._required:
                self.counters.invalid += 1
                raise OAuthError("invalid_dpop_proof", "this client must send a DPoP proof")
            return None
        self.counters.proofs += 1
        nonces = (self.nonce,) if self.require_nonce else None
        problem: DPoPProofError | None = None
        try:
            verified = self.checker.check(proof, "POST", self._token_urls(), nonces=nonces)
        except DPoPProofError as exc:
            problem = exc
        if isinstance(problem, DPoPNonceError):
            self.counters.nonce_challenges += 1
            raise OAuthError(problem.error, str(problem))
        if problem is not None:
            self.counters.invalid += 1
            raise OAuthError(problem.error, str(problem))
        self.counters.accepted += 1
        return verified.jkt

    def bind(self, payload: dict[str, Any], jkt: str) -> dict[str, Any]:
        """The token answer ``payload`` made DPoP-bound to ``jkt`` (RFC 9449 §5, §6.1)."""
        bound = dict(payload)
        bound["access_token"] = self._bind_token(payload["access_token"], jkt)
        bound["token_type"] = "DPoP"
        self.counters.bound_tokens += 1
        return bound

    def with_nonce(self, response: Response) -> Response:
        """``response`` with the current ``DPoP-Nonce`` added, while nonces are demanded."""
        if self.supported and self.require_nonce:
            response.headers.append((b"dpop-nonce", self.nonce.encode("ascii")))
        return response


class ResourceDPoP:
    """DPoP at the demo API (``/api/private``): the proofs of DPoP-bound tokens, nonces if demanded.

    A ``DPoP`` token is accepted with a proof that passes every check of
    ``tokensources.verify`` (the same checker, its own replay memory); a
    DPoP-bound token presented as a bearer token is refused (RFC 9449 §7.2).
    With ``require_nonce``, every proof must carry the issuer's current
    nonce, and every answer of the API names it in ``DPoP-Nonce``.

    Args:
        clock: the issuer's clock.
        nonce: the issuer's current nonce (shared with its token endpoint).
        base_urls: the issuer's base URLs now.

    Attributes:
        require_nonce: demand the current nonce in every proof.
        counters: what was seen (``bound_tokens`` stays 0: the API issues none).
        checker: the proof checker.
    """

    def __init__(
        self, *, clock: Clock, nonce: Callable[[], str], base_urls: Callable[[], Iterable[str]]
    ) -> None:
        self._nonce = nonce
        self._base_urls = base_urls
        self.require_nonce = False
        self.counters = DPoPCounters()
        self.checker = DPoPProofChecker(clock=clock)

    def check(
        self, request: Request, claims: Mapping[str, Any], scheme: str, token: str
    ) -> VerifiedProof | None:
        """Check the binding of ``token`` (verified ``claims``) sent with ``scheme``.

        Returns what the proof says, or None for a token that is not DPoP-bound.

        Raises:
            InvalidTokenError: a bound token without its proof, or the reverse.
            DPoPNonceError: the proof lacks the current nonce.
            DPoPProofError: the proof fails another check.
        """
        counters = self.counters
        if scheme == "dpop":
            counters.proofs += 1
        # The URL the client chose (its Host), and the issuer's own names for the API.
        urls = {f"{request.scheme}://{request.host}{request.path}"} if request.host else set()
        urls |= {base + request.path for base in self._base_urls()}
        try:
            verified = check_dpop_binding(
                claims,
                scheme=scheme,
                access_token=token,
                proof=request.headers.get("dpop"),
                method=request.method,
                url=urls,
                checker=self.checker,
                nonces=(self._nonce(),) if self.require_nonce else None,
            )
        except DPoPNonceError:
            counters.nonce_challenges += 1
            raise
        except DPoPProofError:
            counters.invalid += 1
            raise
        if verified is not None:
            counters.accepted += 1
        return verified

    def with_nonce(self, response: Response) -> Response:
        """``response`` with the current ``DPoP-Nonce`` added, while nonces are demanded."""
        if self.require_nonce:
            response.headers.append((b"dpop-nonce", self._nonce().encode("ascii")))
        return response
