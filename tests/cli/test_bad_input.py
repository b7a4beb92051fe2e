"""Bad input ends with one line and an exit status, never a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.cli import SECRET_ENV, run_cli

FILE_SECRET = "s3cretfile-VALUE"
_TOKEN = ["token", "--token-url", "http://127.0.0.1:9/oauth/token", "--client-id", "x"]


def _assert_clean(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.strip()


def test_malformed_url_is_a_config_error() -> None:
    """A URL that cannot be parsed (an unclosed IPv6 bracket) gives status 3 and one line."""
    for flag in ("--token-url", "--issuer"):
        args = ["token", flag, "http://[::1", "--client-id", "x"]
        outcome = run_cli(*args, env={SECRET_ENV: "s"})
        _assert_clean(outcome.stderr)
        assert outcome.code == 3, outcome.stderr
        assert outcome.stderr == f"tokensources: error: {flag} is not a valid URL\n"


@pytest.mark.parametrize("value", ["nan", "-1", "0", "inf", "soon"])
def test_timeout_must_be_a_positive_finite_number(value: str) -> None:
    """--timeout nan, -1, 0, inf or a word is a usage error (status 2)."""
    outcome = run_cli(*_TOKEN, f"--timeout={value}", env={SECRET_ENV: "s"})
    _assert_clean(outcome.stderr)
    assert outcome.code == 2
    assert "argument --timeout" in outcome.stderr


@pytest.mark.parametrize("value", ["99999", "-1", "65536", "http"])
def test_serve_port_must_be_a_port_number(value: str) -> None:
    """serve --port outside 0-65535 is a usage error (status 2), not an OverflowError."""
    outcome = run_cli("serve", f"--port={value}", timeout=30)
    _assert_clean(outcome.stderr)
    assert outcome.code == 2
    assert "argument --port" in outcome.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "0"])
def test_serve_token_lifetime_must_be_positive_and_finite(value: str) -> None:
    """serve --token-lifetime nan (or inf, or 0) is refused before the server starts."""
    outcome = run_cli("serve", "--port", "0", f"--token-lifetime={value}", timeout=30)
    _assert_clean(outcome.stderr)
    assert outcome.code == 2
    assert "argument --token-lifetime" in outcome.stderr


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"client_id": "b", "secret": FILE_SECRET, "jwks": 5}, "'jwks'"),
        ({"client_id": "b", "secret": FILE_SECRET, "jwks": []}, "'jwks'"),
        ({"client_id": 5, "secret": FILE_SECRET}, "'client_id'"),
        ({"client_id": "b", "secret": FILE_SECRET, "scopes": "read"}, "'scopes'"),
        ({"client_id": "b", "secret": FILE_SECRET, "scopes": [1]}, "'scopes'"),
        ({"client_id": "b", "secret": FILE_SECRET, "audiences": 7}, "'audiences'"),
        ({"client_id": "b", "secret": FILE_SECRET, "token_lifetime": "x"}, "'token_lifetime'"),
        ({"client_id": "b", "secret": FILE_SECRET, "token_lifetime": True}, "'token_lifetime'"),
        ({"client_id": "b", "secret": 12}, "'secret'"),
        ({"client_id": "b", "jwks": {"keys": [{"kty": "nope"}]}}, ""),
        ({"client_id": "b"}, "needs a secret"),
    ],
)
def test_bad_client_entry_names_its_index_and_field(
    tmp_path: Path, entry: dict[str, object], field: str
) -> None:
    """A clients-file entry of the wrong shape gives status 3 naming the entry and field."""
    path = tmp_path / "clients.json"
    good = {"client_id": "a", "secret": "first-secret"}
    path.write_text(json.dumps([good, entry]))
    outcome = run_cli("serve", "--port", "0", "--clients", str(path), timeout=30)
    _assert_clean(outcome.stderr)
    assert outcome.code == 3, outcome.stderr
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"tokensources: error: client #2 in {str(path)!r}")
    assert field in lines[0]
    assert FILE_SECRET not in outcome.output
    assert "first-secret" not in outcome.output


_BROKEN_RUN = """\
import sys
import tokensources.cli._token as token_command

def run(args, secrets):
    raise {exception}("s3cr3t-in-the-message")

token_command.run = run
from tokensources.cli import main
sys.exit(main())
"""


def test_unexpected_exception_is_one_line_without_its_text() -> None:
    """A bug surfaces as 'internal error (<type>)', status 1, without text or traceback."""
    code = _BROKEN_RUN.format(exception="RuntimeError")
    outcome = run_cli(*_TOKEN, command=[sys.executable, "-c", code])
    assert outcome.code == 1
    assert outcome.stderr == ("tokensources: internal error (RuntimeError); please report it\n")
    assert "s3cr3t-in-the-message" not in outcome.output


def test_keyboard_interrupt_still_exits_130() -> None:
    """Ctrl-C is not an internal error: it still exits with 130."""
    code = _BROKEN_RUN.format(exception="KeyboardInterrupt")
    outcome = run_cli(*_TOKEN, command=[sys.executable, "-c", code])
    assert outcome.code == 130
    assert outcome.stderr == "tokensources: interrupted\n"
