"""``tokensources``: parse the command line, run one command, turn errors into exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, Protocol

from .._errors import TokenSourceError
from . import _demo, _dpop_key, _serve, _token
from ._args import ArgumentParser
from ._exit import (
    EXIT_CODES_HELP,
    FAILED,
    INTERRUPTED,
    USAGE,
    KnownSecrets,
    exit_code,
    report_error,
    report_internal_error,
)

__all__ = ["build_parser", "main"]

_DESCRIPTION = """\
OAuth 2.0 machine-to-machine access tokens: one fetch per token lifetime.

Start with the demo: it runs its own authorization server on loopback,
sends thousands of concurrent requests through one cached token, and shows
how many token requests that took.
"""

_EPILOG = f"""\
examples:
  tokensources demo
  tokensources serve --port 9096
  tokensources dpop-key dpop.pem
  TOKENSOURCES_CLIENT_SECRET=demo-secret tokensources token \\
      --token-url http://127.0.0.1:9096/oauth/token --client-id demo-client

{EXIT_CODES_HELP}"""


class _Command(Protocol):
    """A subcommand module: it declares its flags and runs with what was parsed."""

    def add_parser(self, subparsers: Any) -> None: ...

    def run(self, args: argparse.Namespace, secrets: KnownSecrets) -> int: ...


# Looked up by name when a command runs, never stored on the parsed flags.
_COMMANDS: dict[str, _Command] = {
    "demo": _demo,
    "token": _token,
    "dpop-key": _dpop_key,
    "serve": _serve,
}

_SECRET_FLAGS = ("--client-secret-env", "--client-secret-stdin", "--client-secret-jwt")
# Of those, the ones that take no value: "--client-secret-jwt=VALUE" is a value
# on the command line, which argparse's complaint would echo.
_VALUELESS_SECRET_FLAGS = ("--client-secret-stdin", "--client-secret-jwt")
# The only flags about key passwords name a variable. Any other "--...pass..."
# is a password typed on the command line; argparse would even take
# "--key-password VALUE" as an abbreviation of --key-password-env.
_PASSWORD_FLAGS = ("--key-password-env", "--dpop-key-password-env")
_CLIENT_SECRET_REFUSAL = (
    "a client secret is never accepted on the command line (ps and shell history would "
    "keep it); use --client-secret-env NAME or --client-secret-stdin"
)
_PASSWORD_REFUSAL = (
    "a key password is never accepted on the command line (ps and shell history would "
    "keep it); put it in an environment variable and name that with --key-password-env "
    "NAME or --dpop-key-password-env NAME"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the whole command line, with every subcommand."""
    from .. import __version__

    parser = ArgumentParser(
        prog="tokensources",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tokensources {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for command in _COMMANDS.values():
        command.add_parser(subparsers)
    return parser


def _secret_on_command_line(arguments: Sequence[str]) -> str | None:
    """Why ``arguments`` are refused for holding a secret, or None when they hold none."""
    for argument in arguments:
        if argument == "--":
            return None
        # --client_secret is caught too: argparse would not recognise it, but
        # the value after it is still a secret on the command line.
        name = argument.partition("=")[0].replace("_", "-")
        if not name.startswith("--"):
            continue
        if name.startswith("--client-secret") and name not in _SECRET_FLAGS:
            return _CLIENT_SECRET_REFUSAL
        if name in _VALUELESS_SECRET_FLAGS and "=" in argument:
            return _CLIENT_SECRET_REFUSAL
        if "pass" in name and name not in _PASSWORD_FLAGS:
            return _PASSWORD_REFUSAL
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    Bad flags exit with 2 (argparse; an unrecognised value is never
    repeated); a ``TokenSourceError`` is reported as one line on stderr,
    without a traceback or a secret, and mapped to its exit status (see
    ``tokensources --help``); Ctrl-C exits with 130. Any other exception is
    a bug: it is reported by type alone, without its text (which could quote
    a secret) or a traceback, and exits with 1.

    Args:
        argv: the arguments after the program name; None for ``sys.argv[1:]``.
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    refusal = _secret_on_command_line(arguments)
    if refusal is not None:
        # Said before argparse, whose own message would echo the value.
        print(f"tokensources: error: {refusal}", file=sys.stderr)
        return USAGE
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help(sys.stderr)
        return USAGE
    return _dispatch(_COMMANDS[args.command], args)


def _dispatch(command: _Command, args: argparse.Namespace) -> int:
    secrets = KnownSecrets()
    try:
        return command.run(args, secrets)
    except TokenSourceError as exc:
        report_error(exc, secrets)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("tokensources: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep the
        # interpreter's final flush from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILED
    except Exception as exc:  # the last resort: no traceback, no text
        report_internal_error(exc)
        return FAILED
