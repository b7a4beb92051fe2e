"""MutualTLS refuses unusable certificates and keys when built: the problem named, never the key."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from tests.support.clock import FakeClock
from tests.support.mtls import Pair, issued, self_signed
from tokensources import ConfigError
from tokensources.sources._mutual_tls import MutualTLS

URL = "https://idp.example.com/oauth/token"
PASSWORD = b"correct horse battery staple"


NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
NOT_AFTER = datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope="module")
def pair() -> Pair:
    """A CA-issued certificate valid through 2026."""
    return issued(trustme.CA(), not_before=NOT_BEFORE, not_after=NOT_AFTER)


def encrypted(key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD),
    )


def build(pair: Pair, **kwargs: Any) -> MutualTLS:
    arguments: dict[str, Any] = {"certificate": pair.certificate, "private_key": pair.key}
    arguments["clock"] = FakeClock(NOT_BEFORE.timestamp() + 86400)
    return MutualTLS(URL, "billing", **(arguments | kwargs))


def refused(pair: Pair, match: str, **kwargs: Any) -> str:
    """Build with ``kwargs``; assert a ConfigError matching ``match`` without key material."""
    with pytest.raises(ConfigError, match=match) as caught:
        build(pair, **kwargs)
    message = str(caught.value)
    key_body = pair.key.decode().splitlines()[1]
    assert key_body not in message
    assert "PRIVATE KEY" not in message
    assert caught.value.__cause__ is None
    return message


def test_a_key_that_is_not_the_certificates_is_refused(pair: Pair) -> None:
    """Certificate and key that do not match are refused."""
    refused(pair, "not the key of certificate", private_key=self_signed().key)


def test_an_expired_certificate_is_refused(pair: Pair) -> None:
    """A certificate past its notAfter (by the clock) is refused, with the date."""
    refused(pair, "expired at 2027-01-01", clock=FakeClock(NOT_AFTER.timestamp() + 1))


def test_a_certificate_not_valid_yet_is_refused(pair: Pair) -> None:
    """A certificate before its notBefore (by the clock) is refused."""
    refused(pair, "not valid yet", clock=FakeClock(NOT_BEFORE.timestamp() - 1))


def test_an_encrypted_key_without_its_password_is_refused(pair: Pair) -> None:
    """An encrypted key needs key_password; a wrong one is refused too; the right one works."""
    locked = encrypted(pair.key)
    refused(pair, "encrypted: pass key_password", private_key=locked)
    refused(pair, "does not decrypt", private_key=locked, key_password=b"wrong")
    assert build(pair, private_key=locked, key_password=PASSWORD).certificate_thumbprint


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"certificate": b"-----BEGIN CERTIFICATE-----\nnope\n"}, "not a readable PEM"),
        ({"certificate": "/nonexistent/tls.crt"}, "cannot be read"),
        ({"certificate": 42}, "file path or PEM"),
        ({"private_key": b"not a key"}, "not a PEM private key"),
        ({"key_password": 7}, "key_password must be"),
    ],
)
def test_unreadable_inputs_are_refused(pair: Pair, kwargs: dict[str, Any], match: str) -> None:
    """Damaged PEM, a missing file or a wrong type are each a ConfigError naming the input."""
    refused(pair, match, **kwargs)


def test_a_key_given_with_the_certificate_files_works(pair: Pair, tmp_path: Path) -> None:
    """Paths (str or Path) work as well as PEM, and give the same thumbprint."""
    (tmp_path / "c.pem").write_bytes(pair.certificate)
    (tmp_path / "k.pem").write_bytes(pair.key)
    from_files = build(pair, certificate=tmp_path / "c.pem", private_key=str(tmp_path / "k.pem"))
    assert from_files.certificate_thumbprint == build(pair).certificate_thumbprint


async def test_an_http_client_of_your_own_is_refused(pair: Pair) -> None:
    """The source needs its own client (with the certificate): http= is a ConfigError."""
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigError, match="its own TLS context"):
            build(pair, http=http)


pytestmark = pytest.mark.anyio
