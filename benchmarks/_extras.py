"""What the benchmarks need beyond the package, and how to say that something is missing.

The core benchmarks need only the package. Three things come from the
``bench`` extra: the peers compared side by side (Authlib, httpx-auth) and
matplotlib for the plots. A benchmark leaves out a missing peer and says so;
the report, which cannot do without matplotlib, stops and says what to
install.
"""

from __future__ import annotations

import importlib.util

__all__ = ["INSTALL_BENCH", "PEERS", "left_out_note", "missing_peers", "plotting_missing"]

INSTALL_BENCH = 'pip install -e ".[bench]"'

# Import name → the name the tables use and the package to install.
PEERS = {"authlib": ("authlib", "authlib"), "httpx_auth": ("httpx-auth", "httpx-auth")}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package that fails to import
        return False


def missing_peers() -> list[str]:
    """The peers that are not installed, by the name the tables use."""
    return [name for module, (name, _) in PEERS.items() if not _installed(module)]


def left_out_note(missing: list[str]) -> str:
    """One line saying which peers a run leaves out and how to get them."""
    packages = " ".join(package for _, (name, package) in PEERS.items() if name in missing)
    return (
        f"left out (not installed): {', '.join(missing)}; "
        f"install with: pip install {packages}  (or {INSTALL_BENCH}, which also brings the plots)"
    )


def plotting_missing() -> str | None:
    """Why the plots cannot be drawn (matplotlib is missing), or None when they can."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return (
            "the plots need matplotlib, which is not installed; "
            f"install the benchmark extra: {INSTALL_BENCH}"
        )
    return None
