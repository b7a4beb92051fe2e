"""GitHubActionsOIDC: the ID token of a GitHub Actions job (``id-token: write``)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

import httpx

from .._closing import AsyncClosing
from .._errors import ConfigError, TokenResponseError
from .._http import HttpClient, check_endpoint_url
from .._redact import safe_url
from .._source import Clock
from .._token import Token
from .._wire import json_object, parse_token_response
from ._jwt_claims import claims_expiry, unverified_claims

__all__ = ["GitHubActionsOIDC"]

URL_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_URL"
TOKEN_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_JOB_VARIABLES = ("GITHUB_REPOSITORY", "GITHUB_REF", "GITHUB_WORKFLOW_REF")


class GitHubActionsOIDC(AsyncClosing):
    """A token source for the OIDC ID token of the GitHub Actions job it runs in.

    A job whose workflow grants ``permissions: id-token: write`` can ask
    GitHub for a short-lived JWT naming its repository, ref and workflow
    (``sub`` = ``repo:<owner>/<repo>:ref:<ref>``), for the ``audience`` the
    cloud or identity provider it will be presented to expects. The source
    asks for a new one on every ``token()`` (they live minutes); wrap it in
    ``reuse()``, or hand it to a token exchange, which reads it afresh for
    each exchange.

    The request URL and bearer come from ``ACTIONS_ID_TOKEN_REQUEST_URL``
    and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``, read when the source is built.
    The bearer and the ID token never appear in a message or a ``repr``.

    Args:
        audience: the ``aud`` of the ID token; None for GitHub's default
            (the repository owner's URL).
        environ: where to read the variables (default ``os.environ``).
        http: an ``httpx.AsyncClient`` for the request, never closed by us.
        clock: wall-clock time (for expiry bookkeeping).
        allow_insecure_http: permit an ``http://`` request URL to a
            non-loopback host.

    Raises:
        ConfigError: not inside GitHub Actions, or the job lacks
            ``id-token: write`` (the variables are missing), or ``audience``
            is empty.
    """

    def __init__(
        self,
        audience: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        allow_insecure_http: bool = False,
    ) -> None:
        if audience is not None and (not isinstance(audience, str) or not audience):
            raise ConfigError("audience must be a non-empty string, or None for GitHub's default")
        env = os.environ if environ is None else environ
        url, bearer = env.get(URL_VARIABLE), env.get(TOKEN_VARIABLE)
        if not url or not bearer:
            raise ConfigError(_missing_variables_message(env))
        self.url = check_endpoint_url(
            url, name=URL_VARIABLE, allow_insecure_http=allow_insecure_http
        )
        self.audience = audience
        self._bearer = bearer
        # What the ID token's claims are made of: the run's repository and refs.
        self._job = {name[len("GITHUB_") :].lower(): env.get(name, "") for name in _JOB_VARIABLES}
        self._clock = clock
        self._http = HttpClient(http, clock=clock)

    def __repr__(self) -> str:
        return f"GitHubActionsOIDC(audience={self.audience!r})"

    async def token(self) -> Token:
        """Ask GitHub for a new ID token; its expiry is the JWT's ``exp``.

        Concurrency and cancellation: safe to call from many tasks at once;
        each call is one request. Cancelling a call abandons its request.

        Raises:
            TokenRequestError: the request could not be completed.
            TokenEndpointError: GitHub answered with an error status.
            TokenResponseError: the answer holds no JWT in ``value``.
        """
        url = httpx.URL(self.url)
        if self.audience is not None:
            url = url.copy_merge_params({"audience": self.audience})
        headers = {"Authorization": f"Bearer {self._bearer}", "Accept": "application/json"}
        raw = await self._http.request("GET", str(url), headers=headers)
        where = safe_url(self.url)
        if not 200 <= raw.status_code < 300:
            parse_token_response(raw)  # raises the TokenEndpointError it is
        document = json_object(
            raw, what=f"the Actions ID token answer from {where}", url=where, secrets=raw.carried
        )
        value = document.get("value")
        claims = unverified_claims(value) if isinstance(value, str) else None
        if not isinstance(value, str) or claims is None:
            raise TokenResponseError(
                f"the Actions ID token answer from {where} holds no JWT in 'value'",
                status_code=raw.status_code,
                content_type=raw.content_type,
                url=where,
            )
        return Token(value, expires_at=claims_expiry(claims))

    def subject_claims(self) -> dict[str, str]:
        """Whose ID tokens these are, for shared-cache identities: issuer, audience, run.

        Taken from the job's environment (``GITHUB_REPOSITORY``,
        ``GITHUB_REF``, ``GITHUB_WORKFLOW_REF``), which the token's claims
        are made of; never the token itself.
        """
        return {"iss": GITHUB_ISSUER, "aud": self.audience or "", **self._job}

    def invalidate(self, token: Token) -> None:
        """Do nothing: this source keeps no token (see ``reuse()``)."""

    async def aclose(self) -> None:
        """Close the HTTP client if this source created it (not one you passed)."""
        await self._http.aclose()


def _missing_variables_message(env: Mapping[str, str]) -> str:
    if env.get("GITHUB_ACTIONS") != "true":
        return (
            "GitHubActionsOIDC needs to run inside a GitHub Actions job "
            f"({URL_VARIABLE} and {TOKEN_VARIABLE} are not set)"
        )
    return (
        f"this GitHub Actions job has no {URL_VARIABLE} / {TOKEN_VARIABLE}: give the "
        "workflow or job `permissions: id-token: write`"
    )
