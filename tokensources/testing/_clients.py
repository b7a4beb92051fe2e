"""The clients an issuer knows: their credentials and what each may ask for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from ._federation import FederatedTrust
from ._public_keys import ClientKey, load_jwks

if TYPE_CHECKING:
    from ._tls import TlsRegistration

__all__ = [
    "DEFAULT_SCOPES",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "ClientKey",
    "ClientRegistry",
    "RegisteredClient",
    "load_jwks",
]

DEFAULT_SCOPES = ("read:messages", "write:messages")
# The client every issuer has unless told otherwise: a well-known test secret.
DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """A client the server knows: its credentials and what it may ask for.

    Attributes:
        client_id: the client id.
        secret: the client secret, or None for a client that signs assertions only.
        keys: the public keys that verify its assertions.
        scopes: the scopes it may request (all of them when it requests none).
        audiences: the audiences it may request; None allows only the issuer's audience.
        token_lifetime: seconds its tokens live; None uses the issuer's.
        federation: the external issuer whose assertions authenticate it, or None.
        tls: how its client certificate is recognised (mutual TLS), or None.
        bound_to: the ``x5t#S256`` of the certificate this request presented,
            which its token is bound to (set per request, never registered).
    """

    client_id: str
    secret: str | None
    keys: tuple[ClientKey, ...]
    scopes: tuple[str, ...]
    audiences: tuple[str, ...] | None
    token_lifetime: float | None
    federation: FederatedTrust | None = None
    tls: TlsRegistration | None = None
    bound_to: str | None = None

    def __repr__(self) -> str:
        # Never the secret: a registered client may end up in a test's failure output.
        return f"RegisteredClient(client_id={self.client_id!r}, scopes={self.scopes!r})"

    def lifetime_or(self, default: float) -> float:
        """Seconds this client's tokens live: its own lifetime, else ``default``."""
        return self.token_lifetime if self.token_lifetime is not None else default


class ClientRegistry:
    """The registered clients of one issuer, by client id.

    Registering replaces a client of the same id at once; requests being
    answered at that moment see either the old or the new registration.
    """

    def __init__(self) -> None:
        self._clients: dict[str, RegisteredClient] = {}

    def register(
        self,
        client_id: str,
        secret: str | None = None,
        *,
        jwks: Mapping[str, Any] | None = None,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        audiences: Iterable[str] | None = None,
        token_lifetime: float | None = None,
        federation: FederatedTrust | None = None,
        tls: TlsRegistration | None = None,
    ) -> RegisteredClient:
        """Register (or replace) a client and return its registration.

        Raises:
            ConfigError: no credential, an empty id or secret, or unusable keys.
        """
        if not isinstance(client_id, str) or not client_id:
            raise ConfigError("client_id must be a non-empty string")
        if secret is None and jwks is None and federation is None and tls is None:
            raise ConfigError("a client needs a secret, a jwks, or both")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ConfigError("secret must be a non-empty string")
        scope_list = (scopes,) if isinstance(scopes, str) else tuple(scopes)
        audience_list = (audiences,) if isinstance(audiences, str) else audiences
        client = RegisteredClient(
            client_id=client_id,
            secret=secret,
            keys=load_jwks(jwks) if jwks is not None else (),
            scopes=scope_list,
            audiences=tuple(audience_list) if audience_list is not None else None,
            token_lifetime=token_lifetime,
            federation=federation,
            tls=tls,
        )
        self._clients[client_id] = client
        return client

    def get(self, client_id: str) -> RegisteredClient | None:
        """The client registered under ``client_id``, or None."""
        return self._clients.get(client_id)

    def all(self) -> list[RegisteredClient]:
        """Every registered client, sorted by id."""
        clients = dict(self._clients)
        return [clients[client_id] for client_id in sorted(clients)]

    def ids(self) -> list[str]:
        """The registered client ids, sorted."""
        return sorted(self._clients)

    def scopes(self) -> list[str]:
        """Every scope some client may request, sorted (the metadata's ``scopes_supported``)."""
        return sorted(
            {scope for client in tuple(self._clients.values()) for scope in client.scopes}
        )
