"""The README's program runs as written, against the testing server, and prints what it says.

The program is run the way a reader runs it: saved to a file and started
with a fresh interpreter, here with ``-X dev -W error`` so that an unclosed
client (a ``ResourceWarning``) or any other warning fails it.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from tokensources.cli import _serve
from tokensources.testing import DEMO_CLIENT_SECRET, AuthorizationServer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(?P<info>\S*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
_FINGERPRINT = re.compile(r"\(token [0-9a-f]{8}\)")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block of a Markdown text, as (language, body), in order."""
    return [(match["info"], match["body"]) for match in _FENCE.finditer(text)]


def program_and_output() -> tuple[str, str]:
    """The README's first Python program and the ```text block that follows it."""
    blocks = fenced_blocks(README.read_text(encoding="utf-8"))
    languages = [language for language, _ in blocks]
    first = languages.index("python")
    assert languages[first + 1] == "text", "the program's output should follow it"
    return blocks[first][1], blocks[first + 1][1]


def _masked(text: str) -> list[str]:
    return [_FINGERPRINT.sub("(token <fingerprint>)", line) for line in text.splitlines()]


def test_readme_program_runs_against_the_testing_server(tmp_path: Path) -> None:
    """The program, run with -X dev -W error, prints the README's output and fetches one token."""
    program, expected = program_and_output()
    script = tmp_path / "example.py"
    script.write_text(program, encoding="utf-8")
    server = AuthorizationServer()
    env = {**os.environ, "TOKENSOURCES_CLIENT_SECRET": DEMO_CLIENT_SECRET}
    with server.serve_in_thread() as base:
        completed = subprocess.run(
            [sys.executable, "-X", "dev", "-W", "error", str(script), base],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
    assert completed.returncode == 0, completed.stderr
    assert "Warning" not in completed.stderr
    assert _masked(completed.stdout) == _masked(expected)
    assert server.counters.token_requests == 1
    assert server.counters.api_requests == 50
    assert DEMO_CLIENT_SECRET not in completed.stdout + completed.stderr


def test_readme_program_defaults_to_the_address_tokensources_serve_uses() -> None:
    """Run without arguments, the program talks to the port ``tokensources serve`` listens on."""
    program, _ = program_and_output()
    parser = argparse.ArgumentParser()
    _serve.add_parser(parser.add_subparsers())
    defaults = parser.parse_args(["serve"])
    assert f'"http://{defaults.host}:{defaults.port}"' in program


def test_readme_first_screen_gives_exactly_the_two_scripts() -> None:
    """Before the first section, the README shows two commands: the demo and the tests."""
    text = README.read_text(encoding="utf-8")
    first_screen = text.split("\n## ", 1)[0]
    blocks = fenced_blocks(first_screen)
    assert [language for language, _ in blocks] == ["console"]
    commands = [line.split("#", 1)[0].strip() for line in blocks[0][1].splitlines()]
    assert commands == ["./scripts/demo", "./scripts/test"]
    for command in commands:
        assert os.access(ROOT / command, os.X_OK), f"{command} is not executable"


def test_readme_install_instructions_do_not_promise_the_package_index() -> None:
    """The README installs from a checkout or a wheel, and says the index does not have it."""
    text = README.read_text(encoding="utf-8")
    install_lines = [line.strip() for _, body in fenced_blocks(text) for line in body.splitlines()]
    assert "pip install tokensources" not in install_lines
    assert any(line.startswith("python -m pip install .") for line in install_lines)
    assert "not on the Python Package Index" in text
