"""ClientAssertion: the client_credentials grant authenticated by another issuer's JWT."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from .._source import Clock, TokenSource
from ._assertion_source_auth import AssertionSourceAuth
from ._client_auth import check_method_supported
from ._dpop_key import DPoPKey
from ._grant import ClientCredentialsGrant

__all__ = ["ClientAssertion"]


class ClientAssertion(ClientCredentialsGrant):
    """A token source for the client_credentials grant with a federated client assertion.

    The client holds no secret and no key: it proves who it is with a JWT
    another issuer gave it — a Kubernetes projected service-account token,
    a GitHub Actions ID token, a SPIFFE JWT-SVID — sent as the
    ``client_assertion`` (RFC 7521 §4.2, jwt-bearer type) along with
    ``client_id``. This is Entra ID's workload identity federation,
    Keycloak's federated client authentication and MCP's assertion provider.

    Guarantees:

    1. **Fresh for every request.** ``assertion`` is asked for its token on
       every token request, so a file its platform rotates
       (``FileToken``) is always sent as it is now.
    2. **Never past its own expiry.** An assertion whose ``exp`` (or the
       token's ``expires_at``) has passed is not sent: the assertion source
       is invalidated and asked once more, and if it has nothing current
       ``token()`` raises ``TokenExpiredError`` without a request.
    3. **A refused assertion is let go.** When the endpoint answers
       ``invalid_client`` (or 401), the assertion is invalidated at its
       source, so the next attempt (``retry()``, the next ``token()``)
       reads a new one rather than sending the refused one again.

    Each ``token()`` call requests a new token; wrap it in ``reuse()`` (and
    usually ``buffer()`` and ``retry()``) to cache and refresh.

    Args:
        token_url: the token endpoint. Plain ``http://`` is refused unless
            the host is loopback or ``allow_insecure_http=True``.
        client_id: the client identifier registered to trust the assertion's issuer.
        assertion: any ``TokenSource`` whose ``access_token`` is the JWT:
            ``FileToken(path)``, ``GitHubActionsOIDC(audience=...)``,
            ``SignedAssertion(...)``, ``External(...)``.
        scopes: scopes to request (a list, or one space-separated string).
            Entra ID wants ``<resource>/.default``.
        audience: the token's audience, sent as the ``audience`` form field.
        params: extra form fields (``resource``, ...). ``client_id``, the
            assertion fields and ``scope`` may not be set here.
        http: an ``httpx.AsyncClient`` for token requests. It is not closed
            by ``aclose()``; a client the source creates itself is.
        clock: wall-clock time, for the assertion's expiry and the token's.
        allow_insecure_http: permit ``http://`` to non-loopback hosts.
        dpop: a ``DPoPKey`` to bind the tokens to (RFC 9449, see the DPoP
            page); every token request then carries a fresh proof.

    Raises:
        ConfigError: an argument is not acceptable; at ``token()``, an
            assertion that is not a JWT.
    """

    _client: AssertionSourceAuth

    def __init__(
        self,
        token_url: str,
        client_id: str,
        assertion: TokenSource,
        *,
        scopes: Iterable[str] | str = (),
        audience: str | None = None,
        params: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        allow_insecure_http: bool = False,
        dpop: DPoPKey | None = None,
    ) -> None:
        super().__init__(
            token_url,
            AssertionSourceAuth(client_id, assertion, clock=clock),
            scopes=scopes,
            audience=audience,
            params=params,
            http=http,
            clock=clock,
            allow_insecure_http=allow_insecure_http,
            dpop=dpop,
        )

    @classmethod
    def _settings_from_metadata(cls, metadata: Mapping[str, Any], kwargs: dict[str, Any]) -> Any:
        """The token endpoint, once the metadata (if it lists methods) allows assertions.

        Raises:
            ConfigError: the metadata lists authentication methods, not ``private_key_jwt``.
        """
        check_method_supported(metadata, ("private_key_jwt",))
        return super()._settings_from_metadata(metadata, kwargs)

    @property
    def assertion(self) -> TokenSource:
        """The source of the client assertions."""
        return self._client.assertion
