"""Token sources: where tokens come from. None of them caches; see ``reuse()``."""

from __future__ import annotations

from ._client_credentials import AuthStyle, ClientCredentials
from ._discovery import discover
from ._static import Static

__all__ = ["AuthStyle", "ClientCredentials", "Static", "discover"]
