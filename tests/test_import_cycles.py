"""No module of tokensources imports itself back at run time, directly or through others.

An import cycle works only while every module of the loop happens to be
imported in the right order; one new import at module level, or an import
from a different entry point, and a name is read from a half-initialised
module. The detector reads the source (``ast``), so it sees every module
whether or not anything imports it, and counts only what runs when a module
is imported:

- statements at module level, including those inside ``if``/``try``/``with``
  blocks and class bodies;
- not imports inside functions (they run later, when called);
- not imports under ``if TYPE_CHECKING:`` (they never run).

``import a.b`` and ``from a import b`` are edges to ``a.b``; ``from a import
name`` where ``name`` is not a submodule is an edge to ``a`` (its
``__init__``); relative imports are resolved against the importing module's
package. A parent package being imported before its submodules is how
Python imports packages, not a cycle, so it is not an edge.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import tokensources

Graph = Mapping[str, frozenset[str]]


def package_modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package at ``root`` (a directory holding ``__init__.py``), by name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join([package, *parts])] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def run_time_imports(body: Iterable[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when a module with this ``body`` is imported."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from run_time_imports(node.body)
            yield from run_time_imports(node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            for block in (node.body, node.orelse, node.finalbody):
                yield from run_time_imports(block)
            for handler in node.handlers:
                yield from run_time_imports(handler.body)
        elif isinstance(node, ast.With | ast.AsyncWith | ast.For | ast.While | ast.ClassDef):
            yield from run_time_imports(node.body)
            if isinstance(node, ast.For | ast.While):
                yield from run_time_imports(node.orelse)


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module ``from <base> import …`` names, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")
    # A package's own __init__ is level 1 of itself; a plain module's level 1 is its parent.
    keep = len(parts) - node.level + (1 if is_package else 0)
    prefix = parts[:keep]
    return ".".join([*prefix, node.module] if node.module else prefix)


def _and_parents(name: str, already: set[str]) -> set[str]:
    """``name`` and the packages above it that importing it runs, less those in ``already``."""
    parts = name.split(".")
    chain = {".".join(parts[:end]) for end in range(1, len(parts) + 1)}
    return chain - already


def imports_of(module: str, path: Path, known: Mapping[str, Path]) -> frozenset[str]:
    """The modules of ``known`` that ``module`` (source at ``path``) imports at run time."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    parts = module.split(".")
    # A module's own packages are always imported (or being imported) before it runs.
    initialised = {".".join(parts[:end]) for end in range(1, len(parts) + 1)}
    found: set[str] = set()
    for node in run_time_imports(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found |= _and_parents(alias.name, initialised)
            continue
        base = _base(module, is_package, node)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in known:
                found |= _and_parents(submodule, initialised)
            else:
                # A name read from ``base``: from its __init__, even half-initialised.
                found |= _and_parents(base, initialised) | {base}
    return frozenset(found & known.keys() - {module})


def import_graph(root: Path, package: str) -> dict[str, frozenset[str]]:
    """Module → the package's modules it imports at run time, for every module under ``root``."""
    known = package_modules(root, package)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(graph: Graph) -> list[list[str]]:
    """One import loop per strongly connected group of modules, as ``[a, b, …, a]``.

    Tarjan's algorithm finds the groups of modules that all reach each
    other; each is reported by one loop through it, starting at its first
    module in sorted order, so a failure message names a path to follow.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(_loop(graph, group) for group in groups)


def _loop(graph: Graph, group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.get(node, ())):
                if target == start:
                    return [*paths[node], start]
                if target in group and target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"{sorted(group)} is not a cycle")  # pragma: no cover


def _write(root: Path, files: Mapping[str, str]) -> Path:
    """A package ``pkg`` under ``root`` made of ``files`` (relative path → source)."""
    for relative, source in files.items():
        path = root / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root / "pkg"


def _cycles_in(tmp_path: Path, files: Mapping[str, str]) -> list[list[str]]:
    return cycles(import_graph(_write(tmp_path, files), "pkg"))


def test_tokensources_has_no_import_cycle() -> None:
    """No module of the package imports itself back at run time, directly or through others."""
    root = Path(tokensources.__file__).parent
    graph = import_graph(root, "tokensources")
    assert len(graph) > 50  # every module was read, not just the top level
    found = cycles(graph)
    assert found == [], "import cycles:\n" + "\n".join(" -> ".join(loop) for loop in found)


def test_a_direct_cycle_is_found(tmp_path: Path) -> None:
    """Two modules importing each other at module level are reported as one loop."""
    found = _cycles_in(
        tmp_path,
        {"__init__.py": "", "a.py": "import pkg.b\n", "b.py": "from pkg.a import thing\n"},
    )
    assert found == [["pkg.a", "pkg.b", "pkg.a"]]


def test_a_cycle_through_relative_imports_is_found(tmp_path: Path) -> None:
    """A loop of three modules written with relative imports, across subpackages, is found."""
    found = _cycles_in(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from .sub import b\n",
            "sub/__init__.py": "",
            "sub/b.py": "from ..c import C\n",
            "c.py": "try:\n    from . import a\nexcept ImportError:\n    a = None\n",
        },
    )
    assert found == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def test_a_name_imported_from_a_package_init_is_an_edge_to_it(tmp_path: Path) -> None:
    """``from . import name`` of a re-exported name leads to the package's ``__init__``."""
    found = _cycles_in(
        tmp_path,
        {
            "__init__.py": "from ._core import Core\n",
            "_core.py": "class Core:\n    pass\n",
            "_user.py": "from . import Core\n",
            "_other.py": "import pkg._user\n",
            "helpers.py": "from pkg import _other\n",
        },
    )
    assert found == []
    found = _cycles_in(
        tmp_path / "second",
        {
            "__init__.py": "from ._core import Core\n",
            "_core.py": "from . import helper_name\n",
            "helpers.py": "",
        },
    )
    assert found == [["pkg", "pkg._core", "pkg"]]


def test_type_checking_and_function_level_imports_do_not_count(tmp_path: Path) -> None:
    """Imports that never run at import time (TYPE_CHECKING, inside a function) make no loop."""
    found = _cycles_in(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n",
            "b.py": (
                "import typing\nif typing.TYPE_CHECKING:\n    from . import a\n"
                "else:\n    import json\n\n\ndef late():\n    from .a import thing\n"
                "    return thing\n"
            ),
        },
    )
    assert found == []


def test_an_import_in_a_class_body_or_else_branch_counts(tmp_path: Path) -> None:
    """A class body and the else branch of TYPE_CHECKING run at import time, so they count."""
    found = _cycles_in(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "class A:\n    from .b import B\n",
            "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\n"
            "else:\n    from . import a\n",
        },
    )
    assert found == [["pkg.a", "pkg.b", "pkg.a"]]


def test_separate_loops_are_reported_separately(tmp_path: Path) -> None:
    """Two independent loops give two entries, each a path back to its start."""
    found = _cycles_in(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from . import b\n",
            "b.py": "from . import a\n",
            "c.py": "from . import d\n",
            "d.py": "from . import e\n",
            "e.py": "from . import c\n",
        },
    )
    assert found == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.c", "pkg.d", "pkg.e", "pkg.c"]]


def test_a_cycle_through_a_subpackage_init_is_found(tmp_path: Path) -> None:
    """Importing a submodule runs its package's ``__init__``, so a loop through it is found."""
    found = _cycles_in(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from .sub.x import X\n",
            "sub/__init__.py": "from ..a import A\n",
            "sub/x.py": "from .. import c\n",
            "c.py": "",
        },
    )
    assert found == [["pkg.a", "pkg.sub", "pkg.a"]]
