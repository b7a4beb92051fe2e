"""Token files as the kubelet writes them: atomic ``..data`` swaps, rotated before they grow old.

The kubelet rewrites a projected service-account token once 80 % of its
lifetime has passed (or it is older than a day), so a workload always finds
a token with a fifth of its life left. ``RotatingTokenFile`` does the same
on the workload issuer's clock: ``rotate_if_due()`` for tests that move a
fake clock, ``keep_rotating()`` for a server or demo running in real time.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from .._errors import ConfigError
from .._source import Clock

__all__ = ["ROTATE_AT", "KubernetesTokenFile", "RotatingTokenFile"]

# The kubelet's rule: rewrite after 80 % of the token's lifetime.
ROTATE_AT = 0.8
_MAX_AGE = 24 * 3600.0


class KubernetesTokenFile:
    """A token file written as the kubelet writes projected volumes.

    The directory holds ``..<n>/<name>`` (the data), ``..data`` (a symlink
    to the current ``..<n>``) and ``<name>`` (a symlink to
    ``..data/<name>``). ``write()`` puts new contents in a new ``..<n>``,
    swaps ``..data`` to it atomically (``rename`` of a new symlink over the
    old one) and removes the old directory: a reader of ``path`` sees the
    old file or the new one, never half of one.

    Args:
        directory: where the volume lives (created if missing).
        name: the file name under it.
    """

    def __init__(self, directory: str | os.PathLike[str], name: str = "token") -> None:
        self.directory = Path(directory)
        self.name = name
        self.writes = 0
        self.directory.mkdir(parents=True, exist_ok=True)

    @property
    def path(self) -> Path:
        """The path a workload reads (``<directory>/<name>``)."""
        return self.directory / self.name

    def write(self, contents: str) -> None:
        """Replace the file's contents with the atomic ``..data`` swap."""
        self.writes += 1
        data_dir = self.directory / f"..{self.writes}"
        data_dir.mkdir()
        (data_dir / self.name).write_text(contents, encoding="ascii")
        link = self.directory / "..data"
        old = os.readlink(link) if link.is_symlink() else None
        staged = self.directory / "..data_tmp"
        staged.unlink(missing_ok=True)
        staged.symlink_to(data_dir.name)
        staged.replace(link)
        if not self.path.is_symlink():
            self.path.symlink_to(Path("..data") / self.name)
        if old is not None:
            old_dir = self.directory / old
            for child in old_dir.iterdir():
                child.unlink()
            old_dir.rmdir()


class RotatingTokenFile:
    """A ``KubernetesTokenFile`` that is rewritten with a new token before it grows old.

    Made by ``WorkloadIssuer.token_file()``, which writes the first token at
    once.

    Args:
        file: the file (its ``..data`` swaps make every rewrite atomic).
        mint: makes the next token.
        lifetime: the seconds each token lives (as minted by ``mint``).
        clock: the issuer's clock.

    Attributes:
        file: the file a workload reads (``file.path``).
        rotations: how many tokens were written, the first included.
    """

    def __init__(
        self, file: KubernetesTokenFile, mint: Callable[[], str], *, lifetime: float, clock: Clock
    ) -> None:
        if not lifetime > 0:
            raise ConfigError("lifetime must be a positive number of seconds")
        self.file = file
        self._mint = mint
        self._lifetime = lifetime
        self._clock = clock
        self._written_at = 0.0
        self.rotations = 0
        self.rotate()

    @property
    def due_at(self) -> float:
        """When the current token is due for a rewrite (by the issuer's clock)."""
        return self._written_at + min(self._lifetime * ROTATE_AT, _MAX_AGE)

    def rotate(self) -> None:
        """Write a new token now."""
        self.file.write(self._mint())
        self._written_at = self._clock()
        self.rotations += 1

    def rotate_if_due(self) -> bool:
        """Write a new token if the current one has lived 80 % of its lifetime; say whether."""
        if self._clock() < self.due_at:
            return False
        self.rotate()
        return True

    @asynccontextmanager
    async def keep_rotating(
        self,
        check_every: float = 1.0,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> AsyncIterator[RotatingTokenFile]:
        """Rotate in the background while the block runs, checking every ``check_every`` seconds.

        Args:
            check_every: seconds between checks (real time, through ``sleep``).
            sleep: how to wait between checks.
        """
        if not check_every > 0:
            raise ConfigError("check_every must be a positive number of seconds")
        async with anyio.create_task_group() as group:

            async def rotating() -> None:
                while True:
                    await sleep(check_every)
                    self.rotate_if_due()

            group.start_soon(rotating)
            try:
                yield self
            finally:
                group.cancel_scope.cancel()

    def __repr__(self) -> str:
        return f"RotatingTokenFile({str(self.file.path)!r}, rotations={self.rotations})"
