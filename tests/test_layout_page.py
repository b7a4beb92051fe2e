"""The contributor page "Where things live" names only paths that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "layout.md"
# A code span in a table row that looks like a repository path.
_PATH = re.compile(r"`((?:tokensources|tests|benchmarks|docs)/[^`\s]*)`")


def page_paths(text: str) -> list[str]:
    """Every repository path the page's table rows name, in order."""
    rows = (line for line in text.splitlines() if line.startswith("|"))
    return [match for row in rows for match in _PATH.findall(row)]


def exists(path: str) -> bool:
    """Whether ``path`` is a folder (when it ends in /) or a file of the repository."""
    return (ROOT / path).is_dir() if path.endswith("/") else (ROOT / path).is_file()


def test_every_path_on_the_layout_page_exists() -> None:
    """Each module or package the page names is there, as a file or (ending in /) a folder."""
    paths = page_paths(PAGE.read_text(encoding="utf-8"))
    assert len(paths) >= 50  # the parse found the tables
    assert [path for path in paths if not exists(path)] == []


def test_each_path_has_one_row() -> None:
    """A module is the home of its concepts once: no path appears in two rows."""
    paths = page_paths(PAGE.read_text(encoding="utf-8"))
    assert sorted(path for path in set(paths) if paths.count(path) > 1) == []


def test_a_missing_path_is_caught() -> None:
    """The check sees a row naming a module that does not exist."""
    paths = page_paths("| a concept | `tokensources/_no_such_module.py` |\n")
    assert paths == ["tokensources/_no_such_module.py"]
    assert not exists(paths[0])
    assert not exists("tokensources/_token.py/")  # a file named as a folder
