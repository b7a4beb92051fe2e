"""Client authentication with a client secret: HTTP Basic or the form (RFC 6749 §2.3.1)."""

from __future__ import annotations

import enum
from urllib.parse import quote_plus

from .._errors import ConfigError
from .._identity import credential_digest
from .._wire import basic_authorization
from ._client_auth import ClientAuth, Credentials, check_client_id

__all__ = ["AuthStyle", "SecretAuth", "SecretBasicAuth", "SecretPostAuth"]


class AuthStyle(enum.Enum):
    """How the client id and secret are sent to the token endpoint.

    Attributes:
        HEADER: HTTP Basic authentication (``client_secret_basic``), with id
            and secret form-urlencoded first (RFC 6749 §2.3.1).
        BODY: ``client_id`` and ``client_secret`` in the form
            (``client_secret_post``).
        AUTO: try ``HEADER``; if the endpoint answers ``invalid_client`` or
            401, try ``BODY``. What worked is remembered per token URL and
            client id for the life of the process; when both are refused,
            the other style is not tried again for a few minutes with the
            same secret.
    """

    HEADER = "header"
    BODY = "body"
    AUTO = "auto"


class SecretAuth(ClientAuth):
    """What the client-secret methods share: the secret, its checks, its cache key."""

    __slots__ = ("_secret",)

    client_id: str

    def __init__(self, client_id: str, client_secret: str) -> None:
        super().__init__(check_client_id(client_id))
        if not isinstance(client_secret, str) or not client_secret:
            raise ConfigError("client_secret must be a non-empty string")
        self._secret = client_secret

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self.client_id!r})"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret, and the ``id:secret`` pair Basic encodes (as sent, and as it is)."""
        client_id = self.client_id
        return (
            self._secret,
            f"{quote_plus(client_id)}:{quote_plus(self._secret)}",
            f"{client_id}:{self._secret}",
        )

    def cache_key(self) -> tuple[str, str]:
        """``client_secret`` and a digest of id and secret.

        Basic and the form send the same credential for the same token, so
        they share one name: sources differing only in the style share tokens.
        """
        return "client_secret", credential_digest(self.client_id, self._secret)


class SecretBasicAuth(SecretAuth):
    """``client_secret_basic``: HTTP Basic with the form-urlencoded id and secret."""

    __slots__ = ()

    method = "client_secret_basic"

    async def credentials(self, token_url: str) -> Credentials:
        """An ``Authorization: Basic`` header."""
        header = basic_authorization(self.client_id, self._secret)
        return Credentials(headers={"Authorization": header}, secrets=self.secrets)


class SecretPostAuth(SecretAuth):
    """``client_secret_post``: ``client_id`` and ``client_secret`` in the form."""

    __slots__ = ()

    method = "client_secret_post"

    async def credentials(self, token_url: str) -> Credentials:
        """The two form fields."""
        form = {"client_id": self.client_id, "client_secret": self._secret}
        return Credentials(form=form, secrets=self.secrets)
