#!/usr/bin/env bash
# Create .venv at the repository root (once) and install deepxc with its test extras.
set -euo pipefail
root="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"  # the checkout, even through a link
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.deepxc-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setting up .venv (first run only; log in .venv/install.log)"
    if ! { .venv/bin/python -m pip install --upgrade pip &&
           .venv/bin/python -m pip install -e ".[test]"; } > .venv/install.log 2>&1; then
        tail -n 20 .venv/install.log
        echo "error: installing deepxc into .venv failed (full log: .venv/install.log)" >&2
        exit 1
    fi
    touch "$stamp"
fi
