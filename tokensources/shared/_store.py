"""The store of a shared token: a client's commands, bounded, with scripts where they help.

``Store`` is what the fleet level talks to. It holds the client's
``Commands`` (see ``_commands``) and a ``Guard`` bounding each operation,
and runs the short Lua scripts that make an operation one round trip and
atomic (the state read, compare-and-delete, compare-and-extend).

Some servers refuse scripts: an ACL user without ``EVAL``, a managed
service that renamed or disabled it. Scripts are an optimisation, not a
requirement: when the server refuses one, the operation runs as plain
commands instead (a few round trips, and compare-and-delete no longer
atomic: see ``_lock``), a warning says so once, and scripts are tried again
after ``SCRIPT_RETRY`` seconds, so that a server whose ACL is fixed gets
them back without a restart.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence

import anyio

from .._log import logger
from ._commands import Commands
from ._guard import Guard

__all__ = ["SCRIPT_RETRY", "Store"]

SCRIPT_RETRY = 300.0
"""Seconds between attempts at scripts once the server has refused one."""


class Store:
    """The store behind one ``RedisShared``: commands, scripts with a fallback, a guard.

    Args:
        commands: the client's adapter.
        timeout: seconds each operation may take (``redis_timeout``).
    """

    __slots__ = ("_scripts_back_at", "commands", "guard")

    def __init__(self, commands: Commands, timeout: float) -> None:
        self.commands = commands
        self.guard = Guard(commands.failures, timeout, commands.secrets())
        self._scripts_back_at = -math.inf

    @property
    def scripting(self) -> bool:
        """Whether scripts are used at the moment (False for a while after a refusal)."""
        return anyio.current_time() >= self._scripts_back_at

    async def script(
        self,
        source: str,
        keys: Sequence[str],
        args: Sequence[int | str],
        plain: Callable[[], Awaitable[object]],
    ) -> object:
        """The reply of the script ``source``, or of ``plain()`` if the server refuses scripts.

        Raises:
            Exception: one of the client's ``failures``, other than a refusal.
        """
        if self.scripting:
            try:
                return await self.commands.eval(source, keys, args)
            except self.commands.failures as exc:
                if not self.commands.refused(exc):
                    raise
                self._scripts_back_at = anyio.current_time() + SCRIPT_RETRY
                logger.warning(
                    "Redis refused a script (%s); using plain commands instead, "
                    "and trying scripts again in %.0fs",
                    self.guard.describe(exc),
                    SCRIPT_RETRY,
                )
        return await plain()
