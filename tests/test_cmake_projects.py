"""A bundle's CMakeLists.txt in a firmware tree: cross-compiled with a toolchain file, and
added with add_subdirectory() to a parent project that links two bundles into one program.
Outputs are checked against onnxruntime."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from support import assert_close, quiet, reference_outputs

from deepxc.pipeline import build_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_CNN = os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")
FIRMWARE = os.path.join(ROOT, "examples", "firmware")

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
needs_arm = pytest.mark.skipif(
    not (shutil.which("arm-linux-gnueabihf-gcc") and shutil.which("qemu-arm")),
    reason="arm-linux-gnueabihf-gcc and qemu-arm are not installed (.ci/run installs them)",
)

ARM_TOOLCHAIN_FILE = """\
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_ASM_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
"""


def _run(command: list, cwd=None) -> subprocess.CompletedProcess:
    command = [str(part) for part in command]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result


@needs_arm
def test_tegra_k1_bundle_cross_compiles_with_a_toolchain_file(tmp_path):
    """Configure and build with a CMake toolchain file for arm-linux-gnueabihf; the driver
    carries the target's CPU and float-ABI flags and runs under qemu-arm."""
    bundle = tmp_path / "kws"
    build_model(onnx.load(TINY_CNN), "tegra-k1", str(bundle), log=quiet, api_name="kws")
    toolchain = tmp_path / "arm-linux-gnueabihf.cmake"
    toolchain.write_text(ARM_TOOLCHAIN_FILE)
    build = tmp_path / "build"
    _run(["cmake", "-S", bundle, "-B", build, f"-DCMAKE_TOOLCHAIN_FILE={toolchain}"])
    commands = _run(["cmake", "--build", build, "--verbose"]).stdout
    compile_line = next(
        line for line in commands.splitlines() if " -c " in line and "model.c" in line
    )
    for flag in ("-O2", "-mcpu=cortex-a15", "-mfpu=neon-vfpv4", "-mfloat-abi=hard"):
        assert flag in compile_line.split()
    assert "Threads::Threads" in (bundle / "CMakeLists.txt").read_text()  # 4 threads
    assert (build / "libkws_model.a").is_file()

    model = onnx.load(TINY_CNN)
    x = np.random.default_rng(11).standard_normal((1, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    program = ["qemu-arm", build / "kws_model_main", "-w", bundle / "weights.bin"]
    _run([*program, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy"])
    got = {model.graph.output[0].name: np.load(tmp_path / "y.npy")}
    assert_close(got, reference_outputs(model, {model.graph.input[0].name: x}))


def test_gpu_bundle_builds_with_cmake_and_runs_on_opencl(tmp_path):
    """A bundle with a GPU partition (host-opencl, pocl) built by its CMakeLists: it links
    the dlopen library, and its driver matches onnxruntime."""
    pytest.importorskip("pyopencl")
    bundle = tmp_path / "gpu"
    model = onnx.load(TINY_CNN)
    build_model(model, "host-opencl", str(bundle), log=quiet, place="gpu", emit_only=True)
    assert "${CMAKE_DL_LIBS}" in (bundle / "CMakeLists.txt").read_text()
    build = tmp_path / "build"
    _run(["cmake", "-S", bundle, "-B", build])
    _run(["cmake", "--build", build])
    x = np.random.default_rng(12).standard_normal((1, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    program = [build / "model_main", "-w", bundle / "weights.bin"]
    result = subprocess.run(
        [str(p) for p in [*program, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy"]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "ENOGPU" in result.stderr:
        pytest.skip(f"no OpenCL device: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    got = {model.graph.output[0].name: np.load(tmp_path / "y.npy")}
    assert_close(got, reference_outputs(model, {model.graph.input[0].name: x}))


@pytest.fixture(scope="module")
def two_bundles(tmp_path_factory):
    """examples/firmware/two_models.py's bundles (--name cnn, 2 threads; --name spk) and
    examples.h, with onnxruntime's outputs, for the host."""
    sys.path.insert(0, FIRMWARE)
    import two_models

    out = tmp_path_factory.mktemp("two_models")
    for name, (model, threads) in two_models.MODELS.items():
        two_models.make_bundle("host", str(out / name), model, threads, name)
    inputs = two_models.examples()
    expected = two_models.reference(inputs)
    two_models.write_examples(str(out), inputs, expected)
    return out, two_models, inputs, expected


def test_parent_project_links_two_bundles(two_bundles, tmp_path):
    """examples/firmware/CMakeLists.txt add_subdirectory()s both bundles and links their
    libraries into two_models.c, whose exit status says whether both outputs match
    onnxruntime's. A bundle below the top project builds no driver of its own."""
    out, two_models, inputs, expected = two_bundles
    build = tmp_path / "build"
    _run(["cmake", "-S", FIRMWARE, "-B", build, f"-DBUNDLES={out}", "-DCMAKE_C_FLAGS=-Werror"])
    _run(["cmake", "--build", build])
    assert (build / "cnn" / "libcnn_model.a").is_file()
    assert (build / "spk" / "libspk_model.a").is_file()
    assert not list(build.rglob("*_model_main"))
    assert subprocess.run([build / "two_models"], timeout=60).returncode == 0
    # the check can fail: a wrong expectation for the second model gives its status
    two_models.write_examples(str(out), inputs, {**expected, "spk": expected["spk"] * 1.01})
    try:
        _run(["cmake", "--build", build])
        assert subprocess.run([build / "two_models"], timeout=60).returncode == 2
    finally:
        two_models.write_examples(str(out), inputs, expected)


def test_subdirectory_leaves_the_parent_alone(two_bundles, tmp_path):
    """What a bundle sets stays on its own targets: the parent's CMAKE_C_FLAGS and C
    standard are untouched, the library's -O2 and warnings are its own (PRIVATE), and the
    driver comes back under its option."""
    out, *_ = two_bundles
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\n"
        "project(parent C)\n"
        'set(CMAKE_C_FLAGS "-DPARENT_FLAGS")\n'
        f"add_subdirectory({out / 'cnn'} cnn)\n"
        'message(STATUS "flags=[${CMAKE_C_FLAGS}] std=[${CMAKE_C_STANDARD}]")\n'
        "get_target_property(options cnn_model INTERFACE_COMPILE_OPTIONS)\n"
        'message(STATUS "interface=[${options}]")\n'
    )
    build = tmp_path / "build"
    configured = _run(["cmake", "-S", parent, "-B", build, "-DCNN_MODEL_BUILD_DRIVER=ON"]).stdout
    assert "flags=[-DPARENT_FLAGS] std=[]" in configured
    assert "interface=[options-NOTFOUND]" in configured  # host: no CPU flags to share
    _run(["cmake", "--build", build])
    assert (build / "cnn" / "cnn_model_main").is_file()
