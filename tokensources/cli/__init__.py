"""The ``tokensources`` command line (also ``python -m tokensources``).

Subcommands: ``demo`` (many clients, one token), ``token`` (fetch one
token, like ``oauth2l fetch``), ``dpop-key`` (make a DPoP key file) and
``serve`` (run the testing server on loopback). Each lives in a module of
its own with ``add_parser(subparsers)``, which declares its flags and
help, and ``run(args, secrets) -> int``, which turns the parsed flags into
a settings dataclass at once and works from that; ``main`` parses,
dispatches and turns errors into exit codes.

The helpers below the commands are shared with the benchmarks and the
tests: one percentile (``_stats``), one table renderer (``_table``), one
child-process testing server (``_spawn``) and one redis-server launcher
(``_redis``).
"""

from ._main import build_parser, main

__all__ = ["build_parser", "main"]
