"""``client_secret_basic`` and ``client_secret_post`` (RFC 6749 §2.3.1)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import unquote_plus

from ._clients import ClientRegistry, RegisteredClient
from ._oauth_errors import OAuthError, invalid_client
from ._token_request import TokenRequest

__all__ = ["ClientSecretBasic", "ClientSecretPost", "basic_credentials"]


def _is_basic(headers: Mapping[str, str]) -> bool:
    scheme = headers.get("authorization", "").strip().partition(" ")[0]
    return scheme.lower() == "basic"


def basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The (client_id, secret) of a Basic Authorization header, or None without one.

    Raises:
        OAuthError: the header says Basic but cannot be decoded.
    """
    if not _is_basic(headers):
        return None
    encoded = headers["authorization"].strip().partition(" ")[2]
    decoded: str | None = None
    # Refused after the block, not in a handler: a UnicodeDecodeError holds the secret.
    with contextlib.suppress(binascii.Error, UnicodeDecodeError):
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    if decoded is None:
        raise invalid_client("the Basic credentials are not valid base64 UTF-8")
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise invalid_client("the Basic credentials have no ':'")
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


def _check_secret(clients: ClientRegistry, client_id: str, secret: str) -> RegisteredClient:
    client = clients.get(client_id)
    expected = client.secret if client is not None else None
    # Compare even for unknown clients so timing does not reveal which ids exist.
    ok = hmac.compare_digest((expected or "\0").encode(), secret.encode())
    if client is None or expected is None or not ok:
        raise invalid_client("client authentication failed")
    return client


class ClientSecretBasic:
    """``client_secret_basic``: id and secret in an HTTP Basic ``Authorization`` header."""

    name = "client_secret_basic"
    signing_algorithms: Sequence[str] = ()

    def __init__(self, clients: ClientRegistry) -> None:
        self._clients = clients

    def used_by(self, request: TokenRequest) -> bool:
        """Whether the request has a Basic ``Authorization`` header."""
        return _is_basic(request.headers)

    def claimed_client_id(self, request: TokenRequest) -> str | None:
        """The id in the Basic header, or None when it cannot be decoded."""
        with contextlib.suppress(OAuthError):
            credentials = basic_credentials(request.headers)
            return credentials[0] if credentials is not None else None
        return None

    def authenticate(self, request: TokenRequest) -> RegisteredClient:
        """The client whose id and secret the Basic header holds.

        Raises:
            OAuthError: ``invalid_client`` for undecodable credentials, a form
                ``client_id`` naming another client, or a wrong id or secret.
        """
        credentials = basic_credentials(request.headers)
        if credentials is None:  # pragma: no cover - used_by() said it was there
            raise invalid_client("no Basic credentials")
        client_id, secret = credentials
        if request.form.get("client_id", client_id) != client_id:
            raise invalid_client("client_id in the form differs from the Basic credentials")
        return _check_secret(self._clients, client_id, secret)


class ClientSecretPost:
    """``client_secret_post``: ``client_id`` and ``client_secret`` in the form body."""

    name = "client_secret_post"
    signing_algorithms: Sequence[str] = ()

    def __init__(self, clients: ClientRegistry) -> None:
        self._clients = clients

    def used_by(self, request: TokenRequest) -> bool:
        """Whether the form has a ``client_secret``."""
        return "client_secret" in request.form

    def claimed_client_id(self, request: TokenRequest) -> str | None:
        """The form's ``client_id``."""
        return request.form.get("client_id")

    def authenticate(self, request: TokenRequest) -> RegisteredClient:
        """The client whose id and secret the form holds.

        Raises:
            OAuthError: ``invalid_client`` for a wrong id or secret.
        """
        return _check_secret(
            self._clients, request.form.get("client_id", ""), request.form["client_secret"]
        )
