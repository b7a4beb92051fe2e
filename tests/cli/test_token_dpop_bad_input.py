"""Bad DPoP input to ``tokensources token``: clean errors, never key material or a password.

Every case is refused before any request (exit status 3, one line on
stderr), or by the argument checks before argparse (status 2) for a
password typed on the command line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.cli import SECRET_ENV, run_cli

_TOKEN = ["token", "--token-url", "https://auth.example.com/oauth/token", "--client-id", "x"]
_ENV = {SECRET_ENV: "a-client-secret"}
PASSWORD = "Hunter2-PASSWORD"
_PEM_BODY = re.compile(r"-----BEGIN [A-Z ]+-----\n(?P<body>.+?)\n-----END", re.DOTALL)


def _body_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM: the key material an error must never show."""
    match = _PEM_BODY.search(pem)
    assert match is not None
    return [line for line in match["body"].splitlines() if line]


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _private_pem() -> str:
    return (
        _p256()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def _public_pem() -> str:
    return (
        _p256()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _damaged_pem() -> str:
    lines = _private_pem().splitlines()
    # A body line cut in half: armour intact, the DER inside unreadable.
    lines[2] = lines[2][:20]
    return "\n".join(lines) + "\n"


def _public_jwk() -> str:
    numbers = _p256().public_key().public_numbers()
    return json.dumps({"kty": "EC", "crv": "P-256", "x": str(numbers.x), "y": str(numbers.y)})


@pytest.mark.parametrize(
    ("content", "extra", "words"),
    [
        (_public_pem, [], "public key"),
        (_damaged_pem, [], "not a readable PEM"),
        (lambda: "{not json", [], "not valid JSON"),
        (lambda: '{"keys": []}', [], "JWK set"),
        (_public_jwk, [], "JWK"),
        (_private_pem, ["--dpop-algorithm", "ES384"], "ES384"),
        (_private_pem, ["--dpop-algorithm", "RS256"], "RS256"),
    ],
    ids=["public-pem", "damaged-pem", "bad-json", "jwk-set", "public-jwk", "es384", "rs256"],
)
def test_an_unusable_key_file_is_a_clean_config_error(
    tmp_path: Path, content: object, extra: list[str], words: str
) -> None:
    """Status 3, one line naming --dpop-key and the file, the reason, and no key material."""
    assert callable(content)
    text = content()
    path = tmp_path / "dpop.pem"
    path.write_text(text)
    outcome = run_cli(*_TOKEN, "--dpop-key", str(path), *extra, env=_ENV)
    assert outcome.code == 3, outcome.stderr
    assert outcome.stdout == ""
    (line,) = outcome.stderr.strip().splitlines()
    assert line.startswith("tokensources: error: --dpop-key")
    assert str(path) in line
    assert words in line
    secret_parts = _body_lines(text) if "-----BEGIN" in text else re.findall(r"\d{20,}", text)
    for part in secret_parts:
        assert part not in outcome.output
    assert "Traceback" not in outcome.stderr


def test_a_missing_key_file_names_the_file(tmp_path: Path) -> None:
    """A file that is not there: status 3, its path and the system's reason."""
    path = tmp_path / "missing.pem"
    outcome = run_cli(*_TOKEN, "--dpop-key", str(path), env=_ENV)
    assert outcome.code == 3, outcome.stderr
    assert "--dpop-key" in outcome.stderr
    assert str(path) in outcome.stderr
    assert "No such file" in outcome.stderr


@pytest.mark.parametrize(
    "flags",
    [["--dpop-algorithm", "ES256"], ["--dpop-key-password-env", "DPOP_PASSWORD"]],
    ids=["algorithm", "password-env"],
)
def test_dpop_options_without_a_key_are_refused(flags: list[str]) -> None:
    """--dpop-algorithm or --dpop-key-password-env alone: status 3, asking for --dpop-key."""
    outcome = run_cli(*_TOKEN, *flags, env=_ENV)
    assert outcome.code == 3, outcome.stderr
    assert f"{flags[0]} applies to --dpop-key only" in outcome.stderr


def test_a_password_for_a_jwk_is_refused(tmp_path: Path) -> None:
    """A password applies to an encrypted PEM only: a JWK with one is status 3."""
    path = tmp_path / "dpop.jwk"
    path.write_text(json.dumps({"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "d": "d"}))
    env = {**_ENV, "DPOP_PASSWORD": PASSWORD}
    outcome = run_cli(
        *_TOKEN, "--dpop-key", str(path), "--dpop-key-password-env", "DPOP_PASSWORD", env=env
    )
    assert outcome.code == 3, outcome.stderr
    assert "encrypted PEM" in outcome.stderr
    assert PASSWORD not in outcome.output


@pytest.mark.parametrize(
    "extra",
    [
        ["--dpop-key-password", PASSWORD],
        [f"--dpop-key-password={PASSWORD}"],
        ["--key-password", PASSWORD],
        ["--dpop_key_password", PASSWORD],
        ["--password", PASSWORD],
    ],
    ids=["dpop-flag", "dpop-equals", "key-abbreviation", "underscores", "password"],
)
def test_a_password_is_never_accepted_on_the_command_line(tmp_path: Path, extra: list[str]) -> None:
    """A password flag with its value: status 2 before argparse, the value never repeated."""
    path = tmp_path / "dpop.pem"
    path.write_text(_private_pem())
    outcome = run_cli(*_TOKEN, "--dpop-key", str(path), *extra, env=_ENV)
    assert outcome.code == 2, outcome.stderr
    assert "a key password is never accepted on the command line" in outcome.stderr
    assert "--dpop-key-password-env" in outcome.stderr
    assert PASSWORD not in outcome.output


def test_a_password_given_as_the_variable_name_is_not_repeated(tmp_path: Path) -> None:
    """--dpop-key-password-env given the password itself: status 3, the value not shown."""
    path = tmp_path / "dpop.pem"
    path.write_text(_private_pem())
    outcome = run_cli(
        *_TOKEN, "--dpop-key", str(path), "--dpop-key-password-env", PASSWORD, env=_ENV
    )
    assert outcome.code == 3, outcome.stderr
    assert "the variable named by --dpop-key-password-env" in outcome.stderr
    assert PASSWORD not in outcome.output
