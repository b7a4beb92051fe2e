"""Redaction: secrets never reach messages."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from tokensources._redact import (
    credential_values,
    encodings,
    excerpt,
    fingerprint,
    logged_url,
    safe_url,
    scrub,
)

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"access_token": "abc123", "x": 1}', "abc123"),
        ("client_secret=hunter2&grant_type=client_credentials", "hunter2"),
        ("refresh_token: 'rt-999'", "rt-999"),
        (f"token was {JWT} ok", JWT),
        ("CLIENT_ASSERTION=zzz", "zzz"),
    ],
)
def test_scrub_masks_secret_fields(text: str, secret: str) -> None:
    """Known secret fields and JWTs are replaced by a marker."""
    assert secret not in scrub(text)
    assert "[redacted]" in scrub(text)


def test_scrub_masks_literal_secrets() -> None:
    """Literal secrets passed in are masked wherever they appear."""
    assert "pa55" not in scrub("error: bad secret pa55 for client", ["pa55"])


def test_excerpt_truncates_and_flattens() -> None:
    """Excerpts are short, single-line and redacted."""
    body = ("<html>\n" + "x" * 5000 + '"access_token":"leak"').encode()
    text = excerpt(body)
    assert len(text) <= 201
    assert "\n" not in text
    assert "leak" not in excerpt(b'{"access_token":"leak"}')


def test_fingerprint_is_short_and_stable() -> None:
    """A fingerprint is 8 hex digits and the same for the same input."""
    assert fingerprint("abc") == fingerprint("abc") != fingerprint("abd")
    assert len(fingerprint("abc")) == 8


def test_safe_url_drops_query_and_userinfo() -> None:
    """URLs in messages lose their query string and credentials."""
    assert (
        safe_url("https://u:p@host:8443/oauth/token?key=secret") == "https://host:8443/oauth/token"
    )


@pytest.mark.parametrize(
    "text",
    ['{"token": "ghs_abc"}', "api_key=ghs_abc", "X-Api-Key: ghs_abc", "'password': 'ghs_abc'"],
)
def test_scrub_masks_any_credential_named_field(text: str) -> None:
    """Fields whose names say token, key, secret or password are masked, whatever the prefix."""
    assert "ghs_abc" not in scrub(text)


def test_excerpt_never_shows_part_of_a_secret_cut_at_the_limit() -> None:
    """A literal secret straddling the excerpt's cut is masked whole, not shown in part."""
    secret = "S3CRETVALUE-0123456789"
    body = "<html>" + " " * (800 - 6 - 7) + secret + "</html>"
    assert "S3CRET" not in excerpt(body, [secret])


SECRET = "s3cr/t+v@lue&more=é~Zq"


def _echoes(secret: str) -> list[str]:
    """The ways an answer may quote ``secret`` back, each inside some other text."""
    pair = f"my-client:{quote_plus(secret)}"
    body = f"grant_type=client_credentials&client_id=my-client&client_secret={quote_plus(secret)}"
    return [
        f"rejected {secret} here",
        f"rejected {quote_plus(secret)} here",
        f"rejected {quote(secret, safe='')} here",
        "rejected " + re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret)) + " here",
        f"<pre>{html.escape(secret)}</pre>",
        json.dumps({"detail": f"bad {secret}"}, ensure_ascii=True),
        f"Authorization: Basic {base64.b64encode(pair.encode()).decode()}",
        f"auth={base64.urlsafe_b64encode(pair.encode()).decode().rstrip('=')}",
        *(
            f"body={base64.b64encode((prefix + body).encode()).decode()}"
            for prefix in ("", "x", "xy")  # the secret at each byte alignment
        ),
    ]


@pytest.mark.parametrize("echo", _echoes(SECRET))
def test_scrub_masks_every_encoding_of_a_literal_secret(echo: str) -> None:
    """Raw, percent-encoded, escaped and base64-embedded forms of a secret are all masked."""
    masked = scrub(echo, [SECRET])
    assert "[redacted]" in masked
    for form in encodings(SECRET):
        assert form not in masked
    assert quote_plus(SECRET) not in masked
    # Nor can it be decoded from what is left, at any offset.
    for run in re.findall(r"[A-Za-z0-9+/_-]{8,}", masked):
        for start in range(4):
            piece = run[start:]
            decoded = base64.b64decode(piece[: len(piece) - len(piece) % 4], altchars=b"-_")
            assert quote_plus(SECRET).encode() not in decoded


def test_excerpt_masks_an_encoded_secret_straddling_the_cut() -> None:
    """A base64 form of a secret that crosses the excerpt's cut is not shown in part."""
    encoded = base64.b64encode(f"id:{quote_plus(SECRET)}".encode()).decode()
    body = " " * (800 - 10) + f"Basic {encoded}"
    assert encoded[:12] not in excerpt(body, [f"id:{quote_plus(SECRET)}"], limit=800)


@pytest.mark.parametrize(
    "text",
    [
        "Basic authentication is not supported",
        'WWW-Authenticate: Bearer error="invalid_token"',
        "bearer token missing",
    ],
)
def test_scheme_words_in_prose_are_left_alone(text: str) -> None:
    """Basic, Bearer and DPoP followed by plain words are prose, not credentials."""
    assert scrub(text) == text


@pytest.mark.parametrize("scheme", ["Basic", "Bearer", "DPoP", "bearer"])
def test_a_credential_after_an_auth_scheme_is_masked(scheme: str) -> None:
    """Whoever's it is, a token68 credential after an auth scheme is masked."""
    credential = base64.b64encode(b"someone:their-Passw0rd").decode()
    assert credential not in scrub(f"got Authorization: {scheme} {credential} from you")


def test_credential_values_include_parts_and_decoded_basic() -> None:
    """Header values give their parts and, for Basic, the decoded pair and password."""
    basic = base64.b64encode(b"me:pa%2Fss").decode()
    values = credential_values(["Bearer tok-123456", f"Basic {basic}", "abc"])
    assert {"tok-123456", basic, "me:pa%2Fss", "pa%2Fss", "pa/ss"} <= set(values)
    assert "abc" not in values  # too short to be a secret worth masking
    assert list(values) == sorted(values, key=len, reverse=True)


def test_logged_url_keeps_parameter_names_and_masks_values() -> None:
    """A URL for logs shows the endpoint and parameter names, never their values."""
    logged = logged_url("https://svc.example:8443/v1/token?api_key=s3cr3t&region=eu&flag#x")
    assert logged == (
        "https://svc.example:8443/v1/token?api_key=[redacted]&region=[redacted]&flag=[redacted]"
    )
    assert logged_url("https://svc.example/v1/token") == "https://svc.example/v1/token"
