"""The bundle's own build files: `make` and CMake each build the test driver for every
bundle flavour (threads or not, weights embedded or in a file, profiling, cross-compiled
for ARM, emitted without compiling), and the program they build gives onnxruntime's
answer. Both compile warning-free with -Werror, which deepxc's tests add and the build
files leave to their users."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from harness import manifest
from support import assert_close, quiet, reference_outputs

from deepxc.pipeline import build_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")

FLAVOURS = {  # name: (target, build_model options)
    "single-thread": ("host", {"threads": 1}),
    "threads": ("host", {"threads": 2}),
    "embedded-weights": ("host", {"threads": 1, "embed_weights": True}),
    "embedded-weights-threads": ("host", {"threads": 2, "embed_weights": True}),
    "profile": ("host", {"threads": 2, "profile": True}),
    "named": ("host", {"threads": 2, "embed_weights": True, "api_name": "cnn"}),
    "arm-threads-embedded": ("snapdragon-400", {"threads": 4, "embed_weights": True}),
    # not compiled by deepxc: the build files also rename the kernels' backend symbols
    "emit-only-named": ("host", {"threads": 2, "api_name": "cnn", "emit_only": True}),
    "emit-only-arm": ("tegra-k1", {"threads": 2, "emit_only": True}),
}


@pytest.fixture(scope="module", params=sorted(FLAVOURS))
def bundle(request, tmp_path_factory):
    target, options = FLAVOURS[request.param]
    directory = tmp_path_factory.mktemp(request.param) / "bundle"
    build_model(onnx.load(MODEL), target, str(directory), log=quiet, **options)
    return directory


def _check_program(bundle, program, tmp_path) -> None:
    """Run a driver built from the bundle's files and compare with onnxruntime."""
    info = manifest(bundle)
    x = np.random.default_rng(4).standard_normal(info["inputs"][0]["shape"]).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    command = [*info["runner"], str(program), "-i", str(tmp_path / "x.npy")]
    command += ["-o", str(tmp_path / "y.npy")]
    if not info["weights_embedded"]:
        command += ["-w", str(bundle / "weights.bin")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    model = onnx.load(MODEL)
    expected = reference_outputs(model, {model.graph.input[0].name: x})
    assert_close({model.graph.output[0].name: np.load(tmp_path / "y.npy")}, expected)


def _makefile_cflags(bundle) -> str:
    return re.search(r"^CFLAGS = (.*)$", (bundle / "Makefile").read_text(), re.M).group(1)


def _run(command: list[str], cwd=None) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"


def test_makefile_builds_the_driver(bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    _run(["make", "clean"], copy)
    assert not (copy / "model").exists()
    assert "-Werror" not in _makefile_cflags(copy)
    _run(["make", "CFLAGS_EXTRA=-Werror"], copy)
    _check_program(copy, copy / "model", tmp_path)


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cmake_builds_the_driver(bundle, tmp_path):
    """An out-of-tree CMake build, with the target's compiler; its targets are named after
    --name (the default `model` and `model_main`)."""
    build = tmp_path / "build"
    info = manifest(bundle)
    cc = shutil.which(info["toolchain"]["cc"])
    assert "-Werror" not in (bundle / "CMakeLists.txt").read_text()
    configure = ["cmake", "-S", str(bundle), "-B", str(build), f"-DCMAKE_C_COMPILER={cc}"]
    _run([*configure, "-DCMAKE_C_FLAGS=-Werror"])
    _run(["cmake", "--build", str(build)])
    library = "model" if info["name"] == "deepx" else f"{info['name']}_model"
    assert (build / f"lib{library}.a").is_file()
    _check_program(bundle, build / f"{library}_main", tmp_path)
    link = (build / "CMakeFiles" / f"{library}_main.dir" / "link.txt").read_text()
    assert ("pthread" in link) == (info["threads"] > 1)
