"""Reading a configuration file (JSON, or TOML on Python 3.11+) and knowing where things are.

A problem in a file is reported with the file, the line and the field. The
JSON reader keeps where every object and array started and ended, so a
field's line is known exactly. TOML's parser (``tomllib``) gives lines for
its own syntax errors only, so the TOML file is read a second time, line by
line, for where its tables and keys are (``_toml_lines``).
"""

from __future__ import annotations

import importlib
import json
import json.decoder
import json.scanner
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ._toml_lines import toml_lines

__all__ = ["ConfigText", "read_config"]

_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")
_Span = tuple[int, int]


@dataclass
class ConfigText:
    """A parsed configuration file and where its objects are.

    Attributes:
        path: the file.
        data: the parsed document.
        text: the file's text.
        spans: where each JSON object or array starts and ends, by ``id()``
            (the containers are kept alive in ``data``); empty for TOML.
        lines: for TOML, the line of each table (``(id(table), None)``) and
            of each key in it (``(id(table), key)``), where they were found.
    """

    path: Path
    data: Any
    text: str
    spans: dict[int, _Span] = field(default_factory=dict)
    lines: dict[tuple[int, str | None], int] = field(default_factory=dict)

    def line(self, container: object, key: str | None = None) -> int | None:
        """The line of ``key`` in ``container`` (or of the container), when the parser knows it."""
        if self.lines:
            at = self.lines.get((id(container), key))
            return at if at is not None else self.lines.get((id(container), None))
        span = self.spans.get(id(container))
        if span is None:
            return None
        start, end = span
        if key is not None:
            own = self._without_children(start, end)
            found = re.search(re.escape(json.dumps(key)) + r"\s*:", own)
            if found is not None:
                start += found.start()
        return self.text.count("\n", 0, start) + 1

    def _without_children(self, start: int, end: int) -> str:
        chars = list(self.text[start:end])
        for child_start, child_end in self.spans.values():
            if start < child_start and child_end <= end:
                chars[child_start - start : child_end - start] = " " * (child_end - child_start)
        return "".join(chars)

    def where(self, container: object = None, key: str | None = None) -> str:
        """``file:line`` (or ``file`` when the line is unknown), for messages."""
        line = self.line(container, key) if container is not None else None
        return f"{self.path}:{line}" if line is not None else str(self.path)


class _DuplicateKey(Exception):  # noqa: N818 - a control-flow signal
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _read_json(path: Path, text: str) -> ConfigText:
    spans: dict[int, _Span] = {}
    kept: list[object] = []  # ids stay unique only while the objects live

    def tracked(parse: Callable[..., tuple[Any, int]]) -> Callable[..., tuple[Any, int]]:
        def wrapper(s_and_end: tuple[str, int], *args: Any, **kwargs: Any) -> tuple[Any, int]:
            start = s_and_end[1] - 1
            try:
                value, end = parse(s_and_end, *args, **kwargs)
            except _DuplicateKey as exc:
                line = text.count("\n", 0, start) + 1
                raise ConfigError(f"{path}:{line}: the key {exc.key!r} appears twice") from None
            spans[id(value)] = (start, end)
            kept.append(value)
            return value, end

        return wrapper

    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates)
    # The pure-Python scanner asks the decoder for its object and array
    # parsers, so wrapping them tells where each container starts and ends.
    decoder.parse_object = tracked(json.decoder.JSONObject)  # type: ignore[attr-defined]
    decoder.parse_array = tracked(json.decoder.JSONArray)  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        data = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    return ConfigText(path, data, text, spans)


def _read_toml(path: Path, text: str) -> ConfigText:
    try:
        tomllib: Any = importlib.import_module("tomllib")  # Python 3.11+
    except ModuleNotFoundError:
        raise ConfigError(
            f"{path}: TOML needs Python 3.11 or later (tomllib); use a JSON file"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        where = f"{path}:{found[1]}" if found else str(path)
        reason = _TOML_LINE.sub("", str(exc)).strip()
        raise ConfigError(f"{where}: not valid TOML ({reason})") from None
    return ConfigText(path, data, text, lines=toml_lines(text, data))


def read_config(path: Path) -> ConfigText:
    """Read and parse the configuration file at ``path``: ``.toml`` as TOML, else JSON.

    Raises:
        ConfigError: the file cannot be read or parsed; naming the file and,
            for a syntax error or a repeated key, the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the file is not UTF-8 text") from None
    if path.suffix.lower() == ".toml":
        return _read_toml(path, text)
    return _read_json(path, text)
