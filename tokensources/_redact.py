"""Keeping secrets out of messages, logs and reprs.

Everything that may end up in an exception message or a log line passes
through here: response bodies are truncated and secret-bearing fields are
masked, and a token is only ever named by a short fingerprint.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

REDACTED = "[redacted]"

# Any field whose name says it holds a credential: access_token, token (as
# GitHub names it), client_secret, api_key, password, client_assertion, ...
_FIELD_PATTERN = re.compile(
    r"""(?P<key>["']?[\w.-]*(?:token|secret|passw|assertion|key|credential)[\w.-]*["']?"""
    r"""\s*[:=]\s*)(?P<quote>["']?)(?P<value>[^"'&,\s}]*)""",
    re.IGNORECASE,
)
# Compact JWS/JWT serialisations (three base64url parts) anywhere in a text.
_JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

EXCERPT_LIMIT = 200


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible name for a token or secret (8 hex digits)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask secret fields, JWTs and the given literal secrets in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _FIELD_PATTERN.sub(lambda m: f"{m.group('key')}{m.group('quote')}{REDACTED}", text)
    return _JWT_PATTERN.sub(REDACTED, text)


def excerpt(body: bytes | str, secrets: Iterable[str] = (), limit: int = EXCERPT_LIMIT) -> str:
    """The redacted start of a body, at most ``limit`` characters, for messages."""
    secrets = [secret for secret in secrets if secret]
    # Cut generously before scrubbing, so that a secret straddling the cut is
    # still whole when it is looked for, and cut to size after.
    window = limit * 4 + max((len(secret) for secret in secrets), default=0)
    text = body[:window].decode("utf-8", "replace") if isinstance(body, bytes) else body[:window]
    text = scrub(text, secrets)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit] + "…"
    return text


def safe_url(url: str) -> str:
    """A URL fit for messages: scheme, host and path, without query or user info."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"
