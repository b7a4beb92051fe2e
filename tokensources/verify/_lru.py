"""A bounded mapping that forgets the least recently used entry first."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from .._errors import ConfigError

__all__ = ["LRU", "check_cache_size"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def check_cache_size(size: object) -> int:
    """``size`` as an entry count (0 turns a cache off).

    Raises:
        ConfigError: it is not an int >= 0.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ConfigError(f"cache_size must be an int >= 0, got {size!r}")
    return size


class LRU(Generic[K, V]):
    """At most ``size`` entries; adding one more drops the one used least recently.

    A lookup that finds an entry makes it the most recently used. Safe from
    any thread: every operation holds a lock for a few dictionary steps and
    never calls out.
    """

    __slots__ = ("_entries", "_lock", "_size")

    def __init__(self, size: int) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The entry under ``key``, now the most recently used, or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Store ``value`` under ``key`` as the most recently used; drop the oldest if full."""
        with self._lock:
            entries = self._entries
            entries[key] = value
            entries.move_to_end(key)
            while len(entries) > self._size:
                entries.popitem(last=False)

    def discard(self, key: K, value: V) -> None:
        """Remove the entry under ``key`` if it is still ``value`` (a newer one stays)."""
        with self._lock:
            if self._entries.get(key) is value:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The most entries kept."""
        return self._size
