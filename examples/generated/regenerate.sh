#!/usr/bin/env bash
# Rebuild the checked-in example bundle of examples/tiny_cnn for the host. Only its text
# files are kept in git (model.h, model.c, main.c, Makefile, CMakeLists.txt,
# manifest.json), so a diff shows what a compiler change did to the generated code. It
# runs from the repository root with relative paths, so that the manifest's provenance
# records the command line as a reader would type it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
# One thread: the host's default is the build machine's cores, which would vary the output.
.venv/bin/deepxc build examples/tiny_cnn/model.onnx --target host --threads 1 \
    -o examples/generated/tiny_cnn
