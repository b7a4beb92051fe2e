"""Scopes given as one space-separated string are split into scopes, never into characters."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tests.verify.conftest import MakeVerifier
from tokensources import ConfigError, InsufficientScopeError
from tokensources.testing import AuthorizationServer
from tokensources.verify import BearerAuth, authenticate, challenge, require_scopes

pytestmark = pytest.mark.anyio


async def test_verify_accepts_a_scope_string(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """verify(scopes="read:messages") requires that one scope, not its characters."""
    verifier = make_verifier()
    with anyio.fail_after(10):
        claims = await verifier.verify(
            server.issue_token(scope="read:messages"), scopes="read:messages"
        )
        assert claims.scopes == {"read:messages"}
        with pytest.raises(InsufficientScopeError) as caught:
            await verifier.verify(
                server.issue_token(scope="read:messages"), scopes="read:messages write:messages"
            )
    assert caught.value.missing == ("write:messages",)


async def test_authenticate_accepts_a_scope_string(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """authenticate(scopes="read:messages") passes a token that has the scope."""
    token = server.issue_token(scope="read:messages")
    scope = {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]}
    with anyio.fail_after(10):
        claims = await authenticate(make_verifier(), scope, scopes="read:messages")
    assert claims.scopes == {"read:messages"}


async def test_bearer_auth_accepts_a_scope_string(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """BearerAuth(scopes="read:messages") lets the scope through and names it whole in a 403."""

    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = BearerAuth(ok, make_verifier(), scopes="read:messages")
    transport = httpx.ASGITransport(app=app)
    with anyio.fail_after(10):
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            good = server.issue_token(scope="read:messages")
            allowed = await client.get("/", headers={"Authorization": f"Bearer {good}"})
            lacking = server.issue_token(scope="write:messages")
            refused = await client.get("/", headers={"Authorization": f"Bearer {lacking}"})
    assert allowed.status_code == 204
    assert refused.status_code == 403
    assert refused.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="read:messages"'
    )


def test_challenge_and_require_scopes_split_a_scope_string() -> None:
    """challenge() names a scope string's scopes; require_scopes splits a space-separated one."""
    error = InsufficientScopeError("lacks", missing=("write:messages",))
    answer = challenge(error, scopes="read:messages write:messages")
    assert answer.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="read:messages write:messages"'
    )
    claims = {"scope": "read:messages"}
    require_scopes(claims, "read:messages")
    with pytest.raises(InsufficientScopeError) as caught:
        require_scopes(claims, "read:messages write:messages")
    assert caught.value.missing == ("write:messages",)


@pytest.mark.parametrize("scopes", [[""], ["  "], [3]])
def test_empty_or_non_string_scopes_are_config_errors(scopes: Any) -> None:
    """An empty or non-string scope is refused with ConfigError everywhere scopes are given."""
    with pytest.raises(ConfigError):
        BearerAuth(lambda *a: None, None, scopes=scopes)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        challenge(InsufficientScopeError("lacks", missing=("x",)), scopes=scopes)
    with pytest.raises(ConfigError):
        require_scopes({"scope": "x"}, *scopes)


# Every character Python's str.split() treats as white space, other than SP.
NOT_SP = [
    "\t",
    "\n",
    "\v",
    "\f",
    "\r",
    "\x1c",
    "\x85",
    "\xa0",
    "\u1680",
    "\u2003",
    "\u2028",
    "\u3000",
]


@pytest.mark.parametrize("separator", NOT_SP, ids=[f"U+{ord(c):04X}" for c in NOT_SP])
async def test_only_a_space_separates_granted_scopes(
    separator: str, make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """A scope claim joining two words with white space other than SP grants neither word."""
    token = server.issue_token(scope=f"admin{separator}read:messages")
    verifier = make_verifier()
    with anyio.fail_after(10):
        claims = await verifier.verify(token)
        with pytest.raises(InsufficientScopeError) as caught:
            await verifier.verify(token, scopes="read:messages")
    assert claims.scopes == {f"admin{separator}read:messages"}
    assert caught.value.missing == ("read:messages",)
    with pytest.raises(InsufficientScopeError):
        require_scopes({"scp": f"admin{separator}read:messages"}, "read:messages")


def test_spaces_around_and_between_granted_scopes_are_forgiven() -> None:
    """Leading, trailing and repeated spaces in a scope claim separate nothing more."""
    claims = {"scope": "  read:messages   write:messages "}
    require_scopes(claims, "read:messages", "write:messages")
    with pytest.raises(InsufficientScopeError):
        require_scopes(claims, "delete:messages")


@pytest.mark.parametrize(
    "scopes",
    [
        "read:messages\twrite:messages",
        ["read:messages\xa0write:messages"],
        ["read:messages\n"],
        ['read"messages'],
        ["read\\messages"],
        ["lire:messagés"],
        ["read:messages\x00"],
    ],
    ids=["tab", "no-break-space", "newline", "quote", "backslash", "non-ascii", "nul"],
)
def test_required_scopes_outside_the_scope_grammar_are_config_errors(scopes: Any) -> None:
    """A required scope with a character RFC 6749 §3.3 forbids raises ConfigError naming it."""
    for build in (
        lambda: BearerAuth(lambda *a: None, None, scopes=scopes),  # type: ignore[arg-type]
        lambda: challenge(InsufficientScopeError("lacks", missing=("x",)), scopes=scopes),
        lambda: require_scopes({"scope": "x"}, *([scopes] if isinstance(scopes, str) else scopes)),
    ):
        with pytest.raises(ConfigError, match=r"scope .* may not hold \(RFC 6749 §3\.3"):
            build()
