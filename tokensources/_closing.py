"""``async with`` for everything that has ``aclose()``, ``with`` for what has ``close()``."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AsyncClosing", "Closing"]


class AsyncClosing:
    """Mixin: ``async with obj:`` returns ``obj`` and awaits ``obj.aclose()`` on exit.

    Subclasses define ``aclose()``; sources and wrappers that own nothing
    forward it to the source they wrap, so closing the outermost wrapper
    closes the whole stack.
    """

    __slots__ = ()

    async def aclose(self) -> None:
        """Release what this object owns."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Closing:
    """Mixin: ``with obj:`` returns ``obj`` and calls ``obj.close()`` on exit.

    For the synchronous views of a source (``blocking()``, the ``requests``
    and aiohttp adapters, ``TokenAuth``), whose ``close()`` lets go of the
    source's bridge.
    """

    __slots__ = ()

    def close(self) -> None:
        """Let go of what this object holds."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
