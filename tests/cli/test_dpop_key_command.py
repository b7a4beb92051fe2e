"""``tokensources dpop-key FILE``: a new DPoP key file, through the real script.

The file is a PKCS#8 PEM of mode 0600 that is never written over an
existing file; what is printed (the thumbprint, the public JWK) is public,
and the key is usable with ``tokensources token --dpop-key``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import SECRET_ENV, run_cli
from tokensources import DPoPKey
from tokensources.sources._dpop_key import DPOP_ALGORITHMS
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

_KEY_TYPES = {"ES256": "EC", "ES384": "EC", "EdDSA": "OKP", "PS256": "RSA", "RS256": "RSA"}


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that takes no permission away, so only the command sets the file's mode."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _pem_body(path: Path) -> list[str]:
    """The base64 lines of the PEM file: what must never be printed."""
    return [line for line in path.read_text().splitlines() if not line.startswith("-----")]


@pytest.mark.parametrize("algorithm", DPOP_ALGORITHMS)
def test_each_algorithm_writes_a_private_pkcs8_file(
    tmp_path: Path, algorithm: str, open_umask: None
) -> None:
    """Mode 0600 whatever the umask, a PKCS#8 PEM of the algorithm's key, the jkt printed."""
    path = tmp_path / "dpop.pem"
    outcome = run_cli("dpop-key", str(path), "--algorithm", algorithm, "--format", "json")
    assert outcome.code == 0, outcome.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    key = DPoPKey(pem, algorithm=algorithm)
    fields = json.loads(outcome.stdout)
    assert fields == {
        "file": str(path),
        "algorithm": algorithm,
        "jkt": key.thumbprint,
        "jwk": {**key.public_jwk(), "alg": algorithm},
    }
    assert fields["jwk"]["kty"] == _KEY_TYPES[algorithm]
    assert "d" not in fields["jwk"]
    assert "PRIVATE KEY" not in outcome.output
    for line in _pem_body(path):
        assert line not in outcome.output


def test_a_restrictive_umask_still_gives_mode_0600(tmp_path: Path) -> None:
    """A umask that takes the owner's write bit away: the file is still exactly 0600."""
    path = tmp_path / "dpop.pem"
    previous = os.umask(0o277)
    try:
        outcome = run_cli("dpop-key", str(path))
    finally:
        os.umask(previous)
    assert outcome.code == 0, outcome.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_default_is_es256_and_the_text_names_the_jkt(tmp_path: Path) -> None:
    """Without flags: an ES256 key, and the text shows the file, the jkt and the public JWK."""
    path = tmp_path / "dpop.pem"
    outcome = run_cli("dpop-key", str(path))
    assert outcome.code == 0, outcome.stderr
    key = DPoPKey(path.read_bytes())
    assert key.algorithm == "ES256"
    lines = outcome.stdout.splitlines()
    assert lines[0] == f"wrote a new ES256 private key to {path} (PKCS#8 PEM, mode 0600)"
    assert lines[1].split() == ["jkt", "(thumbprint)", key.thumbprint]
    jwk_text = lines[2].removeprefix("public JWK").strip()
    assert json.loads(jwk_text) == {**key.public_jwk(), "alg": "ES256"}
    assert outcome.stderr == ""


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    """A second run on the same file: status 3, "already exists", the first key untouched."""
    path = tmp_path / "dpop.pem"
    first = run_cli("dpop-key", str(path))
    before = path.read_bytes()
    second = run_cli("dpop-key", str(path))
    assert first.code == 0, first.stderr
    assert second.code == 3
    assert second.stdout == ""
    assert second.stderr == (
        f"tokensources: error: {str(path)!r} already exists; a key file is never "
        "overwritten (remove it first)\n"
    )
    assert path.read_bytes() == before


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    """A (dangling) symlink at FILE is refused; nothing is created where it points."""
    target = tmp_path / "elsewhere.pem"
    link = tmp_path / "dpop.pem"
    link.symlink_to(target)
    outcome = run_cli("dpop-key", str(link))
    assert outcome.code == 3
    assert "already exists" in outcome.stderr
    assert not target.exists()


def test_a_directory_that_cannot_take_the_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing directory: status 3 naming the file and the system's reason."""
    path = tmp_path / "no-such-directory" / "dpop.pem"
    outcome = run_cli("dpop-key", str(path))
    assert outcome.code == 3
    assert f"cannot create the key file {str(path)!r}" in outcome.stderr
    assert "No such file or directory" in outcome.stderr


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_a_generated_key_binds_tokens_of_the_token_command(
    server: AuthorizationServer, server_url: str, tmp_path: Path, algorithm: str
) -> None:
    """The new file works as --dpop-key: the token's jkt is the one dpop-key printed."""
    server.dpop.require(DEMO_CLIENT_ID)
    path = tmp_path / "dpop.pem"
    made = run_cli("dpop-key", str(path), "--algorithm", algorithm, "--format", "json")
    assert made.code == 0, made.stderr
    printed_jkt = json.loads(made.stdout)["jkt"]
    args = [
        "token", "--token-url", f"{server_url}/oauth/token", "--client-id", DEMO_CLIENT_ID,
        "--dpop-key", str(path), "--format", "json",
    ]  # fmt: skip
    outcome = run_cli(*args, env={SECRET_ENV: DEMO_CLIENT_SECRET})
    assert outcome.code == 0, outcome.stderr
    fields = json.loads(outcome.stdout)
    assert (fields["token_type"], fields["jkt"]) == ("DPoP", printed_jkt)
    (logged,) = server.log.assert_token_requests(1, status=200)
    assert logged.dpop_jkt == printed_jkt


def test_help_shows_examples_and_exit_codes() -> None:
    """``dpop-key --help`` exits 0 with examples and the exit statuses; the command is listed."""
    outcome = run_cli("dpop-key", "--help")
    listed = run_cli("--help")
    assert outcome.code == listed.code == 0
    assert "examples:" in outcome.stdout
    assert "exit status:" in outcome.stdout
    assert "dpop-key" in listed.stdout


def test_an_unknown_algorithm_is_a_usage_error(tmp_path: Path) -> None:
    """--algorithm HS256 is not a DPoP algorithm: status 2, and no file is made."""
    path = tmp_path / "dpop.pem"
    outcome = run_cli("dpop-key", str(path), "--algorithm", "HS256")
    assert outcome.code == 2
    assert not path.exists()
