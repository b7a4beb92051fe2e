"""``tokensources serve``: run the testing authorization server on loopback."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import anyio

from .._errors import ConfigError
from ..testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from ._args import port_number, positive_float
from ._exit import EXIT_CODES_HELP, OK, KnownSecrets
from ._words import counted

__all__ = ["ServeSettings", "add_parser", "load_clients", "run"]

_DESCRIPTION = """\
Run the tokensources testing server: a small but real OAuth 2.0
authorization server (client_credentials with client_secret_basic,
client_secret_post and private_key_jwt; RS256 JWT access tokens; JWKS and
discovery metadata) with a protected demo API, for trying clients out
without any account. It is for tests and demos, not for production.

It prints its issuer, endpoints and the demo client's credentials, serves
until Ctrl-C (or SIGTERM), then prints how many requests it answered.

For scripts, --ready-json prints one JSON line on stdout once the server
listens (its URLs: learn the port chosen by --port 0 from it) and one when
it stops (its counters); the human-readable text then goes to stderr.
"""

_EPILOG = f"""\
clients file (JSON): a list of clients, or {{"clients": [...]}}, each with a
"client_id" and a "secret" and/or a "jwks" (public keys for private_key_jwt),
and optionally "scopes" (a list) and "token_lifetime" (seconds):

  [{{"client_id": "billing", "secret": "s3cret", "scopes": ["read:messages"]}}]

--ready-json lines:

  {{"event": "ready", "url": "http://127.0.0.1:PORT", "issuer": ..., "token_endpoint": ...,
   "jwks_uri": ..., "discovery": ..., "api": ..., "token_lifetime": 3600.0}}
  {{"event": "stopped", "token_requests": 4, "api_requests": 0, "cpu_seconds": 0.4}}

examples:
  tokensources serve
  tokensources serve --port 0 --token-lifetime 60
  tokensources serve --clients clients.json
  tokensources serve --port 0 --ready-json | head -n 1

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
    parser.add_argument(
        "--ready-json",
        action="store_true",
        help="print a JSON line on stdout when listening and one when stopped, "
        "for scripts; the text goes to stderr",
    )


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """What ``tokensources serve`` was asked to do.

    Attributes:
        host: the address to listen on.
        port: the port; 0 lets the system pick one.
        clients: a JSON file of clients to register, or None.
        token_lifetime: seconds issued tokens live.
        demo_client: whether to register ``demo-client``.
        ready_json: JSON lines on stdout, the text on stderr.
    """

    host: str
    port: int
    clients: str | None
    token_lifetime: float
    demo_client: bool
    ready_json: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServeSettings:
        """The settings parsed by ``add_parser``'s flags."""
        return cls(
            host=args.host,
            port=args.port,
            clients=args.clients,
            token_lifetime=args.token_lifetime,
            demo_client=not args.no_demo_client,
            ready_json=args.ready_json,
        )

    @property
    def text(self) -> TextIO:
        """Where the human-readable text goes: stdout, or stderr beside JSON lines."""
        return sys.stderr if self.ready_json else sys.stdout


def run(args: argparse.Namespace, secrets: KnownSecrets) -> int:
    """Serve until interrupted; return 0 after a clean stop."""
    settings = ServeSettings.from_args(args)
    server = AuthorizationServer(
        token_lifetime=settings.token_lifetime, register_demo_client=settings.demo_client
    )
    if settings.clients is not None:
        for index, client in enumerate(load_clients(settings.clients), start=1):
            _register(server, client, f"client #{index} in {settings.clients!r}")
    anyio.run(_serve, server, settings)
    counters = server.counters
    cpu = time.process_time()
    print(
        f"stopped after {counted(counters.token_requests, 'token request')} and "
        f"{counted(counters.api_requests, 'API request')}, using {cpu:.1f} s of CPU",
        file=settings.text,
        flush=True,
    )
    if settings.ready_json:
        _json_line(
            event="stopped",
            token_requests=counters.token_requests,
            api_requests=counters.api_requests,
            cpu_seconds=round(cpu, 3),
        )
    return OK


def _json_line(**fields: Any) -> None:
    # One line, flushed at once: the reader waits for it.
    print(json.dumps(fields), flush=True)


def _register(server: AuthorizationServer, client: dict[str, Any], where: str) -> None:
    try:
        server.register_client(**client)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        # The text of such an error may quote the field's value; its type does not.
        raise ConfigError(f"{where} was refused ({type(exc).__name__})") from None


async def _serve(server: AuthorizationServer, settings: ServeSettings) -> None:
    host, port = settings.host, settings.port
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            async with server.serve(host, port) as url:
                _print_banner(server, url, settings)
                if settings.ready_json:
                    _json_line(event="ready", **_endpoints(server, url, settings))
                async for _ in signals:
                    break
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _endpoints(server: AuthorizationServer, url: str, settings: ServeSettings) -> dict[str, Any]:
    return {
        "url": url,
        "issuer": server.issuer,
        "token_endpoint": server.token_endpoint,
        "jwks_uri": server.jwks_uri,
        "discovery": f"{url}/.well-known/openid-configuration",
        "api": f"{url}/api/private",
        "token_lifetime": settings.token_lifetime,
    }


def _print_banner(server: AuthorizationServer, url: str, settings: ServeSettings) -> None:
    lines = [
        "tokensources testing server (for tests and demos, not for production)",
        f"  issuer          {server.issuer}",
        f"  token endpoint  {server.token_endpoint}",
        f"  discovery       {url}/.well-known/openid-configuration",
        f"  jwks            {server.jwks_uri}",
        f"  demo API        {url}/api/private  (scope read:messages)",
        f"  token lifetime  {settings.token_lifetime:g} s",
    ]
    if settings.demo_client:
        lines += [
            f"  demo client     id {DEMO_CLIENT_ID}, secret {DEMO_CLIENT_SECRET}",
            "",
            "try:",
            f"  export TOKENSOURCES_CLIENT_SECRET={DEMO_CLIENT_SECRET}",
            f"  tokensources token --token-url {server.token_endpoint} "
            f"--client-id {DEMO_CLIENT_ID}",
        ]
    lines += ["", "Ctrl-C stops the server."]
    print("\n".join(lines), file=settings.text, flush=True)
    if settings.host not in ("127.0.0.1", "::1", "localhost"):
        print(
            f"tokensources: warning: listening on {settings.host}, beyond loopback",
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
