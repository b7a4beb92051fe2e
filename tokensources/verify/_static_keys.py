"""Keys given directly to the verifier instead of fetched from a JWKS URL."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._errors import ConfigError, InvalidTokenError
from ._jwk import KeySet, VerificationKey, parse_jwks

__all__ = ["JWKSDocument", "StaticKeys"]

JWKSDocument = Mapping[str, Any] | bytes | str
"""A JWKS document: parsed, or as JSON text."""


class StaticKeys:
    """Keys given directly instead of fetched: a JWKS document, or a function returning one.

    A function is called on every verification (for key stores that change
    in-process); its document is parsed again only when it returns a
    different object, so a function that returns the same object until its
    keys change costs one call per verification.
    """

    def __init__(self, jwks: JWKSDocument | Callable[[], JWKSDocument]) -> None:
        self._jwks = jwks
        self._document: object = None
        self._keys = KeySet((), {})
        if not callable(jwks):
            self._load(jwks)

    def _load(self, document: JWKSDocument) -> KeySet:
        if document is not self._document:
            try:
                self._keys = parse_jwks(document)
            except (ValueError, TypeError):
                raise ConfigError("jwks must be a JWKS document with a 'keys' array") from None
            self._document = document
        return self._keys

    def fresh(self) -> KeySet:
        """The current key set (the function's document, parsed when it changed)."""
        return self._load(self._jwks() if callable(self._jwks) else self._jwks)

    async def find(self, kid: str | None, alg: str) -> VerificationKey:
        """The key that verifies a token with header ``kid`` and ``alg``.

        Concurrency and cancellation: no I/O and no suspension.

        Raises:
            InvalidTokenError: no key fits the header.
        """
        return self.lookup(kid, alg)

    def lookup(self, kid: str | None, alg: str) -> VerificationKey:
        """``find`` without the coroutine, for callers that cannot await.

        Raises:
            InvalidTokenError: no key fits the header.
        """
        key = self.fresh().find(kid, alg)
        if key is None:
            raise InvalidTokenError("no configured key fits the token's key id and algorithm")
        return key
