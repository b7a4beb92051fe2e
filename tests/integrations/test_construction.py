"""Options of the wrong kind fail when an adapter or a blocking view is built, not later.

A misspelled private-loop backend would otherwise show only at the first
refresh from a thread, and a clock that is not callable at the first 401.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tokensources import ConfigError, Static, blocking
from tokensources.aiohttp import TokenMiddleware
from tokensources.requests import TokenAuth
from tokensources.wrappers import reuse

BUILDERS: dict[str, Callable[..., object]] = {
    "blocking": blocking,
    "requests": TokenAuth,
    "aiohttp": TokenMiddleware,
}


@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
@pytest.mark.parametrize("backend", ["curio", "", None, 3])
def test_an_unknown_portal_backend_is_a_config_error(
    build: Callable[..., object], backend: Any
) -> None:
    """portal_backend must be "asyncio" or "trio"."""
    with pytest.raises(ConfigError, match="portal_backend must be 'asyncio' or 'trio'"):
        build(reuse(Static("t0k3n")), portal_backend=backend)


@pytest.mark.parametrize("build", [TokenAuth, TokenMiddleware], ids=["requests", "aiohttp"])
@pytest.mark.parametrize("clock", [1_800_000_000.0, "now"])
def test_a_clock_that_cannot_be_called_is_a_config_error(
    build: Callable[..., object], clock: Any
) -> None:
    """clock must be a callable such as time.time."""
    with pytest.raises(ConfigError, match="clock must be a callable"):
        build(reuse(Static("t0k3n")), clock=clock)
