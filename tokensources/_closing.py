"""``async with`` for everything that has ``aclose()``."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AsyncClosing"]


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
