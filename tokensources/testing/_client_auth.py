"""Client authentication at the token endpoint: exactly one method per request.

Each method of the IANA "OAuth Token Endpoint Authentication Methods"
registry the server supports is one ``ClientAuthMethod`` (``_secret_auth``,
``_assertion_auth``); the ``ClientAuthenticator`` finds which one a request
uses and lets it decide. Every grant authenticates its client through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ._clients import RegisteredClient
from ._oauth_errors import OAuthError, invalid_client
from ._token_request import TokenRequest

__all__ = ["ClientAuthMethod", "ClientAuthenticator"]


class ClientAuthMethod(Protocol):
    """One way a client proves who it is at the token endpoint."""

    @property
    def name(self) -> str:
        """The method's registered name, e.g. ``client_secret_basic``."""
        ...

    @property
    def signing_algorithms(self) -> Sequence[str]:
        """The JWS algorithms its assertions may use; empty when it takes none."""
        ...

    def used_by(self, request: TokenRequest) -> bool:
        """Whether ``request`` carries this method's credentials (looked at, not checked)."""
        ...

    def claimed_client_id(self, request: TokenRequest) -> str | None:
        """The client id the credentials claim, before any check; None if unreadable."""
        ...

    def authenticate(self, request: TokenRequest) -> RegisteredClient:
        """The client the credentials prove, for a request this method is used by.

        Raises:
            OAuthError: ``invalid_client`` when the credentials do not prove a
                registered client, ``invalid_request`` when they are incomplete.
        """
        ...


class ClientAuthenticator:
    """Authenticates token requests with the first of its methods the request uses.

    A request must use exactly one method (RFC 6749 §2.3: "MUST NOT use more
    than one authentication method in each request").

    Args:
        methods: the supported methods, in the order the metadata lists them.
    """

    def __init__(self, methods: Sequence[ClientAuthMethod]) -> None:
        self._methods = tuple(methods)

    @property
    def method_names(self) -> list[str]:
        """The supported methods' names (``token_endpoint_auth_methods_supported``)."""
        return [method.name for method in self._methods]

    @property
    def signing_algorithms(self) -> list[str]:
        """The assertion algorithms any method accepts, without repeats."""
        names = (alg for method in self._methods for alg in method.signing_algorithms)
        return list(dict.fromkeys(names))

    def claimed_client_id(self, request: TokenRequest) -> str | None:
        """The client id a request claims, before any check (for counting).

        The first id found by a method the request uses, in method order;
        else the form's ``client_id``.
        """
        for method in self._methods:
            claimed = method.claimed_client_id(request) if method.used_by(request) else None
            if claimed is not None:
                return claimed
        return request.form.get("client_id")

    def method_used(self, request: TokenRequest) -> str | None:
        """The name of the method a request uses (looked at, not checked); None for none.

        A request using several (which ``authenticate`` refuses) is named by
        the methods joined with ``+``.
        """
        used = [method.name for method in self._methods if method.used_by(request)]
        return "+".join(used) if used else None

    def authenticate(self, request: TokenRequest) -> RegisteredClient:
        """The authenticated client of a token request.

        Raises:
            OAuthError: ``invalid_request`` when more than one method is used,
                ``invalid_client`` when none is or authentication fails.
        """
        used = [method for method in self._methods if method.used_by(request)]
        if len(used) > 1:
            raise OAuthError("invalid_request", "use exactly one client authentication method")
        if not used:
            raise invalid_client("no client authentication was included")
        return used[0].authenticate(request)
