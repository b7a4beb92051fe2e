"""``tokensources serve``: run the testing authorization server on loopback."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from .._errors import ConfigError
from ..testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from ._args import port_number, positive_float
from ._exit import EXIT_CODES_HELP, OK

__all__ = ["STOPPED_PREFIX", "add_parser", "run"]

STOPPED_PREFIX = "stopped after"
_DESCRIPTION = """\
Run the tokensources testing server: a small but real OAuth 2.0
authorization server (client_credentials with client_secret_basic,
client_secret_post and private_key_jwt; RS256 JWT access tokens; JWKS and
discovery metadata) with a protected demo API, for trying clients out
without any account. It is for tests and demos, not for production.

It prints its issuer, endpoints and the demo client's credentials, serves
until Ctrl-C (or SIGTERM), then prints how many requests it answered.
"""

_EPILOG = f"""\
clients file (JSON): a list of clients, or {{"clients": [...]}}, each with a
"client_id" and a "secret" and/or a "jwks" (public keys for private_key_jwt),
and optionally "scopes" (a list) and "token_lifetime" (seconds):

  [{{"client_id": "billing", "secret": "s3cret", "scopes": ["read:messages"]}}]

examples:
  tokensources serve
  tokensources serve --port 0 --token-lifetime 60
  tokensources serve --clients clients.json

{EXIT_CODES_HELP}"""


def add_parser(subparsers: Any) -> None:
    """Declare ``tokensources serve`` and its flags."""
    parser = subparsers.add_parser(
        "serve",
        help="run the testing authorization server on loopback",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=port_number, default=9096, help="the port (default 9096; 0 picks a free one)"
    )
    parser.add_argument(
        "--clients", metavar="FILE", help="a JSON file of clients to register (see below)"
    )
    parser.add_argument(
        "--token-lifetime",
        type=positive_float,
        default=3600.0,
        metavar="SECONDS",
        help="how long issued access tokens live (default 3600)",
    )
    parser.add_argument(
        "--no-demo-client",
        action="store_true",
        help="do not register the demo client (demo-client / demo-secret)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; return 0 after a clean stop."""
    server = AuthorizationServer(
        token_lifetime=args.token_lifetime, register_demo_client=not args.no_demo_client
    )
    if args.clients is not None:
        for index, client in enumerate(load_clients(args.clients), start=1):
            _register(server, client, f"client #{index} in {args.clients!r}")
    anyio.run(_serve, server, args)
    counters = server.counters
    print(
        f"{STOPPED_PREFIX} {counters.token_requests} token requests "
        f"and {counters.api_requests} API requests, using {time.process_time():.1f} s of CPU",
        flush=True,
    )
    return OK


def _register(server: AuthorizationServer, client: dict[str, Any], where: str) -> None:
    try:
        server.register_client(**client)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        # The text of such an error may quote the field's value; its type does not.
        raise ConfigError(f"{where} was refused ({type(exc).__name__})") from None


async def _serve(server: AuthorizationServer, args: argparse.Namespace) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            async with server.serve(args.host, args.port) as url:
                _print_banner(server, url, args)
                async for _ in signals:
                    break
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
            ) from None


def _print_banner(server: AuthorizationServer, url: str, args: argparse.Namespace) -> None:
    lines = [
        "tokensources testing server (for tests and demos, not for production)",
        f"  issuer          {server.issuer}",
        f"  token endpoint  {server.token_endpoint}",
        f"  discovery       {url}/.well-known/openid-configuration",
        f"  jwks            {server.jwks_uri}",
        f"  demo API        {url}/api/private  (scope read:messages)",
        f"  token lifetime  {args.token_lifetime:g} s",
    ]
    if not args.no_demo_client:
        lines += [
            f"  demo client     id {DEMO_CLIENT_ID}, secret {DEMO_CLIENT_SECRET}",
            "",
            "try:",
            f"  export TOKENSOURCES_CLIENT_SECRET={DEMO_CLIENT_SECRET}",
            f"  tokensources token --token-url {server.token_endpoint} "
            f"--client-id {DEMO_CLIENT_ID}",
        ]
    lines += ["", "Ctrl-C stops the server."]
    print("\n".join(lines), flush=True)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        print(
            f"tokensources: warning: listening on {args.host}, beyond loopback",
            file=sys.stderr,
            flush=True,
        )


def load_clients(path: str) -> list[dict[str, Any]]:
    """The clients described by the JSON file at ``path``, as ``register_client`` keywords.

    Raises:
        ConfigError: the file cannot be read or does not describe clients.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the clients file {path!r}: {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"the clients file {path!r} is not valid JSON") from None
    if isinstance(document, dict):
        document = document.get("clients")
    if not isinstance(document, list):
        raise ConfigError(f"the clients file {path!r} must hold a list of clients")
    clients = []
    for index, entry in enumerate(document, start=1):
        where = f"client #{index} in {path!r}"
        if not isinstance(entry, dict) or "client_id" not in entry:
            raise ConfigError(f"{where} needs a client_id")
        unknown = sorted(set(entry) - set(_FIELD_CHECKS))
        if unknown:
            raise ConfigError(f"{where} has unknown fields {unknown}")
        for field, value in entry.items():
            problem = _FIELD_CHECKS[field](value)
            if problem:
                raise ConfigError(f"{where}: {field!r} must be {problem}")
        clients.append(dict(entry))
    return clients


def _text(value: object) -> str | None:
    return None if isinstance(value, str) and value else "a non-empty string"


def _object(value: object) -> str | None:
    return None if isinstance(value, dict) else "a JSON object (a JWK Set or a JWK)"


def _strings(value: object) -> str | None:
    if isinstance(value, list) and all(isinstance(item, str) and item for item in value):
        return None
    return "a list of non-empty strings"


def _seconds(value: object) -> str | None:
    problem = "a positive number of seconds"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return problem
    return None if math.isfinite(value) and value > 0 else problem


# What each field of a clients-file entry must be; None from a check means fine.
_FIELD_CHECKS: dict[str, Callable[[object], str | None]] = {
    "client_id": _text,
    "secret": _text,
    "jwks": _object,
    "scopes": _strings,
    "audiences": _strings,
    "token_lifetime": _seconds,
}
