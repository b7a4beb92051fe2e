"""What ``tokensources token`` asks: its settings, and the token source they describe.

``TokenSettings`` holds the parsed flags; ``open_token_source`` turns them
into the source to ask — a client-credentials source for the client's
authentication method (a secret, ``client_secret_jwt``, ``private_key_jwt``
or mutual TLS), or the token exchange or JWT-bearer grant it lends that
authentication to (see ``_token_grants``) — bound to ``--dpop-key`` when one
is given (see ``_token_dpop``). Flags of two methods at once are refused
before anything is read or sent.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import httpx

from .._errors import ConfigError
from .._source import TokenSource, aclose_source
from ..sources import AuthStyle, ClientCredentials, ClientSecretJWT, MutualTLS
from ..sources._dpop_key import DPoPKey
from ..sources._grant import Grant
from ._exit import KnownSecrets
from ._secrets import read_client_secret, read_key_password, read_private_key
from ._token_dpop import DPoPSettings, load_dpop_key
from ._token_grants import CLIENT_CREDENTIALS, GrantSettings, grant_source
from ._urls import in_cli_terms

__all__ = ["TokenSettings", "open_token_source"]


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
        dpop: the DPoP key to bind the token to, if any.
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
    dpop: DPoPSettings

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TokenSettings:
        """The settings parsed by the flags of ``tokensources token``."""
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
            dpop=DPoPSettings.from_args(args),
        )


@asynccontextmanager
async def open_token_source(
    settings: TokenSettings, secrets: KnownSecrets, http: httpx.AsyncClient
) -> AsyncIterator[TokenSource]:
    """The source ``settings`` describe, with every source it uses closed on leaving.

    Every secret read on the way (client secret, key passwords) is recorded
    in ``secrets``.

    Raises:
        ConfigError: bad or contradictory settings, in the command line's
            terms; nothing has been sent.
        TokenSourceError: discovery failed.
    """
    sources: list[TokenSource] = []
    try:
        try:
            source = await _build_source(settings, secrets, http, sources)
        except ConfigError as exc:
            raise in_cli_terms(exc) from None
        yield source
    finally:
        for opened in reversed(sources):
            await aclose_source(opened)


async def _build_source(
    settings: TokenSettings,
    secrets: KnownSecrets,
    http: httpx.AsyncClient,
    sources: list[TokenSource],
) -> TokenSource:
    """The source to ask, built with every source it uses, each added to ``sources`` to close."""
    _check_combination(settings)
    dpop = load_dpop_key(settings.dpop, secrets)
    client: Grant | None = None
    if settings.client_id is not None:
        # Every client-credentials source is a Grant: it lends its authentication.
        # Only the source that fetches the token proves possession of the key.
        fetches = settings.grant.kind == CLIENT_CREDENTIALS
        own = await _client_source(settings, secrets, http, dpop if fetches else None)
        client = cast(Grant, own)
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
        options=_common_options(settings, http, dpop),
    )
    sources.append(source)
    return source


def _common_options(
    settings: TokenSettings, http: httpx.AsyncClient, dpop: DPoPKey | None
) -> dict[str, Any]:
    """The constructor arguments every grant source takes from the flags."""
    return {
        "scopes": settings.scopes,
        "audience": settings.audience,
        "params": dict(settings.params) or None,
        "http": http,
        "allow_insecure_http": settings.allow_insecure_http,
        "dpop": dpop,
    }


async def _client_source(
    settings: TokenSettings,
    secrets: KnownSecrets,
    http: httpx.AsyncClient,
    dpop: DPoPKey | None,
) -> TokenSource:
    """The client_credentials source of the client flags (it lends other grants its auth)."""
    options = _common_options(settings, http, dpop)
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
    settings.dpop.check()
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
