"""Redaction: secrets never reach messages."""

from __future__ import annotations

import pytest

from tokensources._redact import excerpt, fingerprint, safe_url, scrub

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
