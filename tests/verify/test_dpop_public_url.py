"""Which URL a DPoP proof must name at the resource: public_url, or Host and root_path.

Requests are driven through real middleware and, for ``Mount``, a real
Starlette app, in-process over httpx; proxies are small ASGI wrappers that
do what a strip-prefix ingress or a TLS-terminating proxy does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.support.clock import FakeClock
from tests.verify.conftest import MakeVerifier
from tokensources import DPoPKey, Static, Token, TokenAuth
from tokensources.testing import AuthorizationServer
from tokensources.verify import (
    BearerAuth,
    DPoPProofChecker,
    DPoPProofError,
    authenticate,
    claims_from,
)
from tokensources.verify._asgi_types import ASGIApp

pytestmark = pytest.mark.anyio

PUBLIC = "https://api.example.com"
HOST_WARNING = "checked against the request's own Host header"


async def _app(scope: Any, receive: Any, send: Any) -> None:
    body = claims_from(scope)["sub"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _strip_prefix(inner: ASGIApp, prefix: str = "/svc") -> ASGIApp:
    """An ingress that strips ``prefix``, terminates TLS and sends its own Host."""

    async def proxied(scope: Any, receive: Any, send: Any) -> None:
        headers = [(n, b"10.0.0.7:8000" if n == b"host" else v) for n, v in scope["headers"]]
        scope = {
            **scope,
            "path": scope["path"][len(prefix) :],
            "raw_path": scope["raw_path"][len(prefix) :],
            "headers": headers,
            "scheme": "http",
        }
        await inner(scope, receive, send)

    return proxied


class World:
    """A key, a token bound to it, and the pieces to call a protected app."""

    def __init__(self, server: AuthorizationServer, clock: FakeClock) -> None:
        self.key = DPoPKey.generate(clock=clock)
        self.token = server.issue_token(claims={"cnf": {"jkt": self.key.thumbprint}})
        self.clock = clock

    def auth(self) -> TokenAuth:
        """TokenAuth that signs a proof for each request's own URL."""
        bound = Token(self.token, token_type="DPoP", jkt=self.key.thumbprint)
        return TokenAuth(Static(bound), clock=self.clock)

    def headers(self, url: str) -> dict[str, str]:
        """The headers of a request whose proof names ``url``."""
        proof = self.key.proof("GET", url, access_token=self.token)
        return {"Authorization": f"DPoP {self.token}", "DPoP": proof}

    def protect(self, verifier: Any, **kwargs: Any) -> BearerAuth:
        """``_app`` behind BearerAuth with a checker on the fake clock."""
        return BearerAuth(_app, verifier, dpop=DPoPProofChecker(clock=self.clock), **kwargs)


@pytest.fixture
def world(server: AuthorizationServer, clock: FakeClock) -> World:
    """A bound token and its key on the fake clock."""
    return World(server, clock)


async def _get(app: ASGIApp, path: str, **kwargs: Any) -> httpx.Response:
    base_url = kwargs.pop("base_url", PUBLIC)
    auth = kwargs.pop("auth", None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, root_path=kwargs.pop("root_path", "")),
        base_url=base_url,
        auth=auth,
    ) as client:
        return await client.get(path, **kwargs)


async def test_public_url_with_the_prefix_an_ingress_strips(
    world: World, make_verifier: MakeVerifier
) -> None:
    """Behind a strip-prefix ingress: public_url with the prefix makes the client's proofs pass."""
    protected = world.protect(make_verifier(), public_url=PUBLIC + "/svc/")

    through = await _get(_strip_prefix(protected), "/svc/messages", auth=world.auth())
    stripped = await _get(
        _strip_prefix(protected), "/svc/messages", headers=world.headers(PUBLIC + "/messages")
    )

    assert through.status_code == 200
    assert stripped.status_code == 401  # a proof for the URL without the prefix


async def test_public_url_without_the_prefix_refuses_behind_that_ingress(
    world: World, make_verifier: MakeVerifier
) -> None:
    """The origin alone does not name the stripped prefix: every proof is refused."""
    protected = world.protect(make_verifier(), public_url=PUBLIC)

    answer = await _get(_strip_prefix(protected), "/svc/messages", auth=world.auth())

    assert answer.status_code == 401


async def test_public_url_can_name_several_origins(
    world: World, make_verifier: MakeVerifier
) -> None:
    """An API with two names accepts proofs for either, and none for a third, whatever Host says."""
    protected = world.protect(
        make_verifier(), public_url=["https://api.example.com", "https://api.example.org/v2"]
    )
    statuses = []
    for url, host in [
        ("https://api.example.com/messages", "api.example.com"),
        ("https://api.example.org/v2/messages", "api.example.com"),
        ("https://evil.example/messages", "evil.example"),
    ]:
        headers = {**world.headers(url), "Host": host}
        statuses.append((await _get(protected, "/messages", headers=headers)).status_code)

    assert statuses == [200, 200, 401]


async def test_with_public_url_a_forged_host_header_does_not_help(
    world: World, make_verifier: MakeVerifier
) -> None:
    """A proof captured on its way to another API is refused here, even with that API's Host."""
    protected = world.protect(make_verifier(), public_url="https://b.example")
    headers = {**world.headers("https://a.example/transfer"), "Host": "a.example"}

    answer = await _get(protected, "/transfer", headers=headers, base_url="https://b.example")

    assert answer.status_code == 401


async def test_without_public_url_the_host_header_decides(
    world: World, make_verifier: MakeVerifier
) -> None:
    """The documented default: the origin is the request's Host, so the client can name another."""
    protected = world.protect(make_verifier())
    headers = {**world.headers("https://a.example/transfer"), "Host": "a.example"}

    answer = await _get(protected, "/transfer", headers=headers, base_url="https://b.example")

    assert answer.status_code == 200


async def test_dpop_without_public_url_is_warned_about_once_per_middleware(
    world: World, make_verifier: MakeVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    """Three DPoP requests: one WARNING per BearerAuth; none with public_url, none for bearer."""
    caplog.set_level(logging.WARNING, logger="tokensources")
    verifier = make_verifier()
    first, second = world.protect(verifier), world.protect(verifier)
    with_url = world.protect(verifier, public_url=PUBLIC)
    statuses = [
        (await _get(protected, "/m", auth=world.auth())).status_code
        for protected in (first, first, first, second, with_url, with_url)
    ]

    warnings = [r for r in caplog.records if HOST_WARNING in r.getMessage()]
    assert statuses == [200] * 6
    assert len(warnings) == 2
    assert all(r.levelno == logging.WARNING for r in warnings)


async def test_bearer_tokens_alone_are_not_warned_about(
    server: AuthorizationServer, make_verifier: MakeVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    """An API that sees only bearer tokens has nothing to fear from Host: no warning."""
    caplog.set_level(logging.WARNING, logger="tokensources")
    protected = BearerAuth(_app, make_verifier())
    token = server.issue_token()

    answer = await _get(protected, "/m", headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 200
    assert not [r for r in caplog.records if HOST_WARNING in r.getMessage()]


def _scope(world: World, path: str, raw_path: str, root_path: str, proof_url: str) -> Any:
    headers = [(b"host", b"api.example.com"), *world_headers(world, proof_url)]
    return {
        "type": "http",
        "scheme": "https",
        "method": "GET",
        "path": path,
        "raw_path": raw_path.encode(),
        "root_path": root_path,
        "headers": headers,
    }


def world_headers(world: World, url: str) -> list[tuple[bytes, bytes]]:
    """The request headers for a proof naming ``url``, as ASGI header pairs."""
    return [(n.lower().encode(), v.encode()) for n, v in world.headers(url).items()]


# How servers set (path, raw_path, root_path) for one request, what its proofs
# must name, and what a proof names when root_path is left out or doubled.
ROOT_PATH_READINGS = {
    "server-prefixes-path": (
        ("/svc/a/b", "/svc/a%2Fb", "/svc"),
        "/svc/a%2Fb",
        ["/a%2Fb", "/svc/svc/a%2Fb"],
    ),
    "server-leaves-it-out": (("/a/b", "/a%2Fb", "/svc"), "/svc/a%2Fb", ["/a%2Fb"]),
    "mount-below-server-root": (
        ("/m/a/b", "/m/a%2Fb", "/svc/m"),
        "/svc/m/a%2Fb",
        ["/m/a%2Fb", "/svc/m/m/a%2Fb"],
    ),
    "no-root-path": (("/a/b", "/a%2Fb", ""), "/a%2Fb", ["/svc/a%2Fb"]),
}


@pytest.mark.parametrize("reading", sorted(ROOT_PATH_READINGS))
async def test_root_path_is_put_in_front_once(
    reading: str, world: World, make_verifier: MakeVerifier
) -> None:
    """Without public_url, root_path is in the URL proofs name, never twice and never left out."""
    (path, raw, root), good, bad = ROOT_PATH_READINGS[reading]
    verifier, checker = make_verifier(), DPoPProofChecker(clock=world.clock)

    claims = await authenticate(
        verifier, _scope(world, path, raw, root, PUBLIC + good), dpop=checker
    )
    for wrong in bad:
        with pytest.raises(DPoPProofError, match="htu"):
            await authenticate(
                verifier, _scope(world, path, raw, root, PUBLIC + wrong), dpop=checker
            )

    assert claims["cnf"]["jkt"] == world.key.thumbprint


async def test_under_a_starlette_mount_the_mount_point_is_not_doubled(
    world: World, make_verifier: MakeVerifier
) -> None:
    """BearerAuth inside Mount("/svc") under a server root_path "/gw": htu is /gw/svc/… exactly."""
    protected = world.protect(make_verifier())
    app: Callable[..., Any] = Starlette(routes=[Mount("/svc", app=protected)])

    answer = await _get(app, "/svc/messages", auth=world.auth(), root_path="/gw")
    doubled = await _get(
        app,
        "/svc/messages",
        root_path="/gw",
        headers=world.headers(PUBLIC + "/gw/svc/svc/messages"),
    )

    assert answer.status_code == 401  # TokenAuth signed for the URL it sent: no /gw in it
    assert doubled.status_code == 401
    signed_for_gateway = await _get(
        app, "/svc/messages", root_path="/gw", headers=world.headers(PUBLIC + "/gw/svc/messages")
    )
    assert signed_for_gateway.status_code == 200
