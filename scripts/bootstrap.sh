#!/usr/bin/env bash
# Create .venv from the hashed lock file and install GEKO into it (editable).
# Skips all work when .venv/.stamp matches the hashes of requirements.lock and pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.stamp"
want="$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    exit 0
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "bootstrap: GEKO needs Python >= 3.11 ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "bootstrap: creating $VENV"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        # Debian ships venv's ensurepip separately.
        rm -rf "$VENV"
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
            echo "bootstrap: installing python3-venv"
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
            "$PYTHON" -m venv "$VENV"
        else
            echo "bootstrap: '$PYTHON -m venv' failed; install python3-venv" >&2
            exit 1
        fi
    fi
fi

echo "bootstrap: installing requirements.lock (hash-checked)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
echo "$want" >"$STAMP"
echo "bootstrap: ready ($VENV)"
