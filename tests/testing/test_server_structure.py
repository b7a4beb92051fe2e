"""The testing server is made of parts that receive what they use: no reaching in, no loops.

Read from the source (``ast``), so every module of ``tokensources.testing``
is checked whether or not a test imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tokensources.testing

PACKAGE = "tokensources.testing"
ROOT = Path(tokensources.testing.__file__).parent


def modules() -> dict[str, ast.Module]:
    """Every module of the package by its short name (``__init__`` for the package)."""
    return {
        path.stem: ast.parse(path.read_text(encoding="utf-8"), str(path))
        for path in sorted(ROOT.glob("*.py"))
    }


def imported_modules(tree: ast.Module, names: set[str]) -> set[str]:
    """The package's modules ``tree`` imports anywhere: top level, functions, TYPE_CHECKING."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 1:
            base = node.module
        elif node.level == 0 and (node.module or "").startswith(PACKAGE):
            base = (node.module or "").removeprefix(PACKAGE).lstrip(".") or None
        else:
            continue
        if base is not None:
            found.add(base)
            continue
        # ``from . import name``: a submodule, or a name read from the package's __init__.
        found |= {alias.name if alias.name in names else "__init__" for alias in node.names}
    return found & names


def find_loop(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop of ``graph`` as ``[a, b, …, a]``, or None when there is none."""
    done: set[str] = set()

    def walk(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            loop = walk(target, [*path, node])
            if loop is not None:
                return loop
        done.add(node)
        return None

    for start in sorted(graph):
        loop = walk(start, [])
        if loop is not None:
            return loop
    return None


def test_no_module_reaches_into_another_objects_private_members() -> None:
    """Outside ``self`` and ``cls``, no attribute starting with ``_`` is read or called."""
    offenders = [
        f"{name}.py:{node.lineno}: {ast.unparse(node)}"
        for name, tree in modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]

    assert offenders == []


def test_the_server_modules_import_each_other_without_a_loop() -> None:
    """No module imports itself back through others, not even under TYPE_CHECKING."""
    trees = modules()
    graph = {name: imported_modules(tree, set(trees)) - {name} for name, tree in trees.items()}

    assert len(graph) > 10  # every part was read
    assert "_server" in graph["__init__"]  # the graph sees relative imports
    assert find_loop(graph) is None


def test_the_loop_finder_reports_a_loop_through_a_type_checking_import() -> None:
    """An import under TYPE_CHECKING closes a loop as much as any other import."""
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._a import A\n"
    names = {"_a", "_b"}
    graph = {
        "_a": imported_modules(ast.parse("from ._b import B\n"), names),
        "_b": imported_modules(ast.parse(source), names),
    }

    assert find_loop(graph) == ["_a", "_b", "_a"]
