"""Argument parsing that never repeats a value it did not understand.

A mistyped flag is often followed by a secret (``--secret VALUE``,
``--client_secret=VALUE``); argparse would echo it in its error message, and
so into terminal scrollback and CI logs. The parser here names unrecognised
options by flag alone and never shows a stray positional argument.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = [
    "ArgumentParser",
    "env_var_name",
    "port_number",
    "positive_float",
    "positive_int",
]

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
# argparse's "ambiguous option: --client=VALUE could match ..." keeps the value.
_OPTION_VALUE = re.compile(r"(?<!\S)(--?[A-Za-z0-9][\w-]*)=\S*")


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number greater than 0 (not ``nan``, not ``inf``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535 (0 lets the system pick one)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {value}")
    return value


def env_var_name(name: str) -> bool:
    """Whether ``name`` looks like an environment variable name, safe to repeat in messages.

    Anything else may be a secret passed where its variable's name belongs.
    """
    return _ENV_NAME.fullmatch(name) is not None


def describe_unrecognised(extras: Sequence[str]) -> str:
    """``extras`` as flag names only, for the "unrecognized arguments" message."""
    flags: list[str] = []
    positionals = 0
    for extra in extras:
        if extra.startswith("-") and len(extra) > 1:
            flag = extra.partition("=")[0]
            if flag not in flags:
                flags.append(flag)
        else:
            positionals += 1
    if positionals == 1:
        flags.append("an unexpected positional argument")
    elif positionals:
        flags.append(f"{positionals} unexpected positional arguments")
    return ", ".join(flags) + " (values are not shown)"


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose errors never repeat an unrecognised value.

    Unrecognised options are named by flag (``--secret``, not ``--secret
    s3cr3t``); stray positional arguments are counted, not shown; an
    ambiguous abbreviation is named without the value after its ``=``.
    Subcommand parsers made through ``add_subparsers`` are of this class too.
    """

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> argparse.Namespace:
        """Parse ``args`` as argparse does, reporting leftovers by flag name only."""
        parsed: argparse.Namespace
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {describe_unrecognised(extras)}")
        return parsed

    def error(self, message: str) -> NoReturn:
        """Print usage and ``message`` (values after ``--flag=`` removed); exit with 2."""
        super().error(_OPTION_VALUE.sub(r"\1=…", message))
