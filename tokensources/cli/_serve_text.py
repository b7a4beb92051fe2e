"""What ``tokensources serve`` prints: a banner and a closing line, and JSON lines for scripts.

Every URL printed is where the server is reached (the served base URL),
even when a configuration file fixes an issuer URL of its own. No secret
is ever printed but the demo client's, which is a well-known test secret.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from ..testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from ..testing._issuer_api import IssuerApi
from ..testing._paths import DEBUG_PATH, JWKS_PATH, METADATA_PATHS, TOKEN_PATH
from ._words import counted

__all__ = ["ServeText", "json_line"]

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def json_line(**fields: Any) -> None:
    """Print ``fields`` as one JSON line on stdout, flushed at once: a script waits for it."""
    print(json.dumps(fields), flush=True)


class ServeText:
    """The text of one run of ``tokensources serve``.

    Args:
        server: the server being served.
        ready_json: JSON lines on stdout for scripts; the text goes to stderr.
    """

    def __init__(self, server: AuthorizationServer, *, ready_json: bool) -> None:
        self._server = server
        self._ready_json = ready_json

    @property
    def out(self) -> TextIO:
        """Where the human-readable text goes: stdout, or stderr beside JSON lines."""
        return sys.stderr if self._ready_json else sys.stdout

    def ready(self, url: str, host: str) -> None:
        """Say that the server listens at ``url``: the banner, and the ready line for scripts."""
        print("\n".join(self._banner(url)), file=self.out, flush=True)
        if host not in _LOOPBACK:
            print(
                f"tokensources: warning: listening on {host}, beyond loopback",
                file=sys.stderr,
                flush=True,
            )
        if self._ready_json:
            json_line(event="ready", **self._endpoints(url))

    def stopped(self, token_requests: int, api_requests: int, cpu_seconds: float) -> None:
        """Say what the server answered, once it stopped."""
        print(
            f"stopped after {counted(token_requests, 'token request')} and "
            f"{counted(api_requests, 'API request')}, using {cpu_seconds:.1f} s of CPU",
            file=self.out,
            flush=True,
        )
        if self._ready_json:
            json_line(
                event="stopped",
                token_requests=token_requests,
                api_requests=api_requests,
                cpu_seconds=round(cpu_seconds, 3),
            )

    def _endpoints(self, url: str) -> dict[str, Any]:
        server = self._server
        tenants = {
            name: {"issuer": tenant.issuer, "token_endpoint": f"{url}/{name}{TOKEN_PATH}"}
            for name, tenant in server.tenants.items()
        }
        return {
            "url": url,
            "issuer": server.issuer,
            "token_endpoint": url + TOKEN_PATH,
            "jwks_uri": url + JWKS_PATH,
            "discovery": url + METADATA_PATHS[0],
            "api": f"{url}/api/private",
            "debug": url + DEBUG_PATH,
            "token_lifetime": server.token_lifetime,
            "strict": server.strict,
            "issuers": tenants,
        }

    def _banner(self, url: str) -> list[str]:
        server = self._server
        lines = [
            "tokensources testing server (for tests and demos, not for production)",
            *_issuer_lines(server, url),
            f"  demo API        {url}/api/private  (scope read:messages)",
            f"  debug page      {url}{DEBUG_PATH}",
        ]
        for name, tenant in server.tenants.items():
            lines += ["", f"issuer {name!r}", *_issuer_lines(tenant, f"{url}/{name}")]
        if DEMO_CLIENT_ID in server.client_ids():
            lines += [
                "",
                f"demo client: id {DEMO_CLIENT_ID}, secret {DEMO_CLIENT_SECRET}; try:",
                f"  export TOKENSOURCES_CLIENT_SECRET={DEMO_CLIENT_SECRET}",
                f"  tokensources token --token-url {url}{TOKEN_PATH} --client-id {DEMO_CLIENT_ID}",
            ]
        lines += ["", f"Open {url}{DEBUG_PATH} to see what the server saw. Ctrl-C stops it."]
        return lines


def _issuer_lines(issuer: IssuerApi, base: str) -> list[str]:
    lines = [
        f"  issuer          {issuer.issuer}",
        f"  token endpoint  {base}{TOKEN_PATH}",
        f"  discovery       {base}{METADATA_PATHS[0]}",
        f"  jwks            {base}{JWKS_PATH}",
        f"  token lifetime  {issuer.token_lifetime:g} s",
        f"  clients         {', '.join(issuer.client_ids()) or 'none'}",
    ]
    if issuer.strict:
        lines.append("  mode            strict (legacy client behaviour is refused)")
    for client_id, quota in issuer.quotas.items():
        whom = "each client" if client_id is None else f"client {client_id}"
        lines.append(f"  quota           {quota.tokens} tokens per {quota.per:g} s for {whom}")
    return lines
