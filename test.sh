#!/usr/bin/env bash
# The whole test suite (unit tests, ONNX node tests, model zoo), two workers.
set -euo pipefail
cd "$(dirname "$0")"
scripts/ensure-venv.sh
exec .venv/bin/python -m pytest -n 2 "$@"
