"""The one plain-text table renderer of the command line, the benchmarks and the tests."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Row", "format_cell", "text_table"]

Row = Mapping[str, Any]

_GAP = "   "


def format_cell(value: Any) -> str:
    """A table cell for ``value``.

    Integers get thousands separators (``10,000``); floats three decimals
    below 10 and one from there (``0.125``, ``1,166.0``); NaN, the
    percentile of nothing, is ``–``; text is left as it is.
    """
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def text_table(rows: Sequence[Row], columns: Sequence[str], *, indent: str = "") -> str:
    """``rows`` as an aligned plain-text table of the given ``columns``.

    The first column (names, labels) is aligned left, every other column
    (numbers) right, headings included; a rule of dashes separates the
    headings from the rows. A row without a value for a column shows an
    empty cell. Each line starts with ``indent``.
    """
    header = list(columns)
    cells = [[format_cell(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        aligned = [
            value.ljust(width) if index == 0 else value.rjust(width)
            for index, (value, width) in enumerate(zip(values, widths, strict=True))
        ]
        return (indent + _GAP.join(aligned)).rstrip()

    rule = indent + _GAP.join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(values) for values in cells)])
