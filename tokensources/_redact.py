"""Keeping secrets out of messages, logs and reprs.

Everything that may end up in an exception message or a log line passes
through here: response bodies are truncated and secret-bearing fields are
masked, and a token is only ever named by a short fingerprint.

A credential travels in more than one form, and an answer may echo any of
them: as it is, percent-encoded in a form or a query, HTML- or JSON-escaped
by a page that quotes it, base64-encoded in an HTTP Basic header (RFC 7617)
or in a gateway's dump of the request body. ``scrub`` masks every one of
those forms of each literal secret it is given (``encodings``), then every
field whose name says it holds a credential, every credential after an
``Authorization`` scheme and every JWT, whoever's they are.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, quote, quote_plus, unquote_plus, urlsplit

__all__ = [
    "REDACTED",
    "credential_values",
    "encodings",
    "excerpt",
    "fingerprint",
    "logged_url",
    "safe_url",
    "scrub",
]

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
# RFC 9110 §11.4: credentials = auth-scheme [ 1*SP token68 ]. A token68 of at
# least 8 characters holding a digit, a capital, "+" or "/" (which base64 of
# any real credential does, and an English word such as "Basic
# authentication" does not) after a scheme that carries a credential.
_SCHEME_PATTERN = re.compile(
    r"(?P<scheme>\b(?i:basic|bearer|dpop)\s+)"
    r"(?=[A-Za-z0-9._~+/-]*[0-9A-Z+/])[A-Za-z0-9._~+/-]{8,}=*"
)
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")

EXCERPT_LIMIT = 200
# Shorter derived forms would mask innocent text (a 2-character base64 run
# is everywhere) and reveal next to nothing.
_MIN_FORM = 4
_MIN_BASE64_CORE = 6
# Shorter header or query values cannot be meaningful secrets, and masking
# them would garble messages.
_MIN_SECRET_LENGTH = 4


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible name for a token or secret (8 hex digits)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def encodings(secret: str) -> list[str]:
    """Every form in which ``secret`` may come back in an answer, longest first.

    The secret itself; percent-encoded as a form (``+`` for space) and as a
    URL component, with upper- and lower-case hex; HTML- and JSON-escaped;
    and the raw and percent-encoded ones in base64 and base64url, padded and
    not.
    Base64 also hides a secret that
    sits inside a longer encoded text (``client_id:secret`` in a Basic
    header, a whole form body): at each of the three byte alignments the
    secret's middle encodes to the same characters whatever surrounds it,
    and those characters are a form too.
    """
    if not secret:
        return []
    # What is sent: the secret as it is, or percent-encoded (forms and Basic
    # pairs use quote_plus, URLs quote, with or without "/"); a proxy may
    # base64 any of these.
    sent = {secret, quote_plus(secret), quote(secret), quote(secret, safe="")}
    forms = set(sent)
    for encoded in sent - {secret}:
        forms.add(_PERCENT_ESCAPE.sub(lambda match: match.group().lower(), encoded))
    forms.update({html.escape(secret), html.escape(secret, quote=False)})
    forms.update({json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]})
    for text in sent:
        data = text.encode("utf-8", "surrogatepass")
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            exact = encode(data).decode("ascii")
            forms.update({exact, exact.rstrip("=")})
            cores = _base64_cores(data, encode)
            forms.update(core for core in cores if len(core) >= _MIN_BASE64_CORE)
    kept = {form for form in forms if form == secret or len(form) >= _MIN_FORM}
    return sorted(kept, key=len, reverse=True)


def _base64_cores(data: bytes, encode: Callable[[bytes], bytes]) -> list[str]:
    """The characters that encode ``data`` at byte offsets 0, 1 and 2 of any base64 text.

    Each character holds 6 bits: at offset ``shift`` the characters from
    ``ceil(8 * shift / 6)`` up to ``floor(8 * (shift + n) / 6)`` hold only
    bits of ``data``, so they are the same whatever comes before and after.
    """
    cores = []
    for shift in (0, 1, 2):
        encoded = encode(bytes(shift) + data).decode("ascii")
        start = -(-8 * shift // 6)
        end = 8 * (shift + len(data)) // 6
        cores.append(encoded[start:end])
    return cores


def credential_values(values: Iterable[str]) -> tuple[str, ...]:
    """The literal secrets that header or query values hold, longest first.

    Each value, and each of its space-separated parts (``Bearer abc`` may be
    echoed without its scheme); for a ``Basic`` credential also what it
    decodes to, ``user:password`` and the password alone (RFC 7617), which a
    page may show decoded. Values shorter than four characters are left out.
    """
    found: list[str] = []
    for value in values:
        candidates = [value, *value.split()]
        scheme, _, credential = value.partition(" ")
        if scheme.lower() == "basic":
            candidates += _basic_parts(credential.strip())
        for candidate in candidates:
            if len(candidate) >= _MIN_SECRET_LENGTH and candidate not in found:
                found.append(candidate)
    return tuple(sorted(found, key=len, reverse=True))


def _basic_parts(credential: str) -> list[str]:
    try:
        pair = base64.b64decode(credential, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return []
    _, _, password = pair.partition(":")
    return [pair, password, unquote_plus(password)]


def _forms(secrets: Iterable[str]) -> list[str]:
    """The forms of all ``secrets``, longest first, so that a form containing another goes whole."""
    forms: set[str] = set()
    for secret in secrets:
        forms.update(encodings(secret))
    return sorted(forms, key=len, reverse=True)


def _mask(text: str, forms: Iterable[str]) -> str:
    for form in forms:
        text = text.replace(form, REDACTED)
    text = _FIELD_PATTERN.sub(lambda m: f"{m.group('key')}{m.group('quote')}{REDACTED}", text)
    text = _SCHEME_PATTERN.sub(lambda m: f"{m.group('scheme')}{REDACTED}", text)
    return _JWT_PATTERN.sub(REDACTED, text)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask every form of the given literal secrets, secret fields, credentials and JWTs."""
    return _mask(text, _forms(secrets))


def excerpt(body: bytes | str, secrets: Iterable[str] = (), limit: int = EXCERPT_LIMIT) -> str:
    """The redacted start of a body, at most ``limit`` characters, for messages."""
    forms = _forms(secrets)
    # Cut generously before scrubbing, so that a secret straddling the cut is
    # still whole when it is looked for, and cut to size after.
    window = limit * 4 + (len(forms[0]) if forms else 0)
    text = body[:window].decode("utf-8", "replace") if isinstance(body, bytes) else body[:window]
    text = _mask(text, forms)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit] + "…"
    return text


def safe_url(url: str) -> str:
    """A URL fit for messages: scheme, host and path, without query or user info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def logged_url(url: str) -> str:
    """A URL fit for logs: ``safe_url`` plus the query's parameter names, values masked.

    ``https://svc.example/token?api_key=abc`` becomes
    ``https://svc.example/token?api_key=[redacted]``: the log still shows
    which endpoint and which parameters, never what they held.
    """
    query = urlsplit(url).query
    if not query:
        return safe_url(url)
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    shown = "&".join(f"{quote_plus(name)}={REDACTED}" for name in names) or REDACTED
    return f"{safe_url(url)}?{shown}"
