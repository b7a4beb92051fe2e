"""Static: a token you already have."""

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock
from tokensources import ConfigError, Static, Token, TokenExpiredError

pytestmark = pytest.mark.anyio


async def test_string_becomes_a_bearer_token_without_expiry(clock: FakeClock) -> None:
    """A bare string is a Bearer token that never expires."""
    source = Static("abc", clock=clock)
    clock.advance(10**9)
    token = await source.token()
    assert (token.access_token, token.token_type, token.expires_at) == ("abc", "Bearer", None)


async def test_expired_static_token_raises(clock: FakeClock) -> None:
    """Past its known expiry, a static token raises TokenExpiredError without showing it."""
    source = Static(Token("static-secret", expires_at=clock.now + 10), clock=clock)
    assert (await source.token()).access_token == "static-secret"
    source.invalidate(await source.token())
    clock.advance(10)
    with pytest.raises(TokenExpiredError) as info:
        await source.token()
    assert "static-secret" not in str(info.value)
    assert "static-secret" not in repr(source)


def test_bad_input_is_a_config_error() -> None:
    """Anything but a string or a Token is refused."""
    with pytest.raises(ConfigError):
        Static(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Static("")
