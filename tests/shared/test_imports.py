"""Importing the shared sources does not import redis (an optional extra)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_shared_sources_does_not_import_redis() -> None:
    """``import tokensources.shared`` leaves redis out of sys.modules."""
    code = "import sys, tokensources.shared; sys.exit('redis' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], timeout=60, check=False)
    assert completed.returncode == 0
