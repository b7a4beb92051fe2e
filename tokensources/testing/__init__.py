"""An OAuth 2.0 authorization server for tests, demos and benchmarks.

``AuthorizationServer`` is a real (if small) authorization server: the
client_credentials grant with ``client_secret_basic``, ``client_secret_post``,
``client_secret_jwt`` and ``private_key_jwt`` (``register_client``),
another issuer's JWTs (``register_federated_client``) and mutual TLS
(``register_tls_client``, over HTTPS with ``serve(tls=context)``), RS256 JWT
access tokens (bound to the client certificate after mutual TLS), a JWKS,
discovery metadata, a protected demo API, request counters and fault injection. On
top of that, for tests: several issuers (``server.tenant(name)``), claim
mappings, queued answers (``enqueue_error``), a request log with assertions
(``assert_token_requests``), token quotas, a strict mode and a page for
people at ``/_debug``. Use it in-process (``server.client()``) or on
loopback (``server.serve()``, ``server.serve_in_thread()``); the pytest
plugin provides it as the ``oauth_server`` and ``oauth_server_url`` fixtures.
"""

from __future__ import annotations

from ._actions_service import ActionsTokenService
from ._counters import Counters
from ._faults import Faults, MalformedKind
from ._quotas import Quota
from ._request_log import LoggedRequest, RequestLog
from ._server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from ._tenant import Tenant
from ._token_files import KubernetesTokenFile, RotatingTokenFile
from ._workload_issuer import WorkloadIssuer

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "ActionsTokenService",
    "AuthorizationServer",
    "Counters",
    "Faults",
    "KubernetesTokenFile",
    "LoggedRequest",
    "MalformedKind",
    "Quota",
    "RequestLog",
    "RotatingTokenFile",
    "Tenant",
    "WorkloadIssuer",
]
