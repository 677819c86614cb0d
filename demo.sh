#!/usr/bin/env bash
# Quick start: build the default example for the host, run it, compare with onnxruntime.
set -euo pipefail
cd "$(dirname "$0")"
scripts/ensure-venv.sh
exec .venv/bin/python examples/quickstart.py "$@"
