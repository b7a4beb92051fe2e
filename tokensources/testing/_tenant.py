"""``Tenant``: a named issuer of the server, configured exactly as the server is."""

from __future__ import annotations

from ._answers import QueuedAnswers
from ._assembly import IssuerParts
from ._issuer_api import IssuerApi
from ._request_log import RequestLog

__all__ = ["Tenant"]


class Tenant(IssuerApi):
    """A named issuer of an ``AuthorizationServer``, reached under ``/<name>/``.

    Made by ``server.tenant(name)`` with nothing but its name: its issuer is
    the server's issuer followed by ``/<name>``, and it has its own signing
    keys, clients, claim mappings, quotas and metadata
    (``/<name>/oauth/token``, ``/<name>/.well-known/openid-configuration``,
    ``/<name>/.well-known/jwks.json``, ``/<name>/oauth/introspect``,
    ``/<name>/api/private``). It shares the server's clock, counters, faults,
    request log and queued answers, and follows the server's ``audience``,
    ``token_lifetime`` and ``strict`` until given its own.

    It has the server's registration API (``register_client``,
    ``issue_token``, ``issue_opaque_token``, ``revoke_token``, ``map_claims``,
    ``enqueue_error``, ``set_quota``, …);
    paths given to ``enqueue_*`` are within the tenant, and its
    ``assert_token_requests`` counts its own requests only.
    """

    def __init__(self, parts: IssuerParts, *, log: RequestLog, answers: QueuedAnswers) -> None:
        super().__init__(parts, log=log, answers=answers, log_issuer=parts.issuer.name)

    def __repr__(self) -> str:
        return f"Tenant(name={self.name!r}, issuer={self.issuer!r}, clients={self.client_ids()!r})"

    @property
    def name(self) -> str:
        """The tenant's name: the first path segment of its URLs."""
        return self._parts.issuer.name
