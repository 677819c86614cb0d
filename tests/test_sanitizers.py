"""The runtime and the test driver under sanitizers: each example and two zoo models run
with AddressSanitizer and UBSan, and two contexts of a threaded bundle run at once under
ThreadSanitizer. Outputs are held against onnxruntime. (The kernels are TVM's objects,
not instrumented; what runs around them is.)"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from harness import (
    SANITIZER_EXIT,
    build_sanitized,
    compile_program,
    manifest,
    read_raw,
    write_raw,
)
from support import assert_close, quiet, random_inputs, reference_outputs
from zoo import realistic_model

from deepxc.pipeline import build_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = ["tiny_cnn", "digits", "speakers"]
ZOO = ["squeezenet", "shufflenet"]


def _model(name: str) -> onnx.ModelProto:
    if name in EXAMPLES:
        return onnx.load(os.path.join(ROOT, "examples", name, "model.onnx"))
    return realistic_model(name)


def _check_under_asan(model, bundle, tmp_path, threads_env: str, detect_leaks=True) -> None:
    command, env = build_sanitized(bundle, "address,undefined", tmp_path / "asan")
    if not detect_leaks:
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("detect_leaks=1", "detect_leaks=0")
    inputs = random_inputs(model)
    paths = []
    for index, value in enumerate(inputs.values()):
        paths += ["-i", str(tmp_path / f"in{index}.npy")]
        np.save(tmp_path / f"in{index}.npy", value)
    outputs = [o.name for o in model.graph.output]
    out_paths = [str(tmp_path / f"out{i}.npy") for i in range(len(outputs))]
    argv = [*command, "-w", str(bundle / "weights.bin"), *paths]
    for path in out_paths:
        argv += ["-o", path]
    argv += ["--bench", "3"]
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env, "DEEPX_NUM_THREADS": threads_env},
    )
    assert result.returncode != SANITIZER_EXIT, result.stderr[-3000:]
    assert result.returncode == 0, result.stderr[-3000:]
    got = {name: np.load(path) for name, path in zip(outputs, out_paths)}
    assert_close(got, reference_outputs(model, inputs))


@pytest.mark.parametrize("name", EXAMPLES + ZOO)
def test_asan_ubsan(name, tmp_path):
    model = _model(name)
    bundle = tmp_path / "bundle"
    build_model(model, "host", str(bundle), log=quiet, threads=2)
    _check_under_asan(model, bundle, tmp_path, threads_env="2")


@pytest.mark.slow
def test_asan_ubsan_on_arm(tmp_path):
    """The same runtime compiled for 32-bit ARM, under qemu-user."""
    model = _model("tiny_cnn")
    bundle = tmp_path / "bundle"
    build_model(model, "tegra-k1", str(bundle), log=quiet, threads=4)
    _check_under_asan(model, bundle, tmp_path, threads_env="4")


@pytest.mark.parametrize("name", ["tiny_cnn", "squeezenet"])
def test_tsan_two_contexts(name, tmp_path):
    """Two contexts, each with its pool of two threads, run at once under TSan."""
    model = _model(name)
    bundle = tmp_path / "bundle"
    build_model(model, "host", str(bundle), log=quiet, threads=2)
    flags = ("-fsanitize=thread", "-g", "-O1")
    program = compile_program(bundle, "two_contexts.c", tmp_path / "tsan", flags, library=None)
    spec = manifest(bundle)["inputs"][0]
    inputs = [
        np.random.default_rng(seed).standard_normal(spec["shape"]).astype(np.float32)
        for seed in (1, 2)
    ]
    paths = [write_raw(tmp_path / f"in{k}.bin", x) for k, x in enumerate(inputs)]
    outs = [tmp_path / f"out{k}.bin" for k in range(2)]
    env = {"TSAN_OPTIONS": f"halt_on_error=1:exitcode={SANITIZER_EXIT}"}
    # without address randomisation: TSan's shadow memory needs a fixed layout, and some
    # kernels randomise mappings more than the TSan of GCC 12 expects
    command = (
        ["setarch", platform.machine(), "-R", program] if shutil.which("setarch") else [program]
    )
    result = subprocess.run(
        [*command, bundle / "weights.bin", *paths, *outs, "20"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "ThreadSanitizer" not in result.stderr
    for x, out in zip(inputs, outs):
        expected = next(iter(reference_outputs(model, {spec["name"]: x}).values()))
        assert_close({"y": read_raw(out, expected.shape)}, {"y": expected})
