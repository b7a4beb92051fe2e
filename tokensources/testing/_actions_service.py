"""A stand-in for GitHub Actions' ID token service, as an ASGI app.

A job with ``permissions: id-token: write`` gets two environment variables:
``ACTIONS_ID_TOKEN_REQUEST_URL`` and a bearer ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``
for it. ``GET`` that URL (with ``&audience=...``) and the answer is
``{"count": ..., "value": "<ID token>"}``. This app answers the same way
with tokens of a ``WorkloadIssuer``, so a workflow's identity can be tested
on loopback.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from ._asgi import Receive, Scope, Send, json_response, read_request, send_response
from ._workload_issuer import WorkloadIssuer

__all__ = ["ActionsTokenService"]

_PATH = "/_apis/distributedtask/hubs/Actions/plans/plan/jobs/job/idtoken"


class ActionsTokenService:
    """An ASGI app that issues GitHub Actions ID tokens from ``issuer``.

    Args:
        issuer: signs the tokens (``mint_github``).
        repository: the repository the "workflow" runs in.
        ref: the git ref it runs on.

    Attributes:
        request_token: the bearer it accepts (``ACTIONS_ID_TOKEN_REQUEST_TOKEN``).
        requests: how many token requests it answered with a token.
    """

    def __init__(
        self,
        issuer: WorkloadIssuer,
        *,
        repository: str = "octo-org/octo-repo",
        ref: str = "refs/heads/main",
    ) -> None:
        self.issuer = issuer
        self.repository = repository
        self.ref = ref
        self.request_token = secrets.token_urlsafe(24)
        self.requests = 0

    def environ(self, base_url: str) -> dict[str, str]:
        """The environment variables of a job with ``id-token: write``, served at ``base_url``."""
        return {
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{base_url}{_PATH}?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_REF": self.ref,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3.0 entry point: ``GET`` the ID token with the request token."""
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        if not request.path.endswith(_PATH) or request.method != "GET":
            await send_response(send, json_response(404, {"message": "Not Found"}))
            return
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            presented.encode(), self.request_token.encode()
        ):
            await send_response(send, json_response(401, {"message": "Bad credentials"}))
            return
        audience = parse_qs(request.query).get("audience", [None])[0]
        self.requests += 1
        value = self.issuer.mint_github(self.repository, self.ref, audience)
        await send_response(send, json_response(200, {"count": 2000, "value": value}))
