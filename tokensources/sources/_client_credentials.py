"""ClientCredentials: the client_credentials grant with a client secret."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Mapping

import httpx

from .._errors import ConfigError, TokenEndpointError, TokenRequestError, TokenResponseError
from .._source import Clock
from .._wire import RawResponse, basic_authorization, parse_token_response
from ._grant import ClientCredentialsGrant, credential_digest

__all__ = ["AuthStyle", "ClientCredentials"]


class AuthStyle(enum.Enum):
    """How the client id and secret are sent to the token endpoint.

    Attributes:
        HEADER: HTTP Basic authentication (``client_secret_basic``), with id
            and secret form-urlencoded first (RFC 6749 §2.3.1).
        BODY: ``client_id`` and ``client_secret`` in the form
            (``client_secret_post``).
        AUTO: try ``HEADER``; if the endpoint answers ``invalid_client`` or
            401, try ``BODY``. What worked is remembered per token URL and
            client id for the life of the process.
    """

    HEADER = "header"
    BODY = "body"
    AUTO = "auto"


# What AUTO learned, per (token URL, client id). Process-wide on purpose: every
# source for the same client would otherwise pay the failed probe again.
_learned_styles: dict[tuple[str, str], AuthStyle] = {}


def forget_learned_auth_styles() -> None:
    """Forget what ``AuthStyle.AUTO`` has learned (for tests)."""
    _learned_styles.clear()


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

    Raises:
        ConfigError: an argument is not acceptable (the message names it).
    """

    auth_method = "client_secret"

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
    ) -> None:
        super().__init__(
            token_url,
            client_id,
            scopes=scopes,
            audience=audience,
            params=params,
            http=http,
            clock=clock,
            allow_insecure_http=allow_insecure_http,
        )
        if not isinstance(client_secret, str) or not client_secret:
            raise ConfigError("client_secret must be a non-empty string")
        if not isinstance(auth_style, AuthStyle):
            raise ConfigError("auth_style must be an AuthStyle")
        self._client_secret = client_secret
        self.auth_style = auth_style

    def _secrets(self) -> tuple[str, ...]:
        return (self._client_secret,)

    def _credential_digest(self) -> str:
        return credential_digest(self.client_id, self._client_secret)

    async def _send(self, form: dict[str, str]) -> RawResponse:
        if self.auth_style is not AuthStyle.AUTO:
            return await self._send_with(self.auth_style, form)
        key = (self.token_url, self.client_id)
        first = _learned_styles.get(key, AuthStyle.HEADER)
        raw = await self._send_with(first, form)
        if not self._client_refused(raw):
            if 200 <= raw.status_code < 300:
                _learned_styles[key] = first
            return raw
        refused = self._endpoint_error(raw)
        second = AuthStyle.BODY if first is AuthStyle.HEADER else AuthStyle.HEADER
        try:
            retry = await self._send_with(second, form)
        except TokenRequestError as exc:
            raise TokenRequestError(
                f"{exc}, after the {first.value} style was refused ({refused})",
                url=exc.url,
                reason=exc.reason,
                previous=refused,
            ) from None
        if 200 <= retry.status_code < 300 and not self._client_refused(retry):
            # Only a style that actually worked is learned (golang/oauth2 #803).
            _learned_styles[key] = second
            return retry
        raise self._both_failed(first, refused, second, self._endpoint_error(retry))

    async def _send_with(self, style: AuthStyle, form: dict[str, str]) -> RawResponse:
        headers = {"Accept": "application/json"}
        form = dict(form)
        if style is AuthStyle.HEADER:
            headers["Authorization"] = basic_authorization(self.client_id, self._client_secret)
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = self._client_secret
        return await self._http.request("POST", self.token_url, data=form, headers=headers)

    def _client_refused(self, raw: RawResponse) -> bool:
        """Whether an answer means "wrong client authentication" — worth the other style.

        Only a 401 or an ``invalid_client`` error count: probing after a 5xx
        or a network error would double the load on an endpoint that is
        already failing.
        """
        if raw.status_code == 401:
            return True
        if raw.status_code in (200, 400, 403):
            return self._endpoint_error(raw).error == "invalid_client"
        return False

    def _endpoint_error(self, raw: RawResponse) -> TokenEndpointError:
        """The error an answer stands for (a plain HTTP error when its body is not OAuth's)."""
        try:
            parse_token_response(raw, secrets=self._secrets())
        except TokenEndpointError as exc:
            return exc
        except TokenResponseError:
            pass
        return TokenEndpointError(
            f"token endpoint answered {raw.status_code}", status_code=raw.status_code
        )

    @staticmethod
    def _both_failed(
        first: AuthStyle,
        error1: TokenEndpointError,
        second: AuthStyle,
        error2: TokenEndpointError,
    ) -> TokenEndpointError:
        """One error carrying both answers; its classification is the second's."""
        if error2.error == "invalid_client" or error2.status_code == 401:
            summary = "the token endpoint refused both client authentication styles"
        else:
            summary = f"the token endpoint refused the {first.value} style, then failed"
        return TokenEndpointError(
            f"{summary}: {first.value}: {error1}; {second.value}: {error2}",
            status_code=error2.status_code,
            error=error2.error,
            error_description=error2.error_description,
            error_uri=error2.error_uri,
            retry_after=error2.retry_after,
            body_excerpt=error2.body_excerpt,
            url=error2.url,
            previous=error1,
        )
