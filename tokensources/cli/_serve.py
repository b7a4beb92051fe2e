"""``tokensources serve``: run the testing authorization server on loopback."""

from __future__ import annotations

import argparse
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio

from .._errors import ConfigError
from ..testing import AuthorizationServer
from ..testing._issuer_api import IssuerApi
from ._args import port_number, positive_float
from ._exit import EXIT_CODES_HELP, OK, KnownSecrets
from ._serve_clients import load_clients, register_client
from ._serve_text import ServeText

__all__ = ["ServeSettings", "add_parser", "build_server", "load_clients", "quota", "run"]

_DESCRIPTION = """\
Run the tokensources testing server: a small but real OAuth 2.0
authorization server (client_credentials with client_secret_basic,
client_secret_post and private_key_jwt; RS256 JWT access tokens; JWKS and
discovery metadata) with a protected demo API and a page for people at
/_debug, for trying clients out without any account. It is for tests and
demos, not for production.

It prints its issuers, endpoints, the page's address and the demo client's
credentials, serves until Ctrl-C (or SIGTERM), then prints how many
requests it answered.

--config FILE sets the whole server up from a JSON or TOML file: its
settings, clients, claim mappings, quotas and its issuers (tenants, each
under /<name>/) with theirs. The flags --strict, --token-lifetime and
--quota apply to every issuer and win over the file.

For scripts, --ready-json prints one JSON line on stdout once the server
listens (its URLs: learn the port chosen by --port 0 from it) and one when
it stops (its counters); the human-readable text then goes to stderr.
"""

_EPILOG = f"""\
configuration file (JSON, or TOML on Python 3.11+); every field is optional:

  {{"token_lifetime": 600, "strict": false, "demo_client": true,
   "clients": [{{"client_id": "billing", "secret": "s3cret", "scopes": ["read:messages"]}}],
   "claims": [{{"client_id": "billing", "claims": {{"sub": "svc:${{client_id}}"}}}}],
   "quotas": [{{"tokens": 100, "per": 3600}}],
   "issuers": [{{"name": "tenant-a", "strict": true, "clients": [...]}}]}}

A problem in the file (an unknown field, a bad claim template, an issuer
named twice) stops the server before it starts, naming the file, the line
and the field. A clients file of earlier versions (a list of clients, or
{{"clients": [...]}}) is a configuration file too.

clients file (JSON, --clients, registered after --config): a list of
clients, or {{"clients": [...]}}, each with a "client_id" and a "secret"
and/or a "jwks" (public keys for private_key_jwt), and optionally "scopes",
"audiences" (lists) and "token_lifetime" (seconds):

  [{{"client_id": "billing", "secret": "s3cret", "scopes": ["read:messages"]}}]

--ready-json lines:

  {{"event": "ready", "url": "http://127.0.0.1:PORT", "issuer": ..., "token_endpoint": ...,
   "jwks_uri": ..., "discovery": ..., "api": ..., "debug": ..., "token_lifetime": 3600,
   "strict": false, "issuers": {{"tenant-a": {{"issuer": ..., "token_endpoint": ...}}}}}}
  {{"event": "stopped", "token_requests": 4, "api_requests": 0, "cpu_seconds": 0.4}}

examples:
  tokensources serve
  tokensources serve --port 0 --token-lifetime 60
  tokensources serve --config server.toml --strict
  tokensources serve --tenant tenant-a --tenant tenant-b --quota 100/3600
  tokensources serve --port 0 --ready-json | head -n 1

{EXIT_CODES_HELP}"""

_QUOTA = re.compile(r"(\d+)/(\S+)")


def quota(text: str) -> tuple[int, float]:
    """An argparse type: ``TOKENS/SECONDS`` (``100/3600``), a positive count per window."""
    found = _QUOTA.fullmatch(text.strip())
    if found is None or int(found[1]) < 1:
        raise argparse.ArgumentTypeError(
            f"must be TOKENS/SECONDS, such as 100/3600 (100 tokens per client per hour), "
            f"got {text!r}"
        )
    return int(found[1]), positive_float(found[2])


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
        "--config", metavar="FILE", help="a JSON or TOML file describing the server (see below)"
    )
    parser.add_argument(
        "--clients", metavar="FILE", help="a JSON file of clients to register (see below)"
    )
    parser.add_argument(
        "--tenant",
        action="append",
        default=[],
        metavar="NAME",
        help="add an issuer under /NAME/ with its own keys and clients (repeatable)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse legacy client behaviour on every issuer (see the docs' strict mode)",
    )
    parser.add_argument(
        "--quota",
        type=quota,
        metavar="TOKENS/SECONDS",
        help="at most TOKENS tokens per client in any SECONDS, then 429 with Retry-After",
    )
    parser.add_argument(
        "--token-lifetime",
        type=positive_float,
        metavar="SECONDS",
        help="how long issued access tokens live (default 3600, or the file's)",
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
        config: a JSON or TOML file describing the server, or None.
        clients: a JSON file of clients to register (after ``config``), or None.
        tenants: names of issuers to add under ``/<name>/``.
        strict: strict mode on every issuer.
        quota: tokens per client per window on every issuer, or None.
        token_lifetime: seconds issued tokens live on every issuer; None
            leaves the file's (or the default, 3600).
        demo_client: whether to register ``demo-client``.
        ready_json: JSON lines on stdout, the text on stderr.
    """

    host: str
    port: int
    config: str | None
    clients: str | None
    tenants: tuple[str, ...]
    strict: bool
    quota: tuple[int, float] | None
    token_lifetime: float | None
    demo_client: bool
    ready_json: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServeSettings:
        """The settings parsed by ``add_parser``'s flags."""
        return cls(
            host=args.host,
            port=args.port,
            config=args.config,
            clients=args.clients,
            tenants=tuple(args.tenant),
            strict=args.strict,
            quota=args.quota,
            token_lifetime=args.token_lifetime,
            demo_client=not args.no_demo_client,
            ready_json=args.ready_json,
        )


def build_server(settings: ServeSettings) -> AuthorizationServer:
    """The server ``settings`` describe: the file's, then the clients file's, then the flags'.

    Raises:
        ConfigError: a file cannot be read or describes something the server
            cannot be (naming the file, the line and the field), or a tenant
            name is not one.
    """
    overrides: dict[str, Any] = {} if settings.demo_client else {"register_demo_client": False}
    if settings.config is not None:
        server = AuthorizationServer.from_config(settings.config, **overrides)
    else:
        server = AuthorizationServer(**overrides)
    if settings.clients is not None:
        for index, client in enumerate(load_clients(settings.clients), start=1):
            register_client(server, client, f"client #{index} in {settings.clients!r}")
    for name in settings.tenants:
        _add_tenant(server, name)
    for issuer in _issuers(server):
        if settings.strict:
            issuer.strict = True
        if settings.token_lifetime is not None:
            issuer.token_lifetime = settings.token_lifetime
        if settings.quota is not None:
            issuer.set_quota(*settings.quota)
    return server


def _add_tenant(server: AuthorizationServer, name: str) -> None:
    try:
        server.tenant(name)
    except ConfigError as exc:
        raise ConfigError(f"--tenant: {exc}") from None


def _issuers(server: AuthorizationServer) -> Iterator[IssuerApi]:
    yield server
    yield from server.tenants.values()


def run(args: argparse.Namespace, secrets: KnownSecrets) -> int:
    """Serve until interrupted; return 0 after a clean stop."""
    settings = ServeSettings.from_args(args)
    server = build_server(settings)
    text = ServeText(server, ready_json=settings.ready_json)
    anyio.run(_serve, server, settings, text)
    counters = server.counters
    text.stopped(counters.token_requests, counters.api_requests, time.process_time())
    return OK


async def _serve(server: AuthorizationServer, settings: ServeSettings, text: ServeText) -> None:
    host, port = settings.host, settings.port
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            async with server.serve(host, port) as url:
                text.ready(url, host)
                async for _ in signals:
                    break
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
