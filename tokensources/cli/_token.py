"""``tokensources token``: fetch one access token and print it.

Like ``oauth2l fetch``: one client_credentials request (or a token exchange
or JWT-bearer grant, see ``_token_grants``), with a client secret
(from an environment variable or stdin, never from the command line, where
``ps`` and shell history would see it) sent as such or as the key of an
assertion (``client_secret_jwt``), a private key (RFC 7523), or a client
certificate (mutual TLS, RFC 8705). Passwords of encrypted keys come from
environment variables too.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any, cast

import anyio
import httpx

from .._errors import ConfigError, TokenEndpointError
from .._jose import SIGNATURE_ALGORITHMS
from .._source import TokenSource, aclose_source
from .._token import Token
from ..sources import AuthStyle, ClientCredentials, ClientSecretJWT, MutualTLS
from ..sources._grant import Grant
from ..sources._secret_jwt_auth import HMAC_ALGORITHMS
from ._args import positive_float
from ._exit import EXIT_CODES_HELP, OK, KnownSecrets
from ._secrets import read_client_secret, read_key_password, read_private_key
from ._token_grants import CLIENT_CREDENTIALS, GrantSettings, add_grant_flags, grant_source
from ._urls import check_url, in_cli_terms

__all__ = ["DEFAULT_SECRET_ENV", "TokenSettings", "add_parser", "format_token", "run"]

DEFAULT_SECRET_ENV = "TOKENSOURCES_CLIENT_SECRET"
# The library's one JOSE table, then the HMACs only client_secret_jwt uses.
_ALGORITHMS = (*SIGNATURE_ALGORITHMS, *HMAC_ALGORITHMS)

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
    _add_credential_flags(parser)
    add_grant_flags(parser)
    parser.add_argument(
        "--format",
        choices=("token", "header", "json"),
        default="token",
        help="token: the access token alone (default); header: an Authorization header "
        "line; json: access_token, token_type, expires_at, scope (and issued_token_type "
        "when the server names it)",
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
    secret.add_argument(
        "--client-secret-jwt",
        action="store_true",
        help="send an assertion MACed with the secret instead of the secret (client_secret_jwt)",
    )
    key = parser.add_argument_group("private key (private_key_jwt, RFC 7523) and assertion options")
    key.add_argument(
        "--private-key",
        metavar="FILE",
        help="PEM or JWK file of the signing key; with --certificate, the certificate's key",
    )
    key.add_argument("--key-id", metavar="KID", help="the kid to put in the assertion header")
    key.add_argument(
        "--algorithm",
        choices=_ALGORITHMS,
        metavar="ALG",
        help=f"signing algorithm: {', '.join(_ALGORITHMS)} (default: from the key; HS256 "
        "with --client-secret-jwt)",
    )
    key.add_argument(
        "--key-password-env",
        metavar="NAME",
        help="read the password of an encrypted PEM key from this environment variable",
    )
    key.add_argument(
        "--assertion-audience",
        metavar="AUD",
        help='the assertion\'s aud: the token URL by default; "issuer" for the issuer '
        "identifier (RFC 7523bis), or any value",
    )
    key.add_argument(
        "--assertion-typ",
        metavar="TYP",
        help="the assertion's typ header, e.g. client-authentication+jwt (RFC 7523bis)",
    )
    tls = parser.add_argument_group("client certificate (tls_client_auth, RFC 8705)")
    tls.add_argument(
        "--certificate", metavar="FILE", help="PEM file of the client certificate (and chain)"
    )
    tls.add_argument(
        "--ca", metavar="FILE", help="PEM file of the CAs that verify the token endpoint"
    )


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """What ``tokensources token`` was asked to fetch, and how.

    Attributes:
        token_url: the token endpoint, or None to discover it from ``issuer``.
        issuer: the issuer whose metadata names the token endpoint, or None.
        client_id: the client id, or None for a public client.
        scopes: the scopes to request, space-separated ("" for none).
        audience: the ``audience`` form field, or None.
        params: other form fields.
        client_secret_env: the variable holding the secret.
        client_secret_stdin: read the secret from stdin instead.
        auth_style: ``header``, ``body`` or ``auto``.
        private_key: the key file for ``private_key_jwt``, or None for a secret.
        key_id: the assertion's ``kid``.
        algorithm: the assertion's algorithm, None to take it from the key.
        key_password_env: the variable holding the key's password, or None.
        client_secret_jwt: send a ``client_secret_jwt`` assertion, not the secret.
        assertion_audience: the assertion's ``aud`` (``"issuer"`` allowed), or None.
        assertion_typ: the assertion's ``typ`` header, or None.
        certificate: the client certificate file for mutual TLS, or None.
        ca: the file of CAs that verify the token endpoint, or None.
        format: ``token``, ``header`` or ``json``.
        timeout: seconds before giving up on the request.
        allow_insecure_http: permit plain http to a host other than loopback.
        grant: the grant to run and its subject.
    """

    token_url: str | None
    issuer: str | None
    client_id: str | None
    scopes: str
    audience: str | None
    params: tuple[tuple[str, str], ...]
    client_secret_env: str
    client_secret_stdin: bool
    auth_style: str
    private_key: str | None
    key_id: str | None
    algorithm: str | None
    key_password_env: str | None
    client_secret_jwt: bool
    assertion_audience: str | None
    assertion_typ: str | None
    certificate: str | None
    ca: str | None
    format: str
    timeout: float
    allow_insecure_http: bool
    grant: GrantSettings

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TokenSettings:
        """The settings parsed by ``add_parser``'s flags."""
        return cls(
            token_url=args.token_url,
            issuer=args.issuer,
            client_id=args.client_id,
            scopes=" ".join(args.scope),
            audience=args.audience,
            params=tuple(args.param),
            client_secret_env=args.client_secret_env,
            client_secret_stdin=args.client_secret_stdin,
            auth_style=args.auth_style,
            private_key=args.private_key,
            key_id=args.key_id,
            algorithm=args.algorithm,
            key_password_env=args.key_password_env,
            client_secret_jwt=args.client_secret_jwt,
            assertion_audience=args.assertion_audience,
            assertion_typ=args.assertion_typ,
            certificate=args.certificate,
            ca=args.ca,
            format=args.format,
            timeout=args.timeout,
            allow_insecure_http=args.allow_insecure_http,
            grant=GrantSettings.from_args(args),
        )


def run(args: argparse.Namespace, secrets: KnownSecrets) -> int:
    """Fetch the token the flags describe and print it in the chosen format."""
    if args.client_id is None and args.grant == CLIENT_CREDENTIALS:
        args.token_parser.error(
            "the following arguments are required: --client-id "
            "(only --grant token-exchange or jwt-bearer can do without)"
        )
    settings = TokenSettings.from_args(args)
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
        issued = token.extra.get("issued_token_type")
        if issued is not None:
            # RFC 8693 §2.2.1: what a token exchange issued.
            fields["issued_token_type"] = issued
        return json.dumps(fields, indent=2)
    return token.access_token


async def _fetch(settings: TokenSettings, secrets: KnownSecrets) -> Token:
    for flag, url in (("--token-url", settings.token_url), ("--issuer", settings.issuer)):
        check_url(flag, url, allow_insecure_http=settings.allow_insecure_http)
    async with httpx.AsyncClient(timeout=settings.timeout, follow_redirects=False) as http:
        sources: list[TokenSource] = []
        try:
            source = await _build_source(settings, secrets, http, sources)
        except ConfigError as exc:
            await _aclose_all(sources)
            raise in_cli_terms(exc) from None
        try:
            return await source.token()
        except TokenEndpointError as exc:
            if exc.status_code != 405:
                raise
            raise _not_a_token_endpoint(exc, discovered=settings.token_url is None) from None
        finally:
            await _aclose_all(sources)


async def _aclose_all(sources: list[TokenSource]) -> None:
    for source in reversed(sources):
        await aclose_source(source)


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


async def _build_source(
    settings: TokenSettings,
    secrets: KnownSecrets,
    http: httpx.AsyncClient,
    sources: list[TokenSource],
) -> TokenSource:
    """The source to ask, built with every source it uses, each added to ``sources`` to close."""
    _check_combination(settings)
    client: Grant | None = None
    if settings.client_id is not None:
        # Every client-credentials source is a Grant: it lends its authentication.
        client = cast(Grant, await _client_source(settings, secrets, http))
        sources.append(client)
    if settings.grant.kind == CLIENT_CREDENTIALS:
        if client is None:
            raise ConfigError(
                "--client-id is required (only --grant token-exchange or jwt-bearer "
                "can do without client authentication)"
            )
        return client
    source = await grant_source(
        settings.grant,
        token_url=settings.token_url,
        issuer=settings.issuer,
        client=client,
        options=_common_options(settings, http),
    )
    sources.append(source)
    return source


def _common_options(settings: TokenSettings, http: httpx.AsyncClient) -> dict[str, Any]:
    """The constructor arguments every grant source takes from the flags."""
    return {
        "scopes": settings.scopes,
        "audience": settings.audience,
        "params": dict(settings.params) or None,
        "http": http,
        "allow_insecure_http": settings.allow_insecure_http,
    }


async def _client_source(
    settings: TokenSettings, secrets: KnownSecrets, http: httpx.AsyncClient
) -> TokenSource:
    """The client_credentials source of the client flags (it lends other grants its auth)."""
    options = _common_options(settings, http)
    client_id = cast(str, settings.client_id)  # _build_source asks only with one
    assertion = {
        "assertion_audience": settings.assertion_audience,
        "assertion_typ": settings.assertion_typ,
    }
    if settings.certificate is not None:
        return await _mutual_tls(settings, secrets, options)
    if settings.private_key is not None:
        cls: Any = _private_key_jwt()
        credential: Any = read_private_key(settings.private_key)
        options.update(algorithm=settings.algorithm, key_id=settings.key_id, **assertion)
        options["key_password"] = read_key_password(settings.key_password_env, secrets)
    else:
        credential = read_client_secret(
            env_name=settings.client_secret_env,
            from_stdin=settings.client_secret_stdin,
            secrets=secrets,
        )
        if settings.client_secret_jwt:
            cls = ClientSecretJWT
            options.update(algorithm=settings.algorithm or "HS256", **assertion)
        else:
            cls = ClientCredentials
            options["auth_style"] = AuthStyle(settings.auth_style)
    if settings.issuer is not None:
        found = await cls.from_issuer(settings.issuer, client_id, credential, **options)
        return cast(TokenSource, found)
    return cast(TokenSource, cls(settings.token_url, client_id, credential, **options))


def _check_combination(settings: TokenSettings) -> None:
    """Refuse flags that belong to another method than the one the others choose."""
    settings.grant.check()
    authenticating = settings.certificate or settings.private_key or settings.client_secret_jwt
    if settings.client_id is None and (authenticating or settings.client_secret_stdin):
        raise ConfigError("client authentication flags need --client-id")
    if settings.certificate is not None and settings.private_key is None:
        raise ConfigError("--certificate needs --private-key (the certificate's key)")
    if settings.ca is not None and settings.certificate is None:
        raise ConfigError("--ca applies to mutual TLS only: give --certificate too")
    if settings.client_secret_jwt and settings.private_key is not None:
        raise ConfigError("--client-secret-jwt uses the client secret: drop --private-key")
    assertion_flags = settings.assertion_audience or settings.assertion_typ
    jwt_method = settings.client_secret_jwt or (
        settings.private_key is not None and settings.certificate is None
    )
    if assertion_flags and not jwt_method:
        raise ConfigError(
            "--assertion-audience and --assertion-typ need --client-secret-jwt or --private-key"
        )


async def _mutual_tls(
    settings: TokenSettings, secrets: KnownSecrets, options: dict[str, Any]
) -> TokenSource:
    """The ``MutualTLS`` source; ``http`` serves discovery only (it carries no certificate)."""
    http = options.pop("http")
    client_id = cast(str, settings.client_id)
    options.update(
        certificate=settings.certificate,
        private_key=settings.private_key,
        key_password=read_key_password(settings.key_password_env, secrets),
        ca=settings.ca,
    )
    if settings.issuer is not None:
        return await MutualTLS.from_issuer(settings.issuer, client_id, http=http, **options)
    return MutualTLS(cast(str, settings.token_url), client_id, **options)


def _private_key_jwt() -> type:
    try:
        from ..sources._private_key_jwt import PrivateKeyJWT
    except ImportError:  # pragma: no cover - a partial installation
        raise ConfigError("--private-key needs PrivateKeyJWT, which is not installed") from None
    return PrivateKeyJWT
