"""ClientCredentials: the client_credentials grant with a client secret."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import httpx

from .._errors import ConfigError
from .._source import Clock
from ._auto_style import AutoSecretAuth, forget_learned_auth_styles
from ._dpop_key import DPoPKey
from ._grant import ClientCredentialsGrant
from ._secret_auth import AuthStyle, SecretAuth, SecretBasicAuth, SecretPostAuth

__all__ = ["AuthStyle", "ClientCredentials", "forget_learned_auth_styles"]


class ClientCredentials(ClientCredentialsGrant):
    """A token source for the client_credentials grant with a client secret (RFC 6749 §4.4).

    Each ``token()`` call requests a new token; wrap it in ``reuse()`` (and
    usually ``buffer()`` and ``retry()``) to cache and refresh.

    Args:
        token_url: the token endpoint. Plain ``http://`` is refused unless
            the host is loopback or ``allow_insecure_http=True``.
        client_id: the client identifier.
        client_secret: the client secret. Never printed, logged or put in
            an error message.
        scopes: scopes to request (a list, or one space-separated string).
        audience: shortcut for ``params={"audience": ...}`` (Auth0 and others).
        params: extra form fields (``resource``, ...). ``grant_type`` may be
            overridden here; ``client_id``, ``client_secret``, the assertion
            fields and ``scope`` may not.
        auth_style: how to authenticate (see ``AuthStyle``); default ``AUTO``.
        http: an ``httpx.AsyncClient`` for token requests (proxies, TLS,
            timeouts). It is not closed by ``aclose()``; a client the
            source creates itself is.
        clock: wall-clock time, for expiry.
        allow_insecure_http: permit ``http://`` to non-loopback hosts.
        dpop: a ``DPoPKey`` to bind the tokens to (RFC 9449, see the DPoP
            page); every token request then carries a fresh proof.

    Raises:
        ConfigError: an argument is not acceptable (the message names it).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scopes: Iterable[str] | str = (),
        audience: str | None = None,
        params: Mapping[str, str] | None = None,
        auth_style: AuthStyle = AuthStyle.AUTO,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        allow_insecure_http: bool = False,
        dpop: DPoPKey | None = None,
    ) -> None:
        super().__init__(
            token_url,
            _secret_auth(client_id, client_secret, auth_style, clock),
            scopes=scopes,
            audience=audience,
            params=params,
            http=http,
            clock=clock,
            allow_insecure_http=allow_insecure_http,
            dpop=dpop,
        )
        self.auth_style = auth_style


def _secret_auth(
    client_id: str, client_secret: str, auth_style: AuthStyle, clock: Clock
) -> SecretAuth:
    """The client authentication ``auth_style`` stands for."""
    if auth_style is AuthStyle.AUTO:
        return AutoSecretAuth(client_id, client_secret, clock=clock)
    if auth_style is AuthStyle.HEADER:
        return SecretBasicAuth(client_id, client_secret)
    if auth_style is AuthStyle.BODY:
        return SecretPostAuth(client_id, client_secret)
    raise ConfigError("auth_style must be an AuthStyle")
