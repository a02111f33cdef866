#!/usr/bin/env bash
# Create/refresh the Prefect 1 venv used by the legacy flows (and by tests/legacy).
#
#   bash legacy/setup-venv.sh            # idempotent; `make setup` calls it
#
# The venv lives at .venv-legacy in the repository root (override with LEGACY_VENV). It is
# (re)created when it is missing, broken, or when legacy/requirements.lock changed since it was
# built: a stamp file inside the venv stores the lock's hash (and the Python version); a matching
# stamp means there is nothing to do. The interpreter is $PYTHON (default python3, which must be
# Python 3.11: prefect 1.4.1 with pendulum 2 does not run on 3.12+).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LEGACY_VENV:-$ROOT/.venv-legacy}"
LOCK="$ROOT/legacy/requirements.lock"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.legacy-lock.sha256"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "setup-venv: interpreter '$PYTHON' not found" >&2
    exit 1
fi
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$PYVER" != "3.11" ]; then
    echo "setup-venv: warning: $PYTHON is Python $PYVER; the lock was made on Python 3.11" >&2
fi

want="$( (sha256sum "$LOCK" | cut -d' ' -f1; echo "python=$PYVER") | tr '\n' ' ')"

# One setup at a time (parallel `make` targets or test workers may call this script).
# The lock file lives outside the work tree so it never shows up in `git status`.
LOCKFILE="${TMPDIR:-/tmp}/legacy-venv-$(printf '%s' "$VENV" | sha256sum | cut -c1-16).lock"
exec 9>"$LOCKFILE"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
    && "$VENV/bin/python" -c 'import prefect' >/dev/null 2>&1; then
    echo "setup-venv: $VENV is up to date"
    exit 0
fi

start=$(date +%s)
if [ -d "$VENV" ]; then
    echo "setup-venv: lock changed or venv incomplete; recreating $VENV"
    rm -rf "$VENV"
else
    echo "setup-venv: creating $VENV"
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet -r "$LOCK"
"$VENV/bin/python" - <<'PY'
import prefect
assert prefect.__version__ == "1.4.1", prefect.__version__
import pandas, pyarrow, requests, adlfs, fsspec, pendulum  # noqa: F401
print("setup-venv: prefect", prefect.__version__, "pandas", pandas.__version__,
      "pyarrow", pyarrow.__version__, "pendulum", pendulum.__version__)
PY
"$VENV/bin/python" -m pip check
echo "$want" > "$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
echo "setup-venv: done in $(( $(date +%s) - start ))s"
