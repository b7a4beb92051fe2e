"""The first DPoP request to an origin goes first; the others wait for it briefly, and once.

The cases are about what the client does when the origin is slow, fails or
calls itself, which a real server does not do on demand: the API is an
``httpx.MockTransport`` handler. Waits are bounded by ``fail_after``, so a
regression fails instead of hanging.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import httpx
import pytest

import tokensources._dpop_auth
from tokensources import DPoPKey, Static, Token, TokenAuth

pytestmark = pytest.mark.anyio

BURST = 20
API = "https://api.example"


# Held for the whole module: the registry of loaded keys holds keys weakly.
KEY = DPoPKey.generate()


def _bound() -> Static:
    return Static(Token("bound-token", token_type="DPoP", jkt=KEY.thumbprint))


@pytest.fixture
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait behind a first contact, made short so that the tests do not last."""
    monkeypatch.setattr(tokensources._dpop_auth, "FIRST_CONTACT_WAIT", 0.05)


class FailingOrigin:
    """An origin that cannot be reached: the first contact fails, then everyone else does."""

    def __init__(self) -> None:
        self.calls = 0
        self.together = 0
        self.most_together = 0
        self._all_in = anyio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls == 1:
            for _ in range(50):  # the rest of the burst reaches its wait meanwhile
                await anyio.lowlevel.checkpoint()
            raise httpx.ConnectError("unreachable", request=request)
        self.together += 1
        self.most_together = max(self.most_together, self.together)
        if self.together == BURST - 1:
            self._all_in.set()
        with anyio.move_on_after(2):  # bounded: one at a time would never get here
            await self._all_in.wait()
        self.together -= 1
        raise httpx.ConnectError("unreachable", request=request)


async def test_a_failed_first_contact_releases_every_waiter_at_once() -> None:
    """The first contact fails: the 19 others go on together, not one after the other."""
    origin = FailingOrigin()
    failures = 0

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(origin), auth=TokenAuth(_bound())
    ) as client:

        async def one() -> None:
            nonlocal failures
            try:
                await client.get(f"{API}/x")
            except httpx.ConnectError:
                failures += 1

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for _ in range(BURST):
                    group.start_soon(one)

    assert failures == origin.calls == BURST
    assert origin.most_together == BURST - 1


async def test_a_request_its_own_origin_makes_while_answering_is_not_held_forever(
    short_wait: None,
) -> None:
    """An API that calls itself through the same client while answering its first request."""
    answered: list[str] = []
    client: httpx.AsyncClient

    async def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/outer":
            inner = await client.get(f"{API}/inner")
            answered.append(f"inner {inner.status_code}")
        answered.append(request.url.path)
        return httpx.Response(200)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(api), auth=TokenAuth(_bound())
    ) as client:
        with anyio.fail_after(10):
            outer = await client.get(f"{API}/outer")

    assert outer.status_code == 200
    assert answered == ["/inner", "inner 200", "/outer"]


async def test_a_slow_first_contact_holds_the_others_only_for_the_wait(short_wait: None) -> None:
    """The first request hangs until the others are answered: they are, without it."""
    others_done = anyio.Event()
    served = 0

    async def api(request: httpx.Request) -> httpx.Response:
        nonlocal served
        if request.url.path == "/slow":
            await others_done.wait()
        else:
            served += 1
            if served == BURST - 1:
                others_done.set()
        return httpx.Response(200)

    statuses: list[int] = []
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(api), auth=TokenAuth(_bound())
    ) as client:

        async def one(path: str) -> None:
            statuses.append((await client.get(f"{API}{path}")).status_code)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(one, "/slow")
                await anyio.lowlevel.checkpoint()  # the slow one is the first contact
                for _ in range(BURST - 1):
                    group.start_soon(one, "/fast")

    assert statuses == [200] * BURST
    assert served == BURST - 1
