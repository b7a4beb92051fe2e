# Sourced by scripts/demo and scripts/test: make .venv and install the project
# into it, with the extra named by the first argument ("" for the package
# alone), once per change of pyproject.toml.
#
# Each extra has its own stamp, so that each script installs only what it
# needs: ./scripts/demo installs the package alone (a few seconds), and
# ./scripts/test installs the contributor tools (the dev extra) on its first
# run, whichever script ran first. Every install also installs the package
# itself, so it stamps that too.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
python=${PYTHON:-python3}
extra=${1:-}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
want=$("$python" -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')
stamp=.venv/.tokensources-installed${extra:+-$extra}
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "installing tokensources${extra:+[$extra]} into .venv/ (once)" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extra:+[$extra]}"
    echo "$want" > "$stamp"
    echo "$want" > .venv/.tokensources-installed
fi
