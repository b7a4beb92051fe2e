"""The ``tokensources`` command line (also ``python -m tokensources``).

Subcommands live in ``tokensources.cli``: ``demo`` (many clients, one token),
``token`` (fetch one token, like ``oauth2l fetch``) and ``serve`` (run the
testing server on loopback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from ._errors import TokenSourceError
from .cli import _demo, _serve, _token
from .cli._args import ArgumentParser
from .cli._exit import (
    EXIT_CODES_HELP,
    FAILED,
    INTERRUPTED,
    USAGE,
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
  TOKENSOURCES_CLIENT_SECRET=demo-secret tokensources token \\
      --token-url http://127.0.0.1:9096/oauth/token --client-id demo-client

{EXIT_CODES_HELP}"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the whole command line, with every subcommand."""
    from . import __version__

    parser = ArgumentParser(
        prog="tokensources",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tokensources {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    _demo.add_parser(subparsers)
    _token.add_parser(subparsers)
    _serve.add_parser(subparsers)
    return parser


def _secret_on_command_line(arguments: Sequence[str]) -> bool:
    for argument in arguments:
        if argument == "--":
            return False
        # --client_secret is caught too: argparse would not recognise it, but
        # the value after it is still a secret on the command line.
        name = argument.partition("=")[0].replace("_", "-")
        if name.startswith("--client-secret") and name not in _SECRET_FLAGS:
            return True
    return False


_SECRET_FLAGS = ("--client-secret-env", "--client-secret-stdin")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    Bad flags exit with 2 (argparse; an unrecognised value is never
    repeated); a ``TokenSourceError`` is reported as one line on stderr,
    without a traceback or a secret, and mapped to its exit status (see
    ``tokensources --help``); Ctrl-C exits with 130. Any other exception is
    a bug: it is reported by type alone, without its text (which could quote
    a secret) or a traceback, and exits with 1.
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    if _secret_on_command_line(arguments):
        # Said before argparse, whose own message would echo the value.
        print(
            "tokensources: error: a client secret is never accepted on the command line "
            "(ps and shell history would keep it); use --client-secret-env NAME or "
            "--client-secret-stdin",
            file=sys.stderr,
        )
        return USAGE
    parser = build_parser()
    args = parser.parse_args(arguments)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return USAGE
    return _dispatch(run, args)


def _dispatch(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        status: int = run(args)
    except TokenSourceError as exc:
        report_error(exc, getattr(args, "secrets", ()))
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
    return status
