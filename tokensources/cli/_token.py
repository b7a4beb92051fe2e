"""``tokensources token``: fetch one access token and print it.

Like ``oauth2l fetch``: one client_credentials request, with a client secret
(from an environment variable or stdin, never from the command line, where
``ps`` and shell history would see it) or a private key (RFC 7523).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import anyio

from .._errors import ConfigError
from .._source import TokenSource, aclose_source
from .._token import Token
from ..sources import AuthStyle, ClientCredentials
from ._args import env_var_name, positive_float
from ._exit import EXIT_CODES_HELP, OK

__all__ = ["DEFAULT_SECRET_ENV", "add_parser", "run"]

DEFAULT_SECRET_ENV = "TOKENSOURCES_CLIENT_SECRET"
_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")

_DESCRIPTION = f"""\
Fetch one access token with the client_credentials grant and print it.

The client secret is read from the environment variable named by
--client-secret-env (default {DEFAULT_SECRET_ENV}) or, with
--client-secret-stdin, from standard input. It is never accepted as a flag.
With --private-key the client authenticates with a signed JWT instead
(private_key_jwt, RFC 7523) and needs no secret.
"""

_EPILOG = f"""\
examples:
  # against the testing server (run `tokensources serve` first)
  export {DEFAULT_SECRET_ENV}=demo-secret
  tokensources token --token-url http://127.0.0.1:9096/oauth/token \\
      --client-id demo-client --scope read:messages

  # an Authorization header for curl, the secret from a password manager
  pass show api/client-secret | tokensources token --client-secret-stdin \\
      --issuer https://auth.example.com --client-id my-service \\
      --audience https://api.example.com --format header

  # private_key_jwt, all fields as JSON
  tokensources token --token-url https://auth.example.com/oauth/token \\
      --client-id my-service --private-key key.pem --key-id k1 --format json

{EXIT_CODES_HELP}"""


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def add_parser(subparsers: Any) -> None:
    """Declare ``tokensources token`` and its flags."""
    parser = subparsers.add_parser(
        "token",
        help="fetch one access token and print it",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--token-url", metavar="URL", help="the token endpoint")
    where.add_argument(
        "--issuer", metavar="URL", help="discover the token endpoint from this issuer's metadata"
    )
    parser.add_argument("--client-id", required=True, metavar="ID", help="the client id")
    parser.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="SCOPE",
        help="a scope to request (repeat, or give a space-separated list)",
    )
    parser.add_argument(
        "--audience", metavar="AUD", help="the audience form field (Auth0 and others)"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=_param,
        metavar="NAME=VALUE",
        help="an extra form field, e.g. resource=https://api.example.com (repeatable)",
    )
    _add_credential_flags(parser)
    parser.add_argument(
        "--format",
        choices=("token", "header", "json"),
        default="token",
        help="token: the access token alone (default); header: an Authorization header "
        "line; json: access_token, token_type, expires_at, scope",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="give up on the request after this long (default 10)",
    )
    parser.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="permit plain http:// to a host other than loopback",
    )
    parser.set_defaults(run=run)


def _add_credential_flags(parser: argparse.ArgumentParser) -> None:
    secret = parser.add_argument_group("client secret (client_secret_basic / client_secret_post)")
    secret.add_argument(
        "--client-secret-env",
        default=DEFAULT_SECRET_ENV,
        metavar="NAME",
        help=f"read the secret from this environment variable (default {DEFAULT_SECRET_ENV})",
    )
    secret.add_argument(
        "--client-secret-stdin",
        action="store_true",
        help="read the secret from standard input (one line; not echoed at a terminal)",
    )
    secret.add_argument(
        "--auth-style",
        choices=("header", "body", "auto"),
        default="auto",
        help="HTTP Basic (header), form fields (body), or try both (auto, the default)",
    )
    key = parser.add_argument_group("private key (private_key_jwt, RFC 7523)")
    key.add_argument("--private-key", metavar="FILE", help="PEM or JWK file of the signing key")
    key.add_argument("--key-id", metavar="KID", help="the kid to put in the assertion header")
    key.add_argument(
        "--algorithm",
        choices=_ALGORITHMS,
        metavar="ALG",
        help=f"signing algorithm: {', '.join(_ALGORITHMS)} (default: from the key)",
    )
    key.add_argument(
        "--key-password-env",
        metavar="NAME",
        help="read the password of an encrypted PEM key from this environment variable",
    )


def run(args: argparse.Namespace) -> int:
    """Fetch the token described by ``args`` and print it in the chosen format."""
    token = anyio.run(_fetch, args)
    print(format_token(token, args.format))
    return OK


def format_token(token: Token, fmt: str) -> str:
    """``token`` as ``--format`` asks: the bare token, a header line, or JSON."""
    if fmt == "header":
        return f"Authorization: {token.authorization}"
    if fmt == "json":
        fields = {
            "access_token": token.access_token,
            "token_type": token.token_type,
            "expires_at": token.expires_at,
            "scope": token.scope,
        }
        return json.dumps(fields, indent=2)
    return token.access_token


async def _fetch(args: argparse.Namespace) -> Token:
    import httpx

    async with httpx.AsyncClient(timeout=args.timeout, follow_redirects=False) as http:
        source = await _build_source(args, http)
        try:
            return await source.token()
        finally:
            await aclose_source(source)


async def _build_source(args: argparse.Namespace, http: Any) -> TokenSource:
    _check_url("--token-url", args.token_url)
    _check_url("--issuer", args.issuer)
    options: dict[str, Any] = {
        "scopes": " ".join(args.scope),
        "audience": args.audience,
        "params": dict(args.param) or None,
        "http": http,
        "allow_insecure_http": args.allow_insecure_http,
    }
    if args.private_key is not None:
        cls: Any = _private_key_jwt()
        credential: Any = _read_key(args.private_key)
        options.update(algorithm=args.algorithm, key_id=args.key_id)
        options["key_password"] = _key_password(args)
    else:
        cls = ClientCredentials
        credential = read_secret(args)
        options["auth_style"] = AuthStyle(args.auth_style)
    if args.issuer is not None:
        discovered = await cls.from_issuer(args.issuer, args.client_id, credential, **options)
        return cast(TokenSource, discovered)
    return cast(TokenSource, cls(args.token_url, args.client_id, credential, **options))


def _check_url(flag: str, url: str | None) -> None:
    # urlsplit refuses some malformed URLs ("http://[::1") with a ValueError,
    # which would otherwise surface as an internal error.
    if url is None:
        return
    try:
        urlsplit(url).port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ConfigError(f"{flag} is not a valid URL") from None


def read_secret(args: argparse.Namespace) -> str:
    """The client secret from stdin or the environment; remembered in ``args.secrets``.

    At a terminal, standard input is read without echo (``getpass``); from a
    pipe, one line is read as is.

    Raises:
        ConfigError: no secret was given (the message says where to put it),
            or --client-secret-env is not a variable name.
    """
    name = _variable_name(args.client_secret_env, "--client-secret-env")
    if args.client_secret_stdin:
        secret = _read_stdin_secret()
        where = "standard input"
    else:
        secret = os.environ.get(name, "")
        where = f"the environment variable {name}"
    if not secret:
        raise ConfigError(
            f"no client secret: {where} is empty or unset "
            f"(set {name}, pass --client-secret-stdin, or use --private-key)"
        )
    args.secrets = (secret,)
    return secret


def _read_stdin_secret() -> str:
    if sys.stdin.isatty():
        # A secret typed at a terminal must not be echoed onto the screen.
        return getpass.getpass("client secret: ")
    return sys.stdin.readline().rstrip("\r\n")


def _variable_name(name: str, flag: str) -> str:
    # A value that is not a variable name may be the secret itself, given
    # where its name belongs: never repeat it.
    if not env_var_name(name):
        raise ConfigError(f"the variable named by {flag} is not a valid environment variable name")
    return name


def _key_password(args: argparse.Namespace) -> str | None:
    if args.key_password_env is None:
        return None
    name = _variable_name(args.key_password_env, "--key-password-env")
    password = os.environ.get(name)
    if not password:
        raise ConfigError(f"the environment variable {name} is empty or unset")
    args.secrets = (password,)
    return password


def _read_key(path: str) -> bytes | dict[str, Any]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the private key file {path!r}: {exc.strerror}") from None
    if data.lstrip().startswith(b"{"):
        try:
            jwk = json.loads(data)
        except ValueError:
            raise ConfigError(f"the private key file {path!r} is not valid JSON") from None
        if isinstance(jwk, dict):
            return jwk
        raise ConfigError(f"the private key file {path!r} is not a JWK object")
    return data


def _private_key_jwt() -> type:
    try:
        from ..sources._private_key_jwt import PrivateKeyJWT
    except ImportError:  # pragma: no cover - a partial installation
        raise ConfigError("--private-key needs PrivateKeyJWT, which is not installed") from None
    return PrivateKeyJWT
