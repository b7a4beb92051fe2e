"""The Token value."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._errors import ConfigError
from ._redact import fingerprint

__all__ = ["Token"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_NOT_JSON = object()
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and what is known about its lifetime.

    Immutable and safe to share between tasks and threads. ``repr()`` and
    ``str()`` name the token only by a short fingerprint and never show
    ``access_token`` or the contents of ``extra`` (which may hold a refresh
    token or an id token).

    Attributes:
        access_token: the bearer credential itself.
        token_type: the scheme for the ``Authorization`` header. ``bearer`` in
            any case is normalised to ``Bearer``; other types are kept as given.
        expires_at: wall-clock expiry in epoch seconds, or None when unknown.
        refresh_at: when a cache should start refreshing, in epoch seconds;
            None means "at expiry". Set by ``buffer()``.
        scope: the granted scope, space-separated, when the server said.
        extra: any other fields of the token response, read-only.
        jkt: for a DPoP-bound token (``token_type`` ``DPoP``), the RFC 7638
            thumbprint of the key it is bound to (RFC 9449 §6.1); None for
            an unbound token.

    Two tokens are equal when their fields other than ``extra`` are equal.
    """

    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    expires_at: float | None = None
    refresh_at: float | None = None
    scope: str | None = None
    extra: Mapping[str, Any] = field(
        default_factory=lambda: _EMPTY, repr=False, compare=False, hash=False
    )
    jkt: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.access_token, str) or not self.access_token:
            raise ConfigError("access_token must be a non-empty string")
        if not _VISIBLE_ASCII.fullmatch(self.access_token):
            # It goes into an Authorization header: a line break would inject
            # headers, and whitespace or control characters make HTTP libraries
            # fail with errors that quote the value.
            raise ConfigError(
                "access_token must be visible ASCII (no spaces or control characters)"
            )
        if not isinstance(self.token_type, str) or not self.token_type.strip():
            raise ConfigError("token_type must be a non-empty string")
        token_type = self.token_type.strip()
        if token_type.lower() == "bearer":
            token_type = "Bearer"
        object.__setattr__(self, "token_type", token_type)
        for name in ("expires_at", "refresh_at"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"{name} must be a number of epoch seconds or None")
                if not math.isfinite(value):
                    raise ConfigError(f"{name} must be finite")
                object.__setattr__(self, name, float(value))
        if self.jkt is not None and (not isinstance(self.jkt, str) or not self.jkt):
            raise ConfigError("jkt must be a non-empty key thumbprint or None")
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def __repr__(self) -> str:
        return (
            f"Token(token_type={self.token_type!r}, fingerprint={self.fingerprint!r}, "
            f"expires_at={self.expires_at!r}, refresh_at={self.refresh_at!r}, "
            f"scope={self.scope!r}" + (f", jkt={self.jkt!r})" if self.jkt else ")")
        )

    __str__ = __repr__

    @property
    def fingerprint(self) -> str:
        """A short non-reversible name for this token, for logs (8 hex digits)."""
        return fingerprint(self.access_token)

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value, e.g. ``"Bearer abc"``."""
        return f"{self.token_type} {self.access_token}"

    def expired(self, now: float) -> bool:
        """Whether the token is past its known expiry at ``now`` (never, if unknown)."""
        return self.expires_at is not None and now >= self.expires_at

    def expires_in(self, now: float) -> float | None:
        """Seconds left until expiry at ``now`` (negative once expired), or None."""
        return None if self.expires_at is None else self.expires_at - now

    def replace(self, **changes: Any) -> Token:
        """A copy with the given fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (includes the secret: for stores only).

        ``jkt`` is present only for a bound token.
        """
        data = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "refresh_at": self.refresh_at,
            "scope": self.scope,
            "extra": dict(self.extra),
        }
        if self.jkt is not None:
            data["jkt"] = self.jkt
        return data

    def to_json(self) -> str:
        """Serialise for a store. The result contains the access token."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """Rebuild a token from ``to_dict()`` output.

        Raises:
            ConfigError: the mapping is not a serialised token.
        """
        if not isinstance(data, Mapping):
            raise ConfigError("a serialised token must be a JSON object")
        extra = data.get("extra") or {}
        if not isinstance(extra, Mapping):
            raise ConfigError("a serialised token's extra must be an object")
        try:
            return cls(
                access_token=data["access_token"],
                token_type=data.get("token_type") or "Bearer",
                expires_at=data.get("expires_at"),
                refresh_at=data.get("refresh_at"),
                scope=data.get("scope"),
                extra=extra,
                jkt=data.get("jkt"),
            )
        except KeyError:
            raise ConfigError("a serialised token must have an access_token") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Token:
        """Rebuild a token from ``to_json()`` output.

        Raises:
            ConfigError: the text is not a serialised token.
        """
        try:
            data = json.loads(text)
        except ValueError:
            # Not raised here: the decode error would stay attached as
            # __context__, and it holds the whole text, token included.
            data = _NOT_JSON
        if data is _NOT_JSON:
            raise ConfigError("a serialised token must be JSON")
        return cls.from_dict(data)
