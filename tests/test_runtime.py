"""The generated C runtime: checksum at init, no malloc/stdio in the core, strict warnings."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from models import relu_add
from support import assert_close, quiet, reference_outputs

from deepxc.errors import RunError
from deepxc.pipeline import build_model
from deepxc.runner import run_bundle

# What the core and the kernels may take from libc/libm: no allocation, no I/O.
ALLOWED_UNDEFINED = {"memcpy", "memset", "memmove", "memcmp"}
LIBM = re.compile(r"^(exp|log|pow|sqrt|tanh|sin|cos|erf|floor|ceil|round|fabs|fmax|fmin)f?$")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bundle")
    build_model(relu_add((2, 8)), "host", str(directory), log=quiet)
    return directory


def test_bundle_matches_onnxruntime(bundle):
    x = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    outputs, _ = run_bundle(str(bundle), {"x": x})
    assert_close(outputs, reference_outputs(relu_add((2, 8)), {"x": x}))


def test_corrupt_weights_are_refused(bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    blob = bytearray((copy / "weights.bin").read_bytes())
    blob[70] ^= 0x01  # one bit of the first weight
    (copy / "weights.bin").write_bytes(bytes(blob))
    with pytest.raises(RunError, match="weights"):
        run_bundle(str(copy), {"x": np.zeros((2, 8), np.float32)})


def symbols(path, *flags) -> set[str]:
    result = subprocess.run(["nm", *flags, str(path)], capture_output=True, text=True, check=True)
    return {line.split()[-1] for line in result.stdout.splitlines() if line.strip()}


def test_core_runtime_uses_no_malloc_or_stdio(bundle):
    objects = [bundle / "model.o", bundle / "kernels_cpu.o"]
    undefined = set().union(*(symbols(o, "-u") for o in objects))
    defined = set().union(*(symbols(o, "--defined-only") for o in objects))
    external = undefined - defined
    unexpected = {s for s in external if s not in ALLOWED_UNDEFINED and not LIBM.match(s)}
    assert not unexpected, unexpected
    assert any(s.startswith("__tvm_ffi_") for s in undefined)  # nm sees real imports


def test_strict_warnings_are_on(bundle):
    makefile = (bundle / "Makefile").read_text()
    assert "-Wall -Wextra -Werror" in makefile


def test_sizes_in_header_match_manifest(bundle):
    import json

    manifest = json.loads((bundle / "manifest.json").read_text())
    header = (bundle / "model.h").read_text()
    arena = int(re.search(r"DEEPX_ARENA_BYTES (\d+)u", header).group(1))
    weights = int(re.search(r"DEEPX_WEIGHTS_BYTES (\d+)u", header).group(1))
    assert arena == manifest["sizes"]["arena_bytes"]
    assert weights == manifest["sizes"]["weights_bytes"] == (bundle / "weights.bin").stat().st_size
