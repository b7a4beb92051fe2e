"""Importing tokensources imports no client library; choosing an adapter imports no other."""

from __future__ import annotations

import subprocess
import sys

import pytest

LIBRARIES = ("redis", "valkey", "coredis")


def run(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", code], timeout=60, check=False, capture_output=True, text=True
    )


@pytest.mark.parametrize("module", ["tokensources", "tokensources.shared"])
def test_importing_the_package_imports_no_client_library(module: str) -> None:
    """``import tokensources`` (and its shared package) leaves redis, valkey and coredis out."""
    code = f"import sys, {module}; print(sorted(m for m in {LIBRARIES!r} if m in sys.modules))"
    completed = run(code)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("library", "client"),
    [
        ("redis", "import redis.asyncio as m; c = m.Redis()"),
        ("valkey", "import valkey.asyncio as m; c = m.Valkey()"),
        ("coredis", "import coredis as m; c = m.Redis()"),
    ],
)
def test_a_client_of_one_library_imports_no_other(library: str, client: str) -> None:
    """RedisShared over a client of one library imports neither of the other two."""
    code = (
        f"import sys; {client}\n"
        "from tokensources import Static\n"
        "from tokensources.shared import RedisShared\n"
        "RedisShared(Static('t'), c, key='k')\n"
        f"print(sorted(m for m in {LIBRARIES!r} if m in sys.modules))"
    )
    completed = run(code)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == repr([library])
