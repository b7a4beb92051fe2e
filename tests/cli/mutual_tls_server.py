"""The testing server over HTTPS on loopback, with a client certificate for mutual TLS."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio.from_thread
import trustme

from tests.support.mtls import issued, server_context
from tokensources.testing import AuthorizationServer

__all__ = ["serve_mutual_tls"]


@contextmanager
def serve_mutual_tls(
    server: AuthorizationServer, directory: Path, client_id: str = "billing"
) -> Iterator[str]:
    """Serve ``server`` over HTTPS; its base URL while the block runs.

    ``directory`` receives ``ca.pem`` (the CA that verifies the server),
    ``tls.crt`` and ``tls.key`` (a client certificate registered for
    ``tls_client_auth`` as ``client_id``).
    """
    ca = trustme.CA()
    pair = issued(ca)
    (directory / "ca.pem").write_bytes(ca.cert_pem.bytes())
    (directory / "tls.crt").write_bytes(pair.certificate)
    (directory / "tls.key").write_bytes(pair.key)
    server.register_tls_client(client_id, subject_dn=pair.subject)
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(server.serve(tls=server_context(ca))) as url,
    ):
        yield url
