"""What every demo run builds the same way: the token client and the source stack."""

from __future__ import annotations

import httpx

from .._errors import ConfigError
from ..sources import ClientCredentials
from ..testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from ._load import TokenRequestCounter

__all__ = [
    "BUFFER_FRACTION",
    "SCOPE",
    "credentials",
    "ensure_open_files",
    "token_client",
    "usable_lifetime",
]

SCOPE = "read:messages"
# buffer() refreshes at half-life: under a thousand concurrent clients a
# request can spend a second or more in queues after its token was attached,
# so tokens handed out during a refresh must still have seconds to live.
BUFFER_FRACTION = 0.5


def usable_lifetime(lifetime: float) -> float:
    """How long a token is used before buffer() has it refreshed (jitter aside)."""
    return lifetime - min(lifetime * BUFFER_FRACTION, lifetime / 2)


def token_client(counter: TokenRequestCounter, connections: int) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for token requests that counts every one it sends."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        limits=limits, timeout=30.0, trust_env=False, event_hooks={"request": [counter]}
    )


def credentials(token_url: str, http: httpx.AsyncClient) -> ClientCredentials:
    """The demo client's ``ClientCredentials`` source for ``token_url``."""
    return ClientCredentials(token_url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, scopes=SCOPE, http=http)


def ensure_open_files(needed: int) -> None:
    """Raise this process's open-file limit to at least ``needed`` if the hard limit allows.

    Child processes inherit the raised limit. macOS starts shells at 256,
    fewer than a thousand clients with a connection each need.

    Raises:
        ConfigError: the hard limit is lower than ``needed``.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows has no such limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ConfigError(
            f"{needed} open files are needed but the limit is {hard} (see `ulimit -n`); "
            "use fewer --tasks"
        )
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    except (ValueError, OSError):
        raise ConfigError(
            f"{needed} open files are needed but the limit is {soft} and cannot be raised "
            "(see `ulimit -n`); use fewer --tasks"
        ) from None
