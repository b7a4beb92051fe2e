"""DPoP-bound tokens at the resource (RFC 9449 §7): ``cnf.jkt`` against the request's proof.

A token bound to a DPoP key names the key's RFC 7638 thumbprint in
``cnf.jkt``; it is accepted only as ``Authorization: DPoP <token>`` with a
proof (the ``DPoP`` header) signed by that key for this very request, and
never as a bearer token (RFC 9449 §7.2). The proof itself is checked by
``DPoPProofChecker`` (``verify._dpop``). A token without ``cnf.jkt`` is not
bound, and presented as a bearer token it is not checked here; a token whose
``cnf`` or ``cnf.jkt`` is malformed is refused (see ``verify._confirmation``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from .._errors import InvalidTokenError
from ._confirmation import confirmation
from ._dpop import DPoPProofChecker, VerifiedProof

__all__ = ["bound_jkt", "check_dpop_binding"]


def bound_jkt(claims: Mapping[str, Any]) -> str | None:
    """The ``cnf.jkt`` of verified claims (RFC 9449 §6.1), or None for a token not so bound.

    Raises:
        InvalidTokenError: ``cnf`` is not an object, or ``cnf.jkt`` not a
            non-empty string.
    """
    return confirmation(claims, "jkt")


def check_dpop_binding(
    claims: Mapping[str, Any],
    *,
    scheme: str,
    access_token: str,
    proof: object,
    method: str,
    url: str | Iterable[str],
    checker: DPoPProofChecker | None,
    nonces: Collection[str] | None = None,
) -> VerifiedProof | None:
    """Refuse a DPoP-bound token used without its proof, and check the proof (RFC 9449 §7).

    Args:
        claims: the token's verified claims.
        scheme: the ``Authorization`` scheme it came with, lower-cased
            (``"bearer"`` or ``"dpop"``).
        access_token: the token, for the proof's ``ath``.
        proof: the request's ``DPoP`` header (None when absent).
        method: the request's method.
        url: the request's URL, or every URL that names the resource.
        checker: the proof checker; None when DPoP is not accepted here.
        nonces: the nonces accepted now (``DPoPNonce.accepted()``), or None
            when no nonce is demanded.

    Returns:
        What the proof says, or None for a bearer token that is not DPoP-bound.

    Raises:
        InvalidTokenError: a DPoP-bound token presented as a bearer token
            (§7.2), a DPoP token without ``cnf.jkt``, a malformed ``cnf``
            (not an object, or ``cnf.jkt`` not a string), or DPoP not accepted.
        DPoPNonceError: the proof lacks the current nonce.
        DPoPProofError: the proof fails another check (its key is not the
            token's, its ``ath`` is not the token's hash, ...).
    """
    jkt = bound_jkt(claims)
    if scheme != "dpop":
        if jkt is not None:
            raise InvalidTokenError("the token is DPoP-bound but was presented as a bearer token")
        return None
    if checker is None:
        raise InvalidTokenError("DPoP tokens are not accepted here")
    if jkt is None:
        raise InvalidTokenError("the token was presented as DPoP but is not DPoP-bound")
    return checker.check(
        proof,
        method,
        url,
        access_token=access_token,
        jkt=jkt,
        nonces=nonces,
    )
