"""The workload grants of ``tokensources token``: token exchange and JWT bearer.

``--grant token-exchange`` runs RFC 8693 with the subject (and actor) read
from files, as a platform writes them (a Kubernetes projected token, a
SPIFFE JWT-SVID, ``AZURE_FEDERATED_TOKEN_FILE``); ``--grant jwt-bearer``
sends the file's JWT as the assertion of RFC 7523 §2.1. The client
authentication is the one the other flags describe, or none at all when
``--client-id`` is left out (a public client). The tokens themselves are
read from files only, never from flags, where ``ps`` and shell history
would see them.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any, Literal, cast

from .._errors import ConfigError
from .._source import TokenSource
from ..sources._file_token import FileToken
from ..sources._grant import Grant
from ..sources._jwt_bearer import JWTBearer
from ..sources._token_exchange import TOKEN_TYPES, TokenExchange, token_type_uri

__all__ = ["CLIENT_CREDENTIALS", "GRANTS", "GrantSettings", "add_grant_flags", "grant_source"]

CLIENT_CREDENTIALS = "client-credentials"
TOKEN_EXCHANGE = "token-exchange"
JWT_BEARER = "jwt-bearer"
GRANTS = (CLIENT_CREDENTIALS, TOKEN_EXCHANGE, JWT_BEARER)
# Subjects of these types must be JWTs: a file holding anything else is a ConfigError.
_JWT_TYPES = frozenset({TOKEN_TYPES["jwt"], TOKEN_TYPES["id_token"]})
# The flags only token exchange takes, by the settings attribute they fill.
_EXCHANGE_ONLY = {
    "subject_token_type": "--subject-token-type",
    "actor_token_file": "--actor-token-file",
    "actor_token_type": "--actor-token-type",
    "requested_token_type": "--requested-token-type",
    "resource": "--resource",
}


def add_grant_flags(parser: argparse.ArgumentParser) -> None:
    """Declare ``--grant`` and the flags of the token exchange and JWT-bearer grants."""
    group = parser.add_argument_group(
        "token exchange (RFC 8693) and JWT bearer (RFC 7523): workload identity"
    )
    group.add_argument(
        "--grant",
        choices=GRANTS,
        default=CLIENT_CREDENTIALS,
        help="the grant to run (default client-credentials); token-exchange and "
        "jwt-bearer need --subject-token-file, and --client-id only for a confidential client",
    )
    group.add_argument(
        "--subject-token-file",
        metavar="FILE",
        help="the file holding the subject token (the assertion, for jwt-bearer), "
        "e.g. a Kubernetes projected service-account token",
    )
    group.add_argument(
        "--subject-token-type",
        metavar="TYPE",
        help="its type: jwt (default), id_token, access_token, ... or a URI",
    )
    group.add_argument(
        "--actor-token-file", metavar="FILE", help="the file holding the actor token (delegation)"
    )
    group.add_argument(
        "--actor-token-type", metavar="TYPE", help="the actor token's type (default jwt)"
    )
    group.add_argument(
        "--requested-token-type",
        metavar="TYPE",
        help="the type of token to ask for, e.g. access_token (default: the server's choice)",
    )
    group.add_argument(
        "--resource", metavar="URI", help="the resource form field: the target service's URI"
    )
    group.add_argument(
        "--body",
        choices=("form", "json"),
        default="form",
        help="send the parameters as a form (default) or as one JSON object, for the "
        "providers that take JSON",
    )


@dataclass(frozen=True, slots=True)
class GrantSettings:
    """Which grant ``tokensources token`` runs, and its subject.

    Attributes:
        kind: one of ``GRANTS``.
        subject_token_file: the subject's (or assertion's) file, or None.
        subject_token_type: the subject's type as given, or None for ``jwt``.
        actor_token_file: the actor's file, or None.
        actor_token_type: the actor's type as given, or None.
        requested_token_type: the type asked for, or None.
        resource: the ``resource`` form field, or None.
        body: ``form`` or ``json``.
    """

    kind: str
    subject_token_file: str | None
    subject_token_type: str | None
    actor_token_file: str | None
    actor_token_type: str | None
    requested_token_type: str | None
    resource: str | None
    body: Literal["form", "json"]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> GrantSettings:
        """The settings parsed by ``add_grant_flags``'s flags."""
        return cls(
            kind=args.grant,
            subject_token_file=args.subject_token_file,
            subject_token_type=args.subject_token_type,
            actor_token_file=args.actor_token_file,
            actor_token_type=args.actor_token_type,
            requested_token_type=args.requested_token_type,
            resource=args.resource,
            body=args.body,
        )

    def check(self) -> None:
        """Refuse the flags the chosen grant does not take, and a missing subject file.

        Raises:
            ConfigError: the message names the flag.
        """
        if self.kind == CLIENT_CREDENTIALS:
            given = [flag for flag, value in self._grant_flags() if value]
            if given:
                raise ConfigError(
                    f"{given[0]} applies to --grant token-exchange or jwt-bearer only"
                )
            return
        if self.subject_token_file is None:
            raise ConfigError(f"--grant {self.kind} needs --subject-token-file")
        if self.kind == JWT_BEARER:
            for attribute, flag in _EXCHANGE_ONLY.items():
                if getattr(self, attribute) is not None:
                    raise ConfigError(f"{flag} applies to --grant token-exchange only")
        if self.actor_token_type is not None and self.actor_token_file is None:
            raise ConfigError("--actor-token-type needs --actor-token-file")
        for flag, path in (
            ("--subject-token-file", self.subject_token_file),
            ("--actor-token-file", self.actor_token_file),
        ):
            if path is not None and not os.path.isfile(path):
                raise ConfigError(f"{flag} {path!r}: no such file")

    def _grant_flags(self) -> list[tuple[str, object]]:
        return [
            ("--subject-token-file", self.subject_token_file),
            *((flag, getattr(self, attribute)) for attribute, flag in _EXCHANGE_ONLY.items()),
            ("--body json", self.body == "json"),
        ]


async def grant_source(
    settings: GrantSettings,
    *,
    token_url: str | None,
    issuer: str | None,
    client: Grant | None,
    options: dict[str, Any],
) -> TokenSource:
    """The token exchange or JWT-bearer source ``settings`` describe (already ``check()``-ed).

    ``client`` lends its client authentication and, when it was discovered
    or is a mutual-TLS alias, its token URL; None makes a public client.
    ``options`` are the constructor arguments common to every grant
    (``scopes``, ``audience``, ``params``, ``http``, ...).

    Raises:
        ConfigError: a token type is not acceptable, or the issuer's
            metadata has no usable token endpoint.
        TokenSourceError: the issuer's metadata could not be fetched.
    """
    options = {**options, "client": client, "body": settings.body}
    if client is not None and client.client_auth.ssl_context is not None:
        # A client certificate needs the grant's own HTTP client (see HttpClient).
        options.pop("http", None)
    make: Any  # TokenExchange or JWTBearer: the same call, the subject first
    if settings.kind == TOKEN_EXCHANGE:
        make, subject = TokenExchange, _exchange_options(settings, options)
    else:
        make, subject = JWTBearer, FileToken(str(settings.subject_token_file))
    if client is not None:
        token_url = client.token_url
    if token_url is None:
        found = await make.from_issuer(str(issuer), subject, **options)
        return cast(TokenSource, found)
    return cast(TokenSource, make(token_url, subject, **options))


def _exchange_options(settings: GrantSettings, options: dict[str, Any]) -> FileToken:
    """The subject of the exchange; its other settings are added to ``options``."""
    subject_type = token_type_uri(settings.subject_token_type or "jwt", "--subject-token-type")
    options["subject_token_type"] = subject_type
    if settings.actor_token_file is not None:
        actor_type = token_type_uri(settings.actor_token_type or "jwt", "--actor-token-type")
        options["actor"] = FileToken(
            settings.actor_token_file, require_jwt=actor_type in _JWT_TYPES
        )
        options["actor_token_type"] = actor_type
    if settings.requested_token_type is not None:
        options["requested_token_type"] = token_type_uri(
            settings.requested_token_type, "--requested-token-type"
        )
    options["resource"] = settings.resource
    return FileToken(str(settings.subject_token_file), require_jwt=subject_type in _JWT_TYPES)
