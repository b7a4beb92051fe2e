"""Every ```python example in docs/ and README.md runs, so none can rot.

How examples are run (read this before writing one):

- Each page is one test, run on asyncio and on trio. The page's ```python
  blocks run in order in one namespace (``__name__ == "__main__"``), so a
  later block may use what an earlier one defined, as a reader would.
- Top-level ``await`` and ``async with`` are allowed: such a block runs as a
  coroutine in the test's event loop. A block that starts its own event loop
  (``anyio.run``, ``asyncio.run``, ``trio.run``) or uses the sync
  ``httpx.Client`` runs in a worker thread, as a script would.
- Write real provider URLs. Every ``httpx`` client made without an explicit
  transport talks to one in-process testing server (see
  ``tests/support/docs_world.py``): token endpoints, discovery for any issuer, the
  JWKS and the demo API at ``https://api.example.com/api/private`` all work;
  the tokens' issuer is ``https://idp.example.com``. Any client id works
  with the secret in ``CLIENT_SECRET`` (also ``TOKENSOURCES_CLIENT_SECRET``);
  ``REDIS_URL`` points at a real redis-server and ``TOKEN_ENCRYPTION_KEY`` is
  a base64 AES-256 key. Loopback URLs are left alone, so an example may
  start ``AuthorizationServer().serve()`` itself; a client made with its
  own ``ssl.SSLContext`` as ``verify=`` (mutual TLS) is left alone too.
- A block using ``RedisShared`` or redis-py's asyncio client runs on asyncio
  only (redis-py has no trio support); on trio it is left out, so nothing
  later on the page may depend on it.
- Examples run in an empty working directory that holds ``private-key.pem``
  (an EC P-256 key), the file the PrivateKeyJWT page reads.
- Use ```console, ```text, ```yaml (…) for what is not Python to run. A
  Python block that truly cannot run (a fragment of a larger program) is
  preceded by ``<!-- docs-test: skip <reason> -->``; keep these rare.
- Whatever a page defines, it runs. Every function defined at the top level
  of a block must be called at least once while the page runs, and every
  class must have one of its own methods run (a class that defines no
  methods must at least be named elsewhere on the page). Being passed
  around is not enough: ``External(fetch=adapt)`` counts only once
  ``adapt`` has actually been called, and an ``async def`` only once its
  coroutine has started. Calls count from any thread. ``@overload`` stubs
  are exempt. A page that defines a function it never runs fails, naming
  the function and the line; call it in a later line or block (for example,
  fetch a token through it) rather than leaving it as decoration.
- A top-level function named ``test_*`` is a pytest test: after the page's
  blocks have run, it is called (a sync one in a worker thread), with the
  package's pytest fixtures (``oauth_server``, ``oauth_server_url``) for
  arguments of those names; any other argument is an error. Its assertions
  fail the page.
"""

from __future__ import annotations

import ast
import base64
import gc
import inspect
import os
import re
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.docs_world import DOCS_SECRET, DocsWorld
from tests.support.redis_servers import RedisServer
from tokensources.shared import default_store
from tokensources.testing import pytest_plugin

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
PAGE_TIMEOUT = 60.0

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\n`]*)$")
_SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s+(?P<reason>\S.*?)\s*-->")
_ASYNCIO_ONLY = re.compile(r"\bRedisShared\b|\bredis\.asyncio\b|^import redis\b", re.MULTILINE)
_OWN_LOOP = re.compile(r"\b(?:anyio|asyncio|trio)\.run\(|\bhttpx\.Client\(")

pytestmark = pytest.mark.anyio


def _shown(path: Path) -> str:
    """A page's path as messages show it: from the project root when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


@dataclass(frozen=True)
class Block:
    """One ```python block of a page: its source and the line it starts on."""

    path: Path
    line: int
    source: str

    @property
    def where(self) -> str:
        """``docs/page.md:12``, for messages."""
        return f"{_shown(self.path)}:{self.line}"


def python_blocks(path: Path) -> Iterator[Block]:
    """The runnable ```python blocks of a Markdown page, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        language = match["info"].strip().lstrip("{").lstrip(".").split(" ")[0]
        skipped = index > 0 and _SKIP.search(lines[index - 1]) is not None
        if language in ("python", "py") and not skipped:
            body = "\n".join(line[indent:] for line in lines[index + 1 : end])
            yield Block(path, index + 2, body)
        index = end + 1


@dataclass(frozen=True)
class Definition:
    """A function or class defined at the top level of a block."""

    block: Block
    name: str
    line: int
    by_name: bool = False  # a class without methods: enough that the page names it again

    @property
    def where(self) -> str:
        """``docs/page.md:12``: the line of the ``def`` or ``class``."""
        return f"{_shown(self.block.path)}:{self.line}"


@dataclass
class Usage:
    """What a page defined and which of those definitions ran.

    ``ran`` is a set filled by a call inserted at the start of each tracked
    function body; adding to a set is atomic, so calls from worker threads
    count too.
    """

    defined: list[Definition]
    ran: set[tuple[str, int]]

    def record(self, name: str, line: int) -> None:
        """Note that the definition ``name`` at ``line`` ran (called from the examples)."""
        self.ran.add((name, line))

    def never_ran(self, page_text: str) -> list[Definition]:
        """The definitions that did not run (a method-less class: that is never named)."""
        missing = []
        for definition in self.defined:
            if (definition.name, definition.line) in self.ran:
                continue
            named = re.findall(rf"\b{re.escape(definition.name)}\b", page_text)
            if definition.by_name and len(named) > 1:
                continue
            missing.append(definition)
        return missing


_RECORD = "__docs_test_ran__"


def _is_overload(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        (isinstance(d, ast.Name) and d.id == "overload")
        or (isinstance(d, ast.Attribute) and d.attr == "overload")
        for d in node.decorator_list
    )


def _record_first(node: ast.FunctionDef | ast.AsyncFunctionDef, name: str, line: int) -> None:
    """Make ``node``'s body start by recording ``(name, line)`` (after its docstring)."""
    first = node.body[0]
    call = ast.Expr(
        ast.Call(
            ast.Name(_RECORD, ast.Load()),
            [ast.Constant(name), ast.Constant(line)],
            [],
        )
    )
    ast.copy_location(call, first)
    ast.fix_missing_locations(call)
    docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    node.body.insert(1 if docstring else 0, call)


def instrument(tree: ast.Module, block: Block) -> list[Definition]:
    """Track the top-level functions and classes of ``tree``; return what is tracked."""
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    tracked = []
    for node in tree.body:
        if isinstance(node, functions) and not _is_overload(node):
            _record_first(node, node.name, node.lineno)
            tracked.append(Definition(block, node.name, node.lineno))
        elif isinstance(node, ast.ClassDef):
            methods = [m for m in node.body if isinstance(m, functions) and not _is_overload(m)]
            for method in methods:
                _record_first(method, node.name, node.lineno)
            tracked.append(Definition(block, node.name, node.lineno, by_name=not methods))
    return tracked


async def run_block(block: Block, namespace: dict[str, Any], usage: Usage | None = None) -> None:
    """Run one block in ``namespace``, with line numbers that point into the page.

    With ``usage``, the block's top-level functions and classes are tracked
    in it (see the module docstring).
    """
    source = "\n" * (block.line - 1) + block.source
    tree = ast.parse(source, block.where)
    if usage is not None:
        usage.defined += instrument(tree, block)
        namespace[_RECORD] = usage.record
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code = compile(tree, block.where, "exec", flags=flags, dont_inherit=True)
    if code.co_flags & inspect.CO_COROUTINE:
        await eval(code, namespace)  # noqa: S307 - running our own documentation is the point
    elif _OWN_LOOP.search(block.source):
        await anyio.to_thread.run_sync(partial(exec, code, namespace))
    else:
        exec(code, namespace)  # noqa: S102


def _patch_default_transports(monkeypatch: pytest.MonkeyPatch, world: DocsWorld) -> None:
    """Give every httpx client made without a transport or mounts the world's transport."""

    def patched(cls: type[Any], make: Callable[[], Any]) -> None:
        original = cls.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
            # A client with its own TLS context (mutual TLS) talks to the loopback
            # HTTPS server its example started, with that context.
            own_tls = isinstance(kwargs.get("verify"), ssl.SSLContext)
            if kwargs.get("transport") is None and not kwargs.get("mounts") and not own_tls:
                kwargs["transport"] = make()
            original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", __init__)

    patched(httpx.AsyncClient, world.async_transport)
    patched(httpx.Client, world.sync_transport)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the pages that use RedisShared."""
    server = RedisServer(tmp_path_factory.mktemp("docs-redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, redis_url: str, tmp_path: Path) -> Iterator[DocsWorld]:
    """The testing server every provider URL leads to, and the environment examples read."""
    # Examples run in an empty directory holding the key file they mention.
    monkeypatch.chdir(tmp_path)
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "private-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    docs_world = DocsWorld()
    _patch_default_transports(monkeypatch, docs_world)
    monkeypatch.setenv("CLIENT_SECRET", DOCS_SECRET)
    monkeypatch.setenv("TOKENSOURCES_CLIENT_SECRET", DOCS_SECRET)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", base64.b64encode(os.urandom(32)).decode())
    try:
        yield docs_world
    finally:
        docs_world.close()
        default_store().clear()
        # Whatever a page left open is reported against that page, not a later one.
        gc.collect()


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


PAGES_WITH_EXAMPLES = [page for page in PAGES if any(python_blocks(page))]


# The package's own pytest fixtures, which a page's ``test_*`` function may ask for.
PACKAGE_FIXTURES = frozenset(pytest_plugin.__all__)


async def run_page_tests(
    usage: Usage, namespace: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    """Call each top-level ``test_*`` function the page defined, as pytest would."""
    for definition in usage.defined:
        if definition.by_name or not definition.name.startswith("test_"):
            continue
        function = namespace[definition.name]
        wanted = list(inspect.signature(function).parameters)
        unknown = [name for name in wanted if name not in PACKAGE_FIXTURES]
        assert not unknown, f"{definition.where}: {definition.name}() asks for {unknown}"
        arguments = {name: request.getfixturevalue(name) for name in wanted}
        if inspect.iscoroutinefunction(function):
            await function(**arguments)
        else:
            await anyio.to_thread.run_sync(partial(function, **arguments))


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES, ids=_page_id)
async def test_page_examples_run(
    page: Path, world: DocsWorld, anyio_backend: str, request: pytest.FixtureRequest
) -> None:
    """Every Python example on the page runs, in order, and every function it defines is called."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    usage = Usage([], set())
    ran = 0
    with anyio.fail_after(PAGE_TIMEOUT):
        try:
            for block in python_blocks(page):
                if anyio_backend == "trio" and _ASYNCIO_ONLY.search(block.source):
                    continue
                await run_block(block, namespace, usage)
                ran += 1
            await run_page_tests(usage, namespace, request)
        finally:
            await world.aclose_transports()
    assert ran > 0
    page_text = "\n".join(block.source for block in python_blocks(page))
    idle = [f"{d.where} {d.name}" for d in usage.never_ran(page_text)]
    assert not idle, f"defined on the page but never run: {', '.join(idle)}"


def test_every_page_with_python_is_collected() -> None:
    """The page list is not empty and includes the landing page and the recipes."""
    names = {_page_id(page) for page in PAGES_WITH_EXAMPLES}
    assert {"docs/index.md", "docs/quickstart.md", "docs/recipes.md"} <= names


def test_skip_marker_needs_a_reason(tmp_path: Path) -> None:
    """A skip marker hides the next block only, and only when it gives a reason."""
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- docs-test: skip a fragment -->\n```python\nhidden\n```\n\n"
        "<!-- docs-test: skip -->\n```python\nshown = 1\n```\n\n```console\n$ ls\n```\n",
        encoding="utf-8",
    )
    blocks = list(python_blocks(page))
    assert [block.source for block in blocks] == ["shown = 1"]
    assert blocks[0].line == 8


async def test_functions_defined_but_never_run_are_reported(tmp_path: Path) -> None:
    """A function only passed around or never mentioned again counts as not run."""
    page = tmp_path / "page.md"
    page.write_text(
        "```python\ndef used():\n    return 1\n\n\ndef passed():\n    return 2\n\n\n"
        "def idle():\n    return 3\n\n\nclass Unused:\n    def method(self):\n"
        "        return 4\n\n\nused()\nholder = {'fetch': passed}\n```\n",
        encoding="utf-8",
    )
    usage = Usage([], set())
    namespace: dict[str, Any] = {}
    for block in python_blocks(page):
        await run_block(block, namespace, usage)
    page_text = page.read_text(encoding="utf-8")
    assert [(d.name, d.line) for d in usage.never_ran(page_text)] == [
        ("passed", 6),
        ("idle", 10),
        ("Unused", 14),
    ]


async def test_calls_from_threads_coroutines_and_methods_count(tmp_path: Path) -> None:
    """Calls in a worker thread, awaited coroutines and methods all count; docstrings stay."""
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nimport anyio.to_thread\n\n\ndef in_thread():\n    return 1\n\n\n"
        'async def awaited():\n    """Kept."""\n    return 2\n\n\n'
        "class Widget:\n    def method(self):\n        return 3\n\n\n"
        "class Plain:\n    size = 1\n```\n\n"
        "```python\nawait anyio.to_thread.run_sync(in_thread)\nawait awaited()\n"
        "Widget().method()\nprint(Plain.size)\n```\n",
        encoding="utf-8",
    )
    usage = Usage([], set())
    namespace: dict[str, Any] = {}
    for block in python_blocks(page):
        await run_block(block, namespace, usage)
    assert [d.name for d in usage.defined] == ["in_thread", "awaited", "Widget", "Plain"]
    assert usage.never_ran(page.read_text(encoding="utf-8")) == []
    assert namespace["awaited"].__doc__ == "Kept."
