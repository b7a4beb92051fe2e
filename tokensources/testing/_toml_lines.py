"""Where the tables and keys of a TOML document are: its lines, for error messages.

``tomllib`` gives no positions for what it parsed, so a valid TOML file is
read again, line by line, beside its parsed document. Headers (``[a.b]``,
``[[a.b]]``) and ``key =`` lines give the lines of tables and keys; an
inline table is on one line (TOML 1.0), so everything in it is on that
line; inline tables in a multi-line array are found by their ``{``.
Strings and comments are skipped, so a bracket inside them counts for nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["toml_lines"]

# A TOML key (bare, "basic" or 'literal'), dotted keys, headers and key lines.
_KEY = r"""[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'"""
_DOTTED = rf"(?:{_KEY})(?:\s*\.\s*(?:{_KEY}))*"
_HEADER = re.compile(rf"\s*(\[\[?)\s*({_DOTTED})\s*\]")
_KEY_LINE = re.compile(rf"\s*({_DOTTED})\s*=")
_PART = re.compile(_KEY)


def _unquoted(part: str) -> str:
    if part.startswith('"'):
        text: str = json.loads(part)  # a basic string's escapes are JSON's, near enough
        return text
    return part[1:-1] if part.startswith("'") else part


def _parts(dotted: str) -> list[str]:
    return [_unquoted(part) for part in _PART.findall(dotted)]


def _mark(lines: dict[tuple[int, str | None], int], value: object, number: int) -> None:
    """Put every container inside an inline ``value`` (one line in TOML 1.0) on line ``number``."""
    if isinstance(value, dict):
        lines.setdefault((id(value), None), number)
        for key, item in value.items():
            lines.setdefault((id(value), key), number)
            _mark(lines, item, number)
    elif isinstance(value, list):
        lines.setdefault((id(value), None), number)
        for item in value:
            _mark(lines, item, number)


class _TomlLines:
    """Walks a valid TOML file's lines beside its parsed document, noting where things are.

    It follows headers (``[a.b]``, ``[[a.b]]``) and ``key =`` lines at the
    top level of a table, and the start of each inline table in a
    multi-line array; inside strings and brackets it only counts depth.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.lines: dict[tuple[int, str | None], int] = {}
        self.table: Any = data
        self.tables_seen: dict[int, int] = {}  # arrays of tables: headers seen so far
        self.depth = 0  # brackets open from earlier lines
        self.quote: str | None = None  # an open multi-line string's quotes
        self.array: list[Any] | None = None  # the multi-line array being read
        self.element = 0

    def _walk(self, parts: list[str], number: int) -> Any:
        node: Any = self.data
        for part in parts:
            if isinstance(node, dict):
                self.lines.setdefault((id(node), part), number)
                node = node.get(part)
            if isinstance(node, list) and node:
                node = node[max(self.tables_seen.get(id(node), 1) - 1, 0)]
        return node

    def header(self, double: bool, parts: list[str], number: int) -> None:
        parent = self._walk(parts[:-1], number)
        if not isinstance(parent, dict):
            return
        self.lines.setdefault((id(parent), parts[-1]), number)
        node = parent.get(parts[-1])
        if double and isinstance(node, list):
            seen = self.tables_seen.get(id(node), 0)
            self.tables_seen[id(node)] = seen + 1
            node = node[seen] if seen < len(node) else None
        if isinstance(node, dict):
            self.table = node
            self.lines[(id(node), None)] = number

    def key(self, parts: list[str], number: int) -> Any:
        node: Any = self.table
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return None
        self.lines.setdefault((id(node), parts[-1]), number)
        return node.get(parts[-1])

    def scan(self, text: str, number: int) -> None:
        """Count the brackets of one line outside strings and comments."""
        index = 0
        while index < len(text):
            if self.quote is not None:
                end = text.find(self.quote, index)
                if end < 0:
                    return
                index, self.quote = end + 3, None
                continue
            char = text[index]
            if char == "#":
                return
            if text.startswith(('"""', "'''"), index):
                self.quote = text[index : index + 3]
                index += 3
                continue
            if char in "\"'":
                index = _string_end(text, index)
                continue
            if char in "[{":
                if char == "{" and self.array is not None and self.depth == 1:
                    self._element(number)
                self.depth += 1
            elif char in "]}":
                self.depth -= 1
                if self.depth == 0:
                    self.array = None
            index += 1

    def _element(self, number: int) -> None:
        assert self.array is not None  # noqa: S101 - only called while reading one
        if self.element < len(self.array):
            _mark(self.lines, self.array[self.element], number)
        self.element += 1


def _string_end(text: str, start: int) -> int:
    quote, index = text[start], start + 1
    while index < len(text) and text[index] != quote:
        index += 2 if quote == '"' and text[index] == "\\" else 1
    return index + 1


def toml_lines(text: str, data: dict[str, Any]) -> dict[tuple[int, str | None], int]:
    """Where each table and key of a valid TOML document is, as ``ConfigText.lines``."""
    walker = _TomlLines(data)
    walker.lines[(id(data), None)] = 1
    for number, line in enumerate(text.splitlines(), start=1):
        rest = line
        if walker.depth == 0 and walker.quote is None:
            header = _HEADER.match(line)
            if header is not None:
                walker.header(header[1] == "[[", _parts(header[2]), number)
                continue
            found = _KEY_LINE.match(line)
            if found is not None:
                value = walker.key(_parts(found[1]), number)
                rest = line[found.end() :]
                if isinstance(value, dict):  # an inline table: all on this line
                    _mark(walker.lines, value, number)
                elif isinstance(value, list):  # its inline tables may be on lines of their own
                    walker.lines[(id(value), None)] = number
                    walker.array, walker.element = value, 0
        walker.scan(rest, number)
    return walker.lines
