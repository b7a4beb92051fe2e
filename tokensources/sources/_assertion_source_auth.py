"""Client authentication with an assertion someone else issued (federated workload identity).

The ``client_assertion`` is a JWT from another issuer — a Kubernetes
service-account token, a GitHub Actions ID token, a SPIFFE JWT-SVID, a
token a sibling service hands out — taken from a ``TokenSource`` afresh for
every token request, so a file the platform rotates is always read as it is
now. An assertion past its own ``exp`` is never sent: the source is asked
once more (after ``invalidate``), and if it still has nothing current the
request is not made. When the endpoint refuses the client
(``invalid_client``), the assertion is invalidated, so the next attempt
reads a new one instead of sending the refused one again.
"""

from __future__ import annotations

import json

from .._errors import ConfigError, TokenExpiredError
from .._identity import credential_digest
from .._source import Clock, TokenSource
from .._token import Token
from .._wire import TokenAnswer
from ._assertion import CLIENT_ASSERTION_TYPE
from ._client_auth import Attempt, ClientAuth, Credentials, check_client_id
from ._jwt_claims import claims_expiry, jwt_shape, unverified_claims
from ._subject import check_source, read_subject, subject_identity

__all__ = ["AssertionSourceAuth"]

_WHAT = "client assertion"


class AssertionSourceAuth(ClientAuth):
    """Authenticates with a JWT read from ``assertion`` for each request (RFC 7521 §4.2).

    The endpoint sees ``private_key_jwt``: a ``client_assertion`` of the
    jwt-bearer type, here signed by the external issuer the client trusts.
    """

    __slots__ = ("_clock", "assertion")

    method = "private_key_jwt"
    client_id: str

    def __init__(self, client_id: str, assertion: TokenSource, *, clock: Clock) -> None:
        super().__init__(check_client_id(client_id))
        self.assertion = check_source(assertion, "assertion")
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"AssertionSourceAuth(client_id={self.client_id!r}, "
            f"assertion={type(self.assertion).__name__})"
        )

    async def current(self) -> Token:
        """The assertion to send now: a JWT that has not expired.

        Concurrency and cancellation: as the assertion source's ``token()``.

        Raises:
            ConfigError: the source gave something that is not a JWT.
            TokenExpiredError: even after ``invalidate``, the source's
                assertion has expired; nothing was sent.
            TokenSourceError: the source failed (see ``read_subject``).
        """
        token = await self._read()
        if not self._expired(token):
            return token
        # A cache above the source may hold it still: drop it, ask once more.
        self.assertion.invalidate(token)
        token = await self._read()
        if self._expired(token):
            raise TokenExpiredError(
                f"the client assertion {token.fingerprint} has expired (its exp has passed) "
                "and its source has no newer one; it was not sent"
            )
        return token

    async def _read(self) -> Token:
        token = await read_subject(self.assertion, _WHAT, self._clock)
        if jwt_shape(token.access_token) != "complete":
            raise ConfigError(
                f"the client assertion source {type(self.assertion).__name__} gave a token "
                f"({token.fingerprint}) that is not a JWT; client_assertion must be a JWT"
            )
        return token

    def _expired(self, token: Token) -> bool:
        now = self._clock()
        exp = claims_expiry(unverified_claims(token.access_token) or {})
        return token.expired(now) or (exp is not None and now >= exp)

    @staticmethod
    def _credentials(client_id: str, token: Token) -> Credentials:
        assertion = token.access_token
        form = {
            # Entra ID and Keycloak want client_id with a federated assertion.
            "client_id": client_id,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        return Credentials(form=form, secrets=(assertion, assertion.rsplit(".", 1)[-1]))

    async def credentials(self, token_url: str) -> Credentials:
        """``client_id``, ``client_assertion_type`` and the current assertion."""
        return self._credentials(self.client_id, await self.current())

    async def authenticate(self, attempt: Attempt, token_url: str) -> TokenAnswer:
        """One request with the current assertion; a refusal invalidates that assertion.

        Concurrency and cancellation: as ``attempt`` and the assertion
        source; one request. Cancelling abandons it, and invalidates nothing.
        """
        token = await self.current()
        answer = await attempt(self._credentials(self.client_id, token))
        if self.refused(answer):
            self.assertion.invalidate(token)
        return answer

    def cache_key(self) -> tuple[str, str]:
        """``client_assertion`` and a digest of whose assertions they are (never their value).

        The ``iss`` and ``sub`` of the assertions (``subject_claims()`` of
        the source), else the source's ``cache_identity``: replicas of one
        workload share tokens, two workloads never do.

        Raises:
            ConfigError: the source can say neither (pass ``key=`` to the shared cache).
        """
        named = subject_identity(self.assertion, _WHAT)
        return "client_assertion", credential_digest(json.dumps(named, sort_keys=True))
