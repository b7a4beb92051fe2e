"""No client authentication (``none``) for the grants whose presented token is the proof.

RFC 8693 §2.1 and RFC 7523 §3.1 let a token exchange or a JWT-bearer
request authenticate no client: the subject token or assertion says who
asks (Google's STS works so). A request of those grants that carries no
client credentials at all is a public client's: the ``client_id`` it names,
if any, must not be a registered confidential client (which must
authenticate), and it may ask for the issuer's audience or one its
workload issuer accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from ._clients import DEFAULT_SCOPES, ClientRegistry, RegisteredClient
from ._oauth_errors import invalid_client
from ._token_request import TokenRequest

__all__ = ["PUBLIC_CLIENT_ID", "NoClientAuthentication"]

# The client id a public request that names none is counted and issued under.
PUBLIC_CLIENT_ID = "public"
_CREDENTIAL_FIELDS = ("client_secret", "client_assertion", "client_assertion_type")


class NoClientAuthentication:
    """The ``none`` method, for the grants in ``grant_types`` only.

    Args:
        clients: the registered clients (a confidential one may not go unauthenticated).
        grant_types: the grants that may be used without client authentication.
        audiences: the token audiences a public client may ask for, asked per request.
    """

    name = "none"
    signing_algorithms: Sequence[str] = ()

    def __init__(
        self,
        clients: ClientRegistry,
        *,
        grant_types: Collection[str],
        audiences: Callable[[], Collection[str]],
    ) -> None:
        self._clients = clients
        self._grant_types = frozenset(grant_types)
        self._audiences = audiences

    def used_by(self, request: TokenRequest) -> bool:
        """Whether ``request`` is one of those grants, carries no credentials, names no client.

        A registered client (with a secret, keys, a certificate or a
        federation) is not public: its requests belong to its own method.
        """
        form = request.form
        client_id = form.get("client_id")
        return (
            form.get("grant_type") in self._grant_types
            and "authorization" not in request.headers
            and not any(name in form for name in _CREDENTIAL_FIELDS)
            and (client_id is None or self._clients.get(client_id) is None)
        )

    def claimed_client_id(self, request: TokenRequest) -> str | None:
        """The ``client_id`` of the form, if any."""
        return request.form.get("client_id")

    def authenticate(self, request: TokenRequest) -> RegisteredClient:
        """The public client the request names (or an anonymous one).

        Raises:
            OAuthError: ``invalid_client`` for a registered client that has
                credentials and did not use them.
        """
        client_id = request.form.get("client_id") or PUBLIC_CLIENT_ID
        if self._clients.get(client_id) is not None:
            raise invalid_client("this client is confidential and must authenticate")
        return RegisteredClient(
            client_id=client_id,
            secret=None,
            keys=(),
            scopes=DEFAULT_SCOPES,
            audiences=tuple(self._audiences()),
            token_lifetime=None,
        )
