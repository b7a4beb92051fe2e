"""The client authentication flags of ``tokensources token``.

A client authenticates with a secret (sent as such, or as the HMAC key of a
``client_secret_jwt`` assertion), a private key (``private_key_jwt``,
RFC 7523) or a client certificate (``tls_client_auth``, RFC 8705). The
flags name where each credential is read — an environment variable, stdin,
a file — never the credential itself; ``_token_source`` builds the
source they describe.
"""

from __future__ import annotations

import argparse

from .._jose import SIGNATURE_ALGORITHMS
from ..sources._secret_jwt_auth import HMAC_ALGORITHMS

__all__ = ["DEFAULT_SECRET_ENV", "add_credential_flags"]

DEFAULT_SECRET_ENV = "TOKENSOURCES_CLIENT_SECRET"
# The library's one JOSE table, then the HMACs only client_secret_jwt uses.
_ALGORITHMS = (*SIGNATURE_ALGORITHMS, *HMAC_ALGORITHMS)


def add_credential_flags(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of the client secret, private key and client certificate."""
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
