"""The DPoP command-line examples of the docs run, and print what the docs show.

The ```console blocks of the DPoP sections (docs/dpop.md "From the command
line", docs/cli.md "DPoP-bound tokens" and "tokensources dpop-key") are run
command by command through the real script, in one working directory per
page, against the testing server (the docs' ``http://127.0.0.1:9096`` is
replaced by its URL; ``export`` lines set the environment). Each output is
compared with the one shown: the same lines or JSON fields, where values
that differ on every run (keys, thumbprints, tokens, times) only need the
same shape — and a thumbprint shown twice must be the same both times.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.cli import SECRET_ENV, console_script
from tokensources.testing import AuthorizationServer

ROOT = Path(__file__).resolve().parents[2]
DOCS_URL = "http://127.0.0.1:9096"
# Values that differ on every run: compared by shape, bound by placeholder.
_VARYING = ("jkt", "access_token", "expires_at")
_SECTIONS = {
    "dpop.md": ("## From the command line",),
    "cli.md": ("### DPoP-bound tokens", "## `tokensources dpop-key`"),
}


@dataclass(frozen=True)
class Example:
    """One ``$`` command of a console block and the output shown under it."""

    command: str
    shown: list[str]


def _section(text: str, heading: str) -> str:
    start = text.index(heading + "\n")
    level = heading.partition(" ")[0]
    rest = text[start + len(heading) :]
    end = re.search(rf"^#{{1,{len(level)}}} ", rest, re.MULTILINE)
    return rest if end is None else rest[: end.start()]


def _examples(section: str) -> list[Example]:
    examples: list[Example] = []
    for block in re.findall(r"```console\n(.*?)```", section, re.DOTALL):
        lines = block.splitlines()
        index = 0
        while index < len(lines):
            assert lines[index].startswith("$ "), lines[index]
            command = lines[index][2:]
            while command.endswith("\\"):
                index += 1
                command = command[:-1] + lines[index].strip()
            index += 1
            shown: list[str] = []
            while index < len(lines) and not lines[index].startswith("$ "):
                shown.append(lines[index])
                index += 1
            examples.append(Example(command, shown))
    return examples


def _page_examples(page: str) -> list[Example]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return [
        example for heading in _SECTIONS[page] for example in _examples(_section(text, heading))
    ]


class _Placeholders:
    """Varying values shown in the docs, bound to the first actual value each stands for."""

    def __init__(self) -> None:
        self._bound: dict[str, object] = {}

    def match(self, shown: object, actual: object, what: str) -> None:
        """Bind ``shown`` to ``actual``; a placeholder bound before must stand for the same."""
        bound = self._bound.setdefault(str(shown), actual)
        assert bound == actual, f"{what}: {actual!r} differs from before"


def _compare_json(shown: object, actual: object, places: _Placeholders, what: str) -> None:
    if isinstance(shown, dict):
        assert isinstance(actual, dict), what
        assert list(actual) == list(shown), what
        for key, value in shown.items():
            if key in _VARYING:
                assert type(actual[key]) is type(value), f"{what}.{key}"
                places.match(value, actual[key], f"{what}.{key}")
            else:
                _compare_json(value, actual[key], places, f"{what}.{key}")
    elif isinstance(shown, str) and "..." in shown:
        assert isinstance(actual, str), what
        assert actual.startswith(shown.partition("...")[0]), what
    else:
        assert actual == shown, what


def _compare_text(shown: list[str], actual: list[str], places: _Placeholders, what: str) -> None:
    assert len(actual) == len(shown), f"{what}: {actual}"
    for shown_line, actual_line in zip(shown, actual, strict=True):
        label, _, value = shown_line.partition("  ")
        if label.startswith("jkt"):
            actual_label, _, actual_value = actual_line.partition("  ")
            assert actual_label == label, what
            places.match(value.strip(), actual_value.strip(), what)
        elif label == "public JWK":
            actual_jwk = json.loads(actual_line.removeprefix(label).strip())
            _compare_json(json.loads(value.strip()), actual_jwk, places, what)
        else:
            assert actual_line == shown_line, what


def _setup_files(directory: Path) -> None:
    """The files the examples name without making them: a public key only."""
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (directory / "public.pem").write_bytes(pem)


@pytest.mark.parametrize("page", sorted(_SECTIONS))
def test_the_dpop_console_examples_run_as_shown(
    server: AuthorizationServer, server_url: str, tmp_path: Path, page: str
) -> None:
    """Each command exits as shown (0, or an error) and prints what the page shows."""
    examples = _page_examples(page)
    assert len(examples) >= 3
    _setup_files(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    places = _Placeholders()
    for example in examples:
        words = shlex.split(example.command.replace(DOCS_URL, server_url))
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value
            continue
        assert words[0] == "tokensources", example.command
        completed = subprocess.run(
            [*console_script(), *words[1:]],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60, check=False,
        )  # fmt: skip
        what = f"docs/{page}: $ {example.command}"
        if example.shown and example.shown[0].startswith("tokensources: error:"):
            assert completed.returncode == 3, what
            assert completed.stderr.splitlines() == example.shown, what
        elif example.shown and example.shown[0] == "{":
            assert completed.returncode == 0, f"{what}: {completed.stderr}"
            shown = json.loads("\n".join(example.shown))
            _compare_json(shown, json.loads(completed.stdout), places, what)
        else:
            assert completed.returncode == 0, f"{what}: {completed.stderr}"
            _compare_text(example.shown, completed.stdout.splitlines(), places, what)
