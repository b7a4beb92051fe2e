"""Wrappers: each takes a token source and returns one.

``reuse()`` caches, ``buffer()`` schedules early refreshes and ``retry()``
retries transient failures. The usual stack, outermost first::

    source = reuse(buffer(retry(ClientCredentials(...)), seconds=300))
"""

from __future__ import annotations

from ._buffer import Buffer, buffer
from ._policy import TokenCallback
from ._retry import Retry, Sleep, retry
from ._reuse import Reuse, reuse

__all__ = ["Buffer", "Retry", "Reuse", "Sleep", "TokenCallback", "buffer", "retry", "reuse"]
