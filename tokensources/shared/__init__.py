"""Shared sources: one token for many clients, processes and hosts.

``InMemoryShared`` shares a token between sources with the same identity in
one process; ``RedisShared`` shares it across a fleet through Redis.
Importing this package does not import ``redis`` (an optional extra).
"""

from __future__ import annotations

from ._memory import InMemoryShared, SharedStore, default_store
from ._redis import RedisShared

__all__ = ["InMemoryShared", "RedisShared", "SharedStore", "default_store"]
