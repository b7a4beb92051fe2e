"""The library's logger. Log lines name tokens only by fingerprint."""

from __future__ import annotations

import logging

__all__ = ["logger"]

logger = logging.getLogger("tokensources")
