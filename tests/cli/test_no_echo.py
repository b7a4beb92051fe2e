"""Secrets given in the wrong place are never repeated, and never echoed at a terminal."""

from __future__ import annotations

import getpass
import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import SECRET_ENV, run_cli
from tokensources.cli import _secrets
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

VALUE = "s3cr3t-VALUE"
_TOKEN = ["token", "--token-url", "http://127.0.0.1:9/oauth/token", "--client-id", "x"]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--secret", VALUE], "--secret"),
        ([f"--secret={VALUE}"], "--secret"),
        ([VALUE], "an unexpected positional argument"),
        ([f"--client_secret={VALUE}"], "never accepted on the command line"),
        (["--client_secret", VALUE], "never accepted on the command line"),
        ([f"--client={VALUE}"], "--client"),
        ([f"--cl={VALUE}"], "--cl"),
    ],
)
def test_unrecognised_arguments_are_named_without_their_values(
    extra: list[str], named: str
) -> None:
    """An unknown flag, an ambiguous one or a stray word: status 2, the value never shown."""
    outcome = run_cli(*_TOKEN, *extra, env={SECRET_ENV: "s"})
    assert outcome.code == 2
    assert named in outcome.stderr
    assert VALUE not in outcome.output
    assert "Traceback" not in outcome.stderr


def test_stray_words_are_counted_not_shown() -> None:
    """Several stray positional arguments are counted."""
    outcome = run_cli(*_TOKEN, "one-VALUE", "two-VALUE", env={SECRET_ENV: "s"})
    assert outcome.code == 2
    assert "2 unexpected positional arguments" in outcome.stderr
    assert "-VALUE" not in outcome.output


def test_secret_given_as_the_variable_name_is_not_repeated() -> None:
    """--client-secret-env with a secret instead of a name: status 3, the value not shown."""
    outcome = run_cli(*_TOKEN, "--client-secret-env", VALUE)
    assert outcome.code == 3
    assert outcome.stderr == (
        "tokensources: error: the variable named by --client-secret-env "
        "is not a valid environment variable name\n"
    )


def test_valid_variable_name_is_still_named() -> None:
    """An unset but valid variable name is named, so that the user knows what to set."""
    outcome = run_cli(*_TOKEN, "--client-secret-env", "MY_CLIENT_SECRET")
    assert outcome.code == 3
    assert "the environment variable MY_CLIENT_SECRET is empty or unset" in outcome.stderr


def test_key_password_given_as_the_variable_name_is_not_repeated(tmp_path: Path) -> None:
    """--key-password-env with a password instead of a name: status 3, the value not shown."""
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\n-----END ENCRYPTED PRIVATE KEY-----\n")
    args = ["--private-key", str(key), "--key-password-env", VALUE]
    outcome = run_cli(*_TOKEN, *args)
    assert outcome.code == 3
    assert "the variable named by --key-password-env" in outcome.stderr
    assert VALUE not in outcome.output


def _read_until(fd: int, marker: bytes | None, deadline: float) -> bytes:
    """What the terminal showed until ``marker`` (or the end, for None) or the deadline."""
    seen = b""
    while time.monotonic() < deadline and (marker is None or marker not in seen):
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        seen += data
    return seen


_ON_A_TERMINAL = """\
import os, sys
# Opening the terminal makes it this new session's controlling terminal,
# which getpass uses.
os.close(os.open(os.ttyname(0), os.O_RDWR))
from tokensources.cli import main
sys.exit(main())
"""


def test_secret_typed_at_a_terminal_is_not_echoed(
    server: AuthorizationServer, server_url: str
) -> None:
    """--client-secret-stdin at a terminal prompts without echo; the token is still fetched."""
    args = [
        "token", "--token-url", f"{server_url}/oauth/token", "--client-id", DEMO_CLIENT_ID,
        "--client-secret-stdin",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", _ON_A_TERMINAL, *args],
        stdin=terminal, stdout=terminal, stderr=terminal,
        start_new_session=True, env=env,
    )  # fmt: skip
    os.close(terminal)
    try:
        deadline = time.monotonic() + 30
        shown = _read_until(controller, b"client secret:", min(deadline, time.monotonic() + 15))
        os.write(controller, DEMO_CLIENT_SECRET.encode() + b"\n")
        shown += _read_until(controller, None, deadline)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.close(controller)
    assert code == 0, shown
    assert b"client secret:" in shown
    assert DEMO_CLIENT_SECRET.encode() not in shown
    assert server.counters.tokens_issued == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_stdin_is_read_with_getpass(monkeypatch: pytest.MonkeyPatch) -> None:
    """With stdin a terminal the secret comes from getpass, not from a plain readline."""
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return "typed-secret"

    monkeypatch.setattr(sys, "stdin", _Terminal("piped-secret\n"))
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    assert _secrets._read_stdin_secret() == "typed-secret"
    assert prompts == ["client secret: "]


def test_piped_stdin_is_read_as_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """From a pipe the secret is the first line, without its line ending."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("piped-secret\r\nrest\n"))
    assert _secrets._read_stdin_secret() == "piped-secret"
