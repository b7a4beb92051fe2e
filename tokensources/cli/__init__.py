"""The ``tokensources`` command line: one module per subcommand.

Each subcommand module has ``add_parser(subparsers)``, which declares its
flags and help, and a ``run(args) -> int`` that it sets as the parser's
default; ``tokensources._cli.main`` parses, dispatches and turns errors into
exit codes.
"""
