"""``tokensources token``: fetch one access token and print it.

Like ``oauth2l fetch``: one client_credentials request (or a token exchange
or JWT-bearer grant, see ``_token_grants``), with a client secret
(from an environment variable or stdin, never from the command line, where
``ps`` and shell history would see it) sent as such or as the key of an
assertion (``client_secret_jwt``), a private key (RFC 7523), or a client
certificate (mutual TLS, RFC 8705), optionally bound to a DPoP key
(RFC 9449, see ``_token_dpop``). Passwords of encrypted keys come from
environment variables too.

This module declares the command (the credential, grant and DPoP flags
come from ``_token_credentials``, ``_token_grants`` and ``_token_dpop``),
runs the request and prints the token; ``_token_source`` turns the flags
into the source to ask.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import anyio
import httpx

from .._errors import TokenEndpointError
from .._token import Token
from ._args import positive_float
from ._exit import EXIT_CODES_HELP, OK, KnownSecrets
from ._token_credentials import DEFAULT_SECRET_ENV, add_credential_flags
from ._token_dpop import add_dpop_flags
from ._token_grants import CLIENT_CREDENTIALS, add_grant_flags
from ._token_source import TokenSettings, open_token_source
from ._urls import check_url
from ._warnings import warnings_on_stderr

__all__ = ["DEFAULT_SECRET_ENV", "add_parser", "format_token", "run"]

_DESCRIPTION = f"""\
Fetch one access token with the client_credentials grant and print it.

The client secret is read from the environment variable named by
--client-secret-env (default {DEFAULT_SECRET_ENV}) or, with
--client-secret-stdin, from standard input. It is never accepted as a flag.
With --client-secret-jwt the secret is the HMAC key of a short assertion
and never sent (client_secret_jwt). With --private-key alone the client
authenticates with a signed JWT (private_key_jwt, RFC 7523) and needs no
secret; with --certificate and --private-key, with its client certificate
(tls_client_auth, RFC 8705), the token endpoint verified against --ca.

With --grant token-exchange (RFC 8693) or --grant jwt-bearer (RFC 7523),
the subject token is read from --subject-token-file and exchanged; the
client authenticates as above, or not at all when --client-id is left out
(a public client, as workload identity federation usually is).

With --dpop-key, every token request carries a DPoP proof (RFC 9449)
signed with that key, and the token comes back bound to it: token_type
DPoP, and the key's thumbprint as "jkt" in --format json. Make a key with
`tokensources dpop-key FILE`.
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

  # mutual TLS with the certificate cert-manager keeps current
  tokensources token --issuer https://auth.example.com --client-id my-service \
      --certificate /var/run/tls/tls.crt --private-key /var/run/tls/tls.key \
      --ca /var/run/tls/ca.crt

  # a Kubernetes service-account token exchanged for an access token (RFC 8693)
  tokensources token --grant token-exchange --token-url https://sts.example.com/token \
      --subject-token-file /var/run/secrets/tokens/token --audience https://api.example.com

  # a DPoP-bound token (RFC 9449), with a key made by `tokensources dpop-key dpop.pem`
  tokensources token --issuer https://auth.example.com --client-id my-service \
      --dpop-key dpop.pem --format json

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
    parser.add_argument(
        "--client-id",
        metavar="ID",
        help="the client id; leave it out for a public client of token-exchange or jwt-bearer",
    )
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
    add_credential_flags(parser)
    add_grant_flags(parser)
    add_dpop_flags(parser)
    parser.add_argument(
        "--format",
        choices=("token", "header", "json"),
        default="token",
        help="token: the access token alone (default); header: an Authorization header "
        "line; json: access_token, token_type, expires_at, scope (and jkt for a "
        "DPoP-bound token, issued_token_type when the server names it)",
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
    # --client-id is required by the grant, which argparse cannot express:
    # run() refuses its absence through this parser, with its usage (status 2).
    parser.set_defaults(token_parser=parser)


def run(args: argparse.Namespace, secrets: KnownSecrets) -> int:
    """Fetch the token the flags describe and print it in the chosen format."""
    if args.client_id is None and args.grant == CLIENT_CREDENTIALS:
        args.token_parser.error(
            "the following arguments are required: --client-id "
            "(only --grant token-exchange or jwt-bearer can do without)"
        )
    settings = TokenSettings.from_args(args)
    with warnings_on_stderr(secrets):
        token = anyio.run(_fetch, settings, secrets)
    print(format_token(token, settings.format))
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
        if token.jkt is not None:
            # RFC 9449 §6.1: the thumbprint of the key a DPoP token is bound to.
            fields["jkt"] = token.jkt
        issued = token.extra.get("issued_token_type")
        if issued is not None:
            # RFC 8693 §2.2.1: what a token exchange issued.
            fields["issued_token_type"] = issued
        return json.dumps(fields, indent=2)
    return token.access_token


async def _fetch(settings: TokenSettings, secrets: KnownSecrets) -> Token:
    for flag, url in (("--token-url", settings.token_url), ("--issuer", settings.issuer)):
        check_url(flag, url, allow_insecure_http=settings.allow_insecure_http)
    async with (
        httpx.AsyncClient(timeout=settings.timeout, follow_redirects=False) as http,
        open_token_source(settings, secrets, http) as source,
    ):
        try:
            return await source.token()
        except TokenEndpointError as exc:
            if exc.status_code != 405:
                raise
            raise _not_a_token_endpoint(exc, discovered=settings.token_url is None) from None


def _not_a_token_endpoint(exc: TokenEndpointError, *, discovered: bool) -> TokenEndpointError:
    # RFC 9110 §15.5.6: 405 means the resource exists but refuses POST, the
    # only method of a token endpoint (RFC 6749 §3.2): a page, an API, a
    # metadata document, not a token endpoint.
    where = f"{exc.url} " if exc.url else ""
    check = "the issuer's token_endpoint" if discovered else "the path of --token-url"
    return TokenEndpointError(
        f"{where}answered 405 Method Not Allowed: it does not accept POST, so it is probably "
        f"not a token endpoint (check {check})",
        status_code=405,
        error=exc.error,
        url=exc.url,
    )
