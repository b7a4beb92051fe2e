"""HTML for the debug page, escaped by construction: text is escaped unless marked as markup."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Markup", "Piece", "element", "escape", "join", "table"]


@dataclass(frozen=True, slots=True)
class Markup:
    """A piece of HTML built by this module: the only thing written out without escaping."""

    html: str


# A piece of a page: text (escaped when written) or markup (written as it is).
Piece = str | Markup


def escape(piece: Piece) -> str:
    """``piece`` as HTML: text escaped (``<``, ``>``, ``&``, both quotes), markup as it is."""
    if isinstance(piece, Markup):
        return piece.html
    return html.escape(piece, quote=True)


def join(pieces: Iterable[Piece], separator: str = "") -> Markup:
    """The pieces, each escaped as needed, one after the other."""
    return Markup(separator.join(escape(piece) for piece in pieces))


def element(tag: str, *children: Piece, **attributes: str) -> Markup:
    """``<tag attr="value">children</tag>``; attribute values are escaped too.

    ``tag`` and the attribute names are this module's callers' own constants,
    never data; a trailing ``_`` is dropped (``class_`` for ``class``).
    """
    attrs = "".join(
        f' {name.rstrip("_").replace("_", "-")}="{html.escape(value, quote=True)}"'
        for name, value in attributes.items()
    )
    if tag in ("input", "meta", "br"):
        return Markup(f"<{tag}{attrs}>")
    return Markup(f"<{tag}{attrs}>{join(children).html}</{tag}>")


def table(headers: Sequence[str], rows: Iterable[Sequence[Piece]], *, empty: str) -> Markup:
    """A table with a header row; ``empty`` is shown instead when there are no rows."""
    body = [element("tr", *(element("td", cell) for cell in row)) for row in rows]
    if not body:
        return element("p", empty, class_="empty")
    head = element("tr", *(element("th", header) for header in headers))
    return element("table", element("thead", head), element("tbody", *body))
