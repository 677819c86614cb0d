#!/usr/bin/env bash
# Rebuild the checked-in example bundle of examples/tiny_cnn for the host. Only its text
# files are kept in git (model.h, model.c, main.c, Makefile, CMakeLists.txt,
# manifest.json), so a diff shows what a compiler change did to the generated code.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# One thread: the host's default is the build machine's cores, which would vary the output.
"$root/.venv/bin/deepxc" build "$root/examples/tiny_cnn/model.onnx" --target host --threads 1 \
    -o "$here/tiny_cnn"
