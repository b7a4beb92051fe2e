"""The public surface: exactly these names, each documented, none of them importing redis."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

PUBLIC = {
    "tokensources": [
        "AuthStyle", "Blocking", "Buffer", "ClientAssertion", "ClientCredentials",
        "ClientSecretJWT", "Clock",
        "ConfigError",
        "DPoPKey", "EventHook", "EventKind", "External", "FileToken", "GitHubActionsOIDC",
        "InMemoryShared", "InsufficientScopeError", "InvalidTokenError", "JWTBearer",
        "MutualTLS", "PrivateKeyJWT", "RedisShared", "Retry", "Reuse", "SignedAssertion", "Static",
        "Token", "TokenAuth", "TokenEndpointError", "TokenEvent", "TokenExchange",
        "TokenExpiredError",
        "TokenRequestError", "TokenResponseError", "TokenSource", "TokenSourceError",
        "blocking", "buffer", "discover", "retry", "reuse",
    ],
    "tokensources.sources": [
        "AuthStyle", "ClientAssertion", "ClientCredentials", "ClientSecretJWT", "DPoPKey",
        "External", "FetchToken", "FileToken",
        "GitHubActionsOIDC", "JWTBearer", "MutualTLS", "PrivateKeyJWT", "SignedAssertion", "Static",
        "TokenExchange", "discover",
    ],
    "tokensources.wrappers": [
        "Buffer", "Retry", "Reuse", "Sleep", "TokenCallback", "buffer", "retry", "reuse",
    ],
    "tokensources.shared": ["InMemoryShared", "RedisShared", "SharedStore", "default_store"],
    "tokensources.otel": ["Instrumentation", "instrument"],
    "tokensources.requests": ["TokenAuth"],
    "tokensources.aiohttp": ["TokenMiddleware"],
    "tokensources.verify": [
        "CLAIMS_KEY", "ASGIApp", "BearerAuth", "Challenge", "Claims", "DPoPNonce",
        "DPoPNonceError", "DPoPProofChecker", "DPoPProofError", "DPoPReplays",
        "InsufficientScopeError",
        "Introspection", "InvalidTokenError", "JWTVerifier", "ResourceMetadata", "Verifier",
        "authenticate", "bearer_token", "challenge", "claims_from", "fetch_resource_metadata",
        "require_scopes",
    ],
    "tokensources.testing": [
        "DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET", "ActionsTokenService", "AuthorizationServer",
        "Counters", "Faults", "KubernetesTokenFile", "LoggedRequest", "MalformedKind", "Quota",
        "RequestLog", "RotatingTokenFile", "Tenant", "WorkloadIssuer",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_is_pinned(module_name: str) -> None:
    """Each public module exports exactly the pinned names, and each of them exists."""
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.parametrize(
    ("module_name", "name"),
    [(module, name) for module, names in sorted(PUBLIC.items()) for name in names],
)
def test_every_public_class_and_function_is_documented(module_name: str, name: str) -> None:
    """Every public class and function has a docstring whose first line says what it is."""
    obj = getattr(importlib.import_module(module_name), name)
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return  # constants and type aliases are documented in the reference pages
    doc = obj.__doc__ or ""
    assert doc.strip(), f"{module_name}.{name} has no docstring"
    assert doc.strip().splitlines()[0].endswith("."), f"{module_name}.{name}: first line"


def test_importing_tokensources_does_not_import_redis() -> None:
    """redis is an extra: `import tokensources` must work without loading it."""
    code = "import sys, tokensources; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_version_is_exposed() -> None:
    """The package version is available as tokensources.__version__."""
    import tokensources

    assert tokensources.__version__.count(".") == 2
