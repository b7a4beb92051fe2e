"""Running the real ``tokensources`` console script in a subprocess, for the CLI tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SECRET_ENV", "Outcome", "console_script", "run_cli"]

SECRET_ENV = "TOKENSOURCES_CLIENT_SECRET"


def console_script() -> list[str]:
    """The installed ``tokensources`` script next to this interpreter, or on PATH."""
    beside = Path(sys.executable).with_name("tokensources")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("tokensources")
    if found is None:  # pragma: no cover - the package is installed for the tests
        raise RuntimeError("the tokensources console script is not installed")
    return [found]


@dataclass(frozen=True)
class Outcome:
    """What one run of the command line did."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together, for absence checks."""
        return self.stdout + self.stderr


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
    command: Sequence[str] | None = None,
) -> Outcome:
    """Run the console script with ``args`` and extra ``env``, bounded by ``timeout``."""
    environment = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    environment.update(env or {})
    completed = subprocess.run(
        [*(command or console_script()), *args],
        capture_output=True,
        text=True,
        input=stdin if stdin is not None else "",
        env=environment,
        timeout=timeout,
        check=False,
    )
    return Outcome(completed.returncode, completed.stdout, completed.stderr)
