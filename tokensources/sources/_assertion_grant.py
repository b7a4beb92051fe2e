"""What the sources that sign their own client assertion share: their settings, and the issuer.

``PrivateKeyJWT`` and ``ClientSecretJWT`` are the client_credentials grant
with a ``SignedAssertionAuth``; this base gives both the read-only views of
the assertion settings and makes ``from_issuer()`` supply the discovered
issuer identifier, so that ``assertion_audience="issuer"`` needs nothing
more (RFC 7523bis §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._assertion import SignedAssertionAuth
from ._client_auth import check_method_supported
from ._grant import ClientCredentialsGrant

__all__ = ["AssertionGrant"]


class AssertionGrant(ClientCredentialsGrant):
    """The client_credentials grant authenticated by a JWT the source signs itself."""

    _client: SignedAssertionAuth
    # The method the endpoint must support (the metadata's list, when it has one).
    auth_method: ClassVar[str] = "private_key_jwt"

    @classmethod
    def _settings_from_metadata(cls, metadata: Mapping[str, Any], kwargs: dict[str, Any]) -> Any:
        """The token endpoint; and the issuer identifier as ``issuer=``, unless given.

        Raises:
            ConfigError: the metadata lists authentication methods without this one.
        """
        check_method_supported(metadata, (cls.auth_method,))
        issuer = metadata.get("issuer")
        if isinstance(issuer, str) and issuer:
            kwargs.setdefault("issuer", issuer)
        return super()._settings_from_metadata(metadata, kwargs)

    @property
    def assertion_audience(self) -> str | list[str]:
        """The assertions' ``aud``: ``assertion_audience``, or the token URL by default.

        ``"issuer"`` has already been replaced by the issuer identifier.
        """
        audience = self._client.audience
        return audience if audience is not None else self.token_url

    @property
    def assertion_lifetime(self) -> float:
        """Seconds from an assertion's issue to its ``exp``."""
        return self._client.lifetime

    @property
    def assertion_headers(self) -> Mapping[str, str]:
        """The extra JWS header members of every assertion, ``typ`` included (read-only)."""
        return self._client.headers

    def assertion_claims(self) -> dict[str, Any]:
        """The claims of a new client assertion, with a fresh ``jti`` (RFC 7523 §3).

        NumericDates are whole seconds: ``iat`` and ``nbf`` a few seconds
        before now, ``exp`` ``assertion_lifetime`` seconds after now.
        """
        return self._client.claims(self.token_url)
