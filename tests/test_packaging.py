"""The distributions are ready to publish: metadata, licence, contents, and no measured results.

Both are built with hatchling (the project's build backend, from the
``tests`` extra) into a temporary directory, without network access, as
``python -m build`` would build them.
"""

from __future__ import annotations

import email.parser
import email.policy
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the sdist and the wheel built from this checkout."""
    out = tmp_path_factory.mktemp("dist")
    completed = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "--directory", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out


def _version() -> str:
    """The version pyproject.toml declares."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def _one(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


def _sdist_members(dist: Path) -> dict[str, int]:
    """Path inside the project → size, for every file of the sdist."""
    with tarfile.open(_one(dist, "*.tar.gz")) as archive:
        return {
            member.name.split("/", 1)[1]: member.size
            for member in archive.getmembers()
            if member.isfile()
        }


def _wheel_metadata(dist: Path) -> Message:
    with zipfile.ZipFile(_one(dist, "*.whl")) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        text = wheel.read(name).decode()
    return email.parser.Parser(policy=email.policy.compat32).parsestr(text)


def test_sdist_holds_the_project_without_benchmark_results(dist: Path) -> None:
    """The sdist has the package, tests, docs and licence, and none of the measured results."""
    members = _sdist_members(dist)
    for needed in ("LICENSE", "README.md", "pyproject.toml", "tokensources/py.typed"):
        assert needed in members
    assert any(name.startswith("tests/") for name in members)
    assert "benchmarks/__main__.py" in members
    results = [name for name in members if name.startswith("benchmarks/results/")]
    assert results == []
    assert [name for name in members if name.endswith(".png")] == []
    assert [name for name in members if "__pycache__" in name or name.startswith(".venv")] == []
    big = {name: size for name, size in members.items() if size > MiB}
    assert big == {}


def test_wheel_holds_the_typed_package_and_the_licence(dist: Path) -> None:
    """The wheel has every module, the py.typed marker and LICENSE, and nothing else at the top."""
    with zipfile.ZipFile(_one(dist, "*.whl")) as wheel:
        names = wheel.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    (dist_info,) = tops - {"tokensources"}
    assert dist_info == f"tokensources-{_version()}.dist-info"
    assert "tokensources/py.typed" in names
    assert f"{dist_info}/licenses/LICENSE" in names
    packaged = {name for name in names if name.endswith(".py")}
    sources = {str(p.relative_to(ROOT)) for p in (ROOT / "tokensources").rglob("*.py")}
    assert packaged == sources


def test_wheel_metadata_is_ready_for_the_package_index(dist: Path) -> None:
    """Licence, project URLs, classifiers and the extras are in the wheel's metadata."""
    metadata = _wheel_metadata(dist)
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    urls = dict(line.split(", ", 1) for line in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Source", "Changelog"} <= urls.keys()
    assert all(url.startswith("https://") for url in urls.values())
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.10" in classifiers
    assert {"redis", "demo", "bench", "tests", "docs", "dev"} <= set(
        metadata.get_all("Provides-Extra") or []
    )
    assert metadata["Description-Content-Type"] == "text/markdown"


def _committed_files() -> Iterator[Path]:
    """The files of the checkout that git tracks or would track (ignored ones left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        path = ROOT / name
        if path.is_file():
            yield path


def test_no_committed_file_is_over_one_mebibyte() -> None:
    """Results are summaries, not raw samples: no file in the repository is over 1 MiB."""
    files = list(_committed_files())
    assert any(path.parent.name == "results" for path in files)
    big = {str(path.relative_to(ROOT)): path.stat().st_size for path in files}
    assert {name: size for name, size in big.items() if size > MiB} == {}
