"""What the grants that present a token (token exchange, JWT bearer) share.

Reading the presented token from its source (afresh for every exchange,
refused before sending when it has expired), naming whose token it is for
shared-cache identities (its ``iss`` and ``sub``, never its value), and
borrowing the client authentication of another grant source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import ConfigError, TokenExpiredError, TokenRequestError, TokenSourceError
from .._identity import shared_identity
from .._source import Clock, TokenSource
from .._token import Token
from ._client_auth import ClientAuth
from ._grant import Grant

__all__ = ["borrowed_client", "check_source", "read_subject", "subject_identity"]

# Wrappers (reuse, buffer, retry) expose the source they wrap as `.source`.
_MAX_UNWRAP = 16


def check_source(source: object, name: str) -> TokenSource:
    """``source`` if it is a token source.

    Raises:
        ConfigError: it is not.
    """
    if not isinstance(source, TokenSource):
        raise ConfigError(f"{name} must be a token source (with token() and invalidate())")
    return source


async def read_subject(source: TokenSource, what: str, clock: Clock) -> Token:
    """The token ``source`` gives now, checked not to have expired.

    Concurrency and cancellation: as ``source.token()``; cancellation
    passes through untouched.

    Raises:
        TokenRequestError: the source failed transiently, or with an
            exception that is not a ``TokenSourceError`` (kept as the cause).
        TokenSourceError: the source's own definitive error, unchanged.
        TokenExpiredError: the token it gave has already expired; it is
            not sent.
    """
    try:
        token = await source.token()
    except TokenSourceError as exc:
        if not exc.transient:
            raise
        raise TokenRequestError(
            f"the {what} source failed: {exc}", reason=type(exc).__name__
        ) from exc
    except Exception as exc:
        # Only Exception: cancellation (a BaseException) must pass untouched.
        raise TokenRequestError(
            f"the {what} source raised {type(exc).__name__}; see the cause",
            reason=type(exc).__name__,
        ) from exc
    if token.expired(clock()):
        raise TokenExpiredError(
            f"the {what} token {token.fingerprint} expired at {token.expires_at:.0f}; "
            "it was not sent"
        )
    return token


def subject_identity(source: TokenSource, what: str) -> Mapping[str, Any]:
    """Whose token ``source`` gives, for a shared-cache identity; never the token itself.

    The ``subject_claims()`` of the source (or of the first source it
    wraps): the ``iss`` and ``sub`` of a workload token, so that the
    replicas of one workload share an exchanged token and two workloads
    never do. Failing that, the source's ``cache_identity``.

    Raises:
        ConfigError: the source can say neither.
    """
    current: object = source
    for _ in range(_MAX_UNWRAP):
        claims = getattr(current, "subject_claims", None)
        if callable(claims):
            return {"claims": dict(claims())}
        current = getattr(current, "source", None)
        if current is None:
            break
    try:
        return {"identity": shared_identity(source, None)}
    except ConfigError:
        raise ConfigError(
            f"the {what} source {type(source).__name__} cannot say whose tokens it gives "
            "(no subject_claims() or cache_identity); pass key= to the shared cache"
        ) from None


def borrowed_client(client: Grant | ClientAuth | None) -> ClientAuth | None:
    """The client authentication ``client`` stands for: its own, or a grant source's.

    Raises:
        ConfigError: ``client`` is neither.
    """
    if client is None or isinstance(client, ClientAuth):
        return client
    if isinstance(client, Grant):
        return client.client_auth
    raise ConfigError(
        "client must be a client-credentials source (ClientCredentials, PrivateKeyJWT, ...), "
        "a ClientAuth, or None"
    )
