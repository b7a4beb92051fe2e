"""Client authentication is one strategy the grant takes, whatever the method.

A method the library does not ship is one small ``ClientAuth``: the grant
sends its form, judges the answer once, keys shared caches by the
strategy's ``cache_key`` and masks the secrets it declares, unchanged.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from tests.support import signing_keys
from tests.support.clock import FakeClock
from tokensources import (
    ClientCredentials,
    ConfigError,
    External,
    PrivateKeyJWT,
    TokenEndpointError,
)
from tokensources._identity import credential_digest
from tokensources.sources._client_auth import ClientAuth, Credentials
from tokensources.sources._grant import ClientCredentialsGrant
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

pytestmark = pytest.mark.anyio

TOKEN_URL = "http://testserver/oauth/token"


class SecretFromVault(ClientAuth):
    """client_secret_post with the secret read from a callable on every request (a vault)."""

    method = "client_secret_post"

    def __init__(self, client_id: str, read_secret: Callable[[], str]) -> None:
        super().__init__(client_id)
        self._read_secret = read_secret
        self.reads = 0

    async def credentials(self, token_url: str) -> Credentials:
        self.reads += 1
        secret = self._read_secret()
        form = {"client_id": self.client_id or "", "client_secret": secret}
        return Credentials(form=form, secrets=(secret,))

    def cache_key(self) -> tuple[str, str]:
        return "vault", credential_digest(self.client_id or "")


async def test_a_new_client_authentication_plugs_into_the_grant_unchanged(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A strategy defined outside the library gets tokens through the grant as it is."""
    vault = SecretFromVault(DEMO_CLIENT_ID, lambda: DEMO_CLIENT_SECRET)
    grant = ClientCredentialsGrant(
        TOKEN_URL, vault, scopes="read:messages", http=http, clock=clock, allow_insecure_http=True
    )
    first, second = await grant.token(), await grant.token()
    assert first.scope == "read:messages"
    assert first.access_token != second.access_token
    assert (vault.reads, server.counters.token_requests) == (2, 2)
    assert grant.client_id == DEMO_CLIENT_ID


async def test_the_secrets_a_strategy_declares_are_masked_in_errors(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """An endpoint quoting a declared secret back gets it masked in the grant's error."""
    wrong = "vault-secret-0123456789"

    async def quoting(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "invalid_client", "error_description": wrong})

    async with httpx.AsyncClient(transport=httpx.MockTransport(quoting)) as mock:
        grant = ClientCredentialsGrant(
            "https://idp.example/t", SecretFromVault("id", lambda: wrong), http=mock, clock=clock
        )
        with pytest.raises(TokenEndpointError, match="invalid_client") as caught:
            await grant.token()
    assert wrong not in str(caught.value)
    assert "[redacted]" in str(caught.value)


def test_a_strategys_cache_key_keys_the_shared_identity() -> None:
    """The identity covers the strategy's method name and digest, never the secret."""
    one = ClientCredentialsGrant("https://idp.example/t", SecretFromVault("id", lambda: "s"))
    two = ClientCredentialsGrant("https://idp.example/t", SecretFromVault("id", lambda: "t"))
    other = ClientCredentialsGrant("https://idp.example/t", SecretFromVault("id2", lambda: "s"))
    assert one.cache_identity == two.cache_identity  # the vault's key names the client only
    assert one.cache_identity != other.cache_identity


def test_a_strategy_needing_its_own_tls_context_refuses_a_borrowed_client() -> None:
    """A client certificate cannot be put into your client after the fact: a ConfigError says so."""

    class WithCertificate(SecretFromVault):
        def ssl_context(self) -> ssl.SSLContext:
            return ssl.create_default_context()

    strategy = WithCertificate("id", lambda: "s")
    with pytest.raises(ConfigError, match="TLS context"):
        ClientCredentialsGrant("https://idp.example/t", strategy, http=httpx.AsyncClient())
    assert ClientCredentialsGrant("https://idp.example/t", strategy).client_id == "id"


def test_the_grant_refuses_anything_but_a_client_authentication() -> None:
    """Passing a secret where the strategy belongs is a ConfigError, not an AttributeError."""
    with pytest.raises(ConfigError, match="client authentication"):
        ClientCredentialsGrant("https://idp.example/t", "secret")  # type: ignore[arg-type]


async def test_auto_judges_each_answer_once(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 200 under AuthStyle.AUTO is parsed once: its JWT expiry is read once, not twice."""
    issued = AuthorizationServer(clock=clock).issue_token("c", lifetime=600)
    decodes: list[str] = []
    real_decode = jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        decodes.append(token)
        return real_decode(token, *args, **kwargs)

    async def no_expires_in(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": issued, "token_type": "bearer"})

    monkeypatch.setattr(jwt, "decode", counting_decode)
    async with httpx.AsyncClient(transport=httpx.MockTransport(no_expires_in)) as mock:
        cc = ClientCredentials("https://idp.example/t", "c", "s", http=mock, clock=clock)
        token = await cc.token()
    assert token.expires_at == clock.now + 600
    assert decodes == [issued]


def _identity(material: dict[str, Any]) -> str:
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def _scrypt(*parts: str) -> str:
    material = b"".join(len(p.encode()).to_bytes(4, "big") + p.encode() for p in parts)
    salt = b"tokensources.credential.v2"
    return hashlib.scrypt(material, salt=salt, n=2**13, r=8, p=1, dklen=32).hex()


def test_shared_identities_are_those_of_earlier_releases() -> None:
    """Identities keep their exact values, so a fleet upgraded one host at a time still shares."""
    cc = ClientCredentials("https://idp.example/t", "id", "s3cret", scopes="b a", audience="x")
    assert cc.cache_identity == _identity(
        {
            "token_url": "https://idp.example/t",
            "client_id": "id",
            "auth": "client_secret",
            "scopes": ["a", "b"],
            "params": [["audience", "x"]],
            "credential": _scrypt("id", "s3cret"),
        }
    )
    pkj = PrivateKeyJWT("https://idp.example/t", "id", signing_keys.key("p256"), key_id="k")
    thumbprint = pkj.public_jwks()["keys"][0]
    assert pkj.cache_identity == _identity(
        {
            "token_url": "https://idp.example/t",
            "client_id": "id",
            "auth": "private_key_jwt",
            "scopes": [],
            "params": [],
            "credential": _scrypt(
                "private_key_jwt", _thumbprint_of(thumbprint), pkj.algorithm, "k"
            ),
        }
    )
    external = External("https://svc.example/token", headers={"X-Api-Key": "key-1"})
    assert external.cache_identity == _identity(
        {
            "external": {
                "url": "https://svc.example/token",
                "method": "GET",
                "headers": _scrypt("x-api-key:key-1"),
            }
        }
    )


def _thumbprint_of(jwk: dict[str, str]) -> str:
    """RFC 7638, computed here independently of the library."""
    import base64

    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
