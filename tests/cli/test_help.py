"""``--help`` of every command, and flags argparse refuses (exit status 2)."""

from __future__ import annotations

import sys

import pytest

from tests.support.cli import run_cli


@pytest.mark.parametrize("command", [[], ["demo"], ["token"], ["dpop-key"], ["serve"]], ids=str)
def test_help_shows_examples_and_exit_codes(command: list[str]) -> None:
    """Every --help exits 0 and shows examples and the exit statuses."""
    outcome = run_cli(*command, "--help")
    assert outcome.code == 0, outcome.stderr
    assert "examples:" in outcome.stdout
    assert "exit status:" in outcome.stdout
    assert "tokensources demo" in outcome.stdout or command


def test_python_dash_m_runs_the_same_command_line() -> None:
    """``python -m tokensources --help`` prints the same help as the script."""
    outcome = run_cli("--help", command=[sys.executable, "-m", "tokensources"])
    assert outcome.code == 0
    assert "usage: tokensources" in outcome.stdout


def test_version() -> None:
    """--version prints the package version."""
    from tokensources import __version__

    outcome = run_cli("--version")
    assert outcome.code == 0
    assert outcome.stdout.strip() == f"tokensources {__version__}"


def test_no_command_is_a_usage_error() -> None:
    """Without a command the help goes to stderr and the status is 2."""
    outcome = run_cli()
    assert outcome.code == 2
    assert "usage: tokensources" in outcome.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["nope"],
        ["token", "--client-id", "x"],
        ["token", "--token-url", "https://a.example/t"],
        [
            "token",
            "--token-url",
            "https://a.example/t",
            "--issuer",
            "https://a.example",
            "--client-id",
            "x",
        ],
        ["token", "--token-url", "https://a.example/t", "--client-id", "x", "--param", "novalue"],
        ["token", "--token-url", "https://a.example/t", "--client-id", "x", "--format", "xml"],
        [
            "token",
            "--token-url",
            "https://a.example/t",
            "--client-id",
            "x",
            "--auth-style",
            "magic",
        ],
        ["demo", "--tasks", "0"],
        ["demo", "--requests", "many"],
        ["demo", "--token-lifetime", "-1"],
        ["serve", "--port", "http"],
    ],
    ids=" ".join,
)
def test_bad_flags_exit_2(args: list[str]) -> None:
    """argparse refuses the flags with status 2 and a usage line on stderr."""
    outcome = run_cli(*args)
    assert outcome.code == 2
    assert "usage:" in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert outcome.stdout == ""


@pytest.mark.parametrize(
    "flag", [["--client-secret", "hunter2-secret"], ["--client-secret=hunter2-secret"]]
)
def test_a_secret_on_the_command_line_is_refused_without_echo(flag: list[str]) -> None:
    """A --client-secret flag is refused with status 2 and the value is not printed."""
    outcome = run_cli("token", "--token-url", "https://a.example/t", "--client-id", "x", *flag)
    assert outcome.code == 2
    assert "never accepted on the command line" in outcome.stderr
    assert "hunter2-secret" not in outcome.output
