"""The workload issuer keeps a token file fresh as the kubelet does: rewritten at 80 % of life."""

from __future__ import annotations

from pathlib import Path

import anyio
import jwt
import pytest

from tests.support.clock import FakeClock
from tokensources import ConfigError, FileToken, reuse
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio


def test_the_first_token_is_written_at_once_and_rotated_only_when_due(
    tmp_path: Path, clock: FakeClock
) -> None:
    """No rewrite before 80 % of the lifetime, one at 80 %, each a new valid token."""
    issuer = AuthorizationServer(clock=clock).workload_issuer
    rotating = issuer.token_file(tmp_path / "volume", lifetime=600)
    first = rotating.file.path.read_text()
    assert rotating.rotations == 1
    clock.advance(479)
    assert rotating.rotate_if_due() is False
    assert rotating.file.path.read_text() == first
    clock.advance(1)
    assert rotating.rotate_if_due() is True
    second = rotating.file.path.read_text()
    assert second != first
    claims = jwt.decode(second, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600
    assert claims["sub"] == "system:serviceaccount:default:workload"


async def test_a_file_token_over_it_never_yields_an_expired_token(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A cache over FileToken, across many lifetimes of a rotating file: always a live token."""
    issuer = AuthorizationServer(clock=clock).workload_issuer
    rotating = issuer.token_file(tmp_path / "volume", lifetime=100)
    source = reuse(FileToken(rotating.file.path, clock=clock), clock=clock)
    seen: set[str] = set()
    for _ in range(50):  # ten lifetimes, in steps of a fifth
        rotating.rotate_if_due()
        token = await source.token()
        assert token.expires_at is not None
        assert token.expires_at > clock()
        seen.add(token.access_token)
        clock.advance(20)
    assert rotating.rotations == len(seen) >= 10


async def test_keep_rotating_rotates_in_the_background_until_the_block_ends(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Each check sees the issuer's clock; leaving the block stops the checks."""
    issuer = AuthorizationServer(clock=clock).workload_issuer
    rotating = issuer.token_file(tmp_path / "volume", lifetime=10)
    checks = 0

    async def sleep(seconds: float) -> None:
        nonlocal checks
        checks += 1
        clock.advance(seconds)
        await anyio.lowlevel.checkpoint()

    with anyio.fail_after(10):
        async with rotating.keep_rotating(check_every=4, sleep=sleep):
            while checks < 20:  # 80 s of issuer time: a rewrite every 8 s
                await anyio.lowlevel.checkpoint()
    after = rotating.rotations
    assert 9 <= after <= 11
    for _ in range(5):
        await anyio.lowlevel.checkpoint()
    assert rotating.rotations == after


def test_settings_that_cannot_work_are_refused(tmp_path: Path) -> None:
    """A lifetime or check interval that is not positive is a ConfigError."""
    issuer = AuthorizationServer().workload_issuer
    with pytest.raises(ConfigError, match="lifetime"):
        issuer.token_file(tmp_path / "a", lifetime=0)
