"""Shared sources: one token for many clients, processes and hosts.

``InMemoryShared`` shares a token between sources with the same identity in
one process; ``RedisShared`` shares it across a fleet through Redis (or
Valkey), spoken to by redis-py, valkey-py or coredis (which runs on trio
too). Importing this package imports none of them (optional extras).
"""

from __future__ import annotations

from ._memory import InMemoryShared, SharedStore, default_store
from ._redis import RedisShared

__all__ = ["InMemoryShared", "RedisShared", "SharedStore", "default_store"]
