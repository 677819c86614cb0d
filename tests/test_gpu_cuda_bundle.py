"""Bundles with GPU partitions on a CUDA target: the Tegra K1 (32-bit armhf, run under
qemu-arm) and host-cuda (the build machine, 64-bit), both running the K1's sm_32 PTX
through the generated CUDA runtime (templates/gpu_cuda.c.j2).

There is no GPU here. The PTX each bundle embeds is checked by NVIDIA's assembler (CUDA
11.8's ptxas, as in test_ptx); the runtime's logic by a stand-in for libcuda.so.1
(tests/c/fake_cuda.c) that runs no kernel but checks and logs every call; and where there
is no driver at all, a bundle must say DEEPX_ENOGPU in one line, not crash. Where a
driver and a GPU are present, host-cuda's bundle is compared with onnxruntime.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from gpu_models import MODELS, PTXAS_ARCH, directive, graph, model_proto
from support import assert_close, has_libcuda, quiet, random_inputs, reference_outputs

from deepxc.errors import RunError
from deepxc.lower.gpu import lower_gpu
from deepxc.pipeline import build_model
from deepxc.runner import read_manifest, run_bundle
from deepxc.targets import load_target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = "examples/tiny_cnn/model.onnx"
ARM_SYSROOT = "/usr/arm-linux-gnueabihf"
FAKE_CUDA = os.path.join(ROOT, "tests", "c", "fake_cuda.c")
COMPILERS = {"tegra-k1": "arm-linux-gnueabihf-gcc", "host-cuda": "cc"}


def build(model: str, target: str, out_dir, place: str = "gpu") -> str:
    build_model(model_proto(model), target, str(out_dir), log=quiet, place=place)
    return str(out_dir)


def needs_qemu(target: str) -> None:
    if target == "tegra-k1" and shutil.which("qemu-arm") is None:
        pytest.skip("qemu-arm not found (Debian package qemu-user)")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, str]:
    """tiny_cnn, all on the GPU, for each CUDA target."""
    root = tmp_path_factory.mktemp("cuda-bundles")
    return {target: build(TINY, target, root / target) for target in COMPILERS}


@pytest.fixture(scope="module")
def fake_cuda(tmp_path_factory) -> dict[str, str]:
    """The stand-in libcuda built for each target's processes."""
    root = tmp_path_factory.mktemp("fake-cuda")
    built = {}
    for target, cc in COMPILERS.items():
        path = str(root / f"libcuda-{target}.so")
        command = [cc, "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", FAKE_CUDA]
        subprocess.run([*command, "-o", path], check=True, capture_output=True, text=True)
        built[target] = path
    return built


def launch_table_kernels(bundle: str) -> set[str]:
    """The kernel names in the generated runtime's launch table."""
    with open(os.path.join(bundle, "model.c")) as file:
        source = file.read()
    table = source[source.index("dx_gpu_launch_table[") :]
    table = table[: table.index("};")]
    return set(re.findall(r'"(\w+)"', table))


def assemble_32(ptxas: str, path: str) -> None:
    result = subprocess.run(
        [ptxas, f"-arch={PTXAS_ARCH}", "-m32", path, "-o", os.devnull],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"{path}: {result.stderr}"


def elf_class_and_machine(path: str) -> tuple[int, int]:
    with open(path, "rb") as file:
        header = file.read(20)
    assert header[:4] == b"\x7fELF"
    return header[4], int.from_bytes(header[18:20], "little")


# the rest of the light zoo: big weights (vgg19's blob is 550 MB), so slow
HEAVY = ["bvlc_alexnet", "zfnet512", "resnet50", "vgg19"]


@pytest.mark.parametrize(
    "model", MODELS + [pytest.param(name, marks=pytest.mark.slow) for name in HEAVY]
)
def test_k1_bundle_cross_compiles_with_ptx_the_driver_loads(model, tmp_path, ptxas):
    """Every model all on the K1's GPU: an armhf (32-bit ARM) program whose PTX is sm_32,
    PTX ISA at most 4.1 (the K1's CUDA 6.5), 32-bit addresses, every launched kernel an
    .entry, and accepted by ptxas for 32-bit code."""
    bundle = build(model, "tegra-k1", tmp_path / "bundle")
    assert elf_class_and_machine(os.path.join(bundle, "model")) == (1, 40)  # ELFCLASS32, EM_ARM
    files = sorted(glob.glob(os.path.join(bundle, "kernels_gpu_p*.ptx")))
    assert files
    entries = set()
    for path in files:
        with open(path) as file:
            ptx = file.read()
        assert directive(ptx, "target") == "sm_32"
        major, minor = (int(part) for part in directive(ptx, "version").split("."))
        assert (major, minor) <= (4, 1)
        assert directive(ptx, "address_size") == "32"
        entries |= set(re.findall(r"\.entry\s+([\w$]+)\s*\(", ptx))
        assemble_32(ptxas, path)
    assert entries == launch_table_kernels(bundle)


@pytest.mark.parametrize("target", list(COMPILERS))
def test_without_a_driver_init_says_enogpu(target, bundles, monkeypatch):
    """No libcuda (here: none for armhf in qemu's sysroot, a missing file for host-cuda):
    the driver exits 1 with one line naming DEEPX_ENOGPU and the call that failed, and
    the runner makes that one line of its error."""
    needs_qemu(target)
    monkeypatch.setenv("DEEPX_CUDA_LIBRARY", "/nonexistent/libcuda.so.1")
    with pytest.raises(RunError) as failure:
        run_bundle(bundles[target], random_inputs(model_proto(TINY)))
    message = str(failure.value)
    assert "\n" not in message
    assert re.search(
        r"model exited with 1: deepx_init: DEEPX_ENOGPU: no GPU: .* "
        r"\(at dlopen libcuda, driver code 0\)$",
        message,
    ), message


def test_k1_bundle_without_override_finds_no_libcuda(bundles, monkeypatch):
    """The library's own names (libcuda.so.1, libcuda.so) are looked for when no
    DEEPX_CUDA_LIBRARY is set: qemu's armhf sysroot has neither."""
    needs_qemu("tegra-k1")
    monkeypatch.delenv("DEEPX_CUDA_LIBRARY", raising=False)
    if glob.glob(os.path.join(ARM_SYSROOT, "lib", "libcuda.so*")):
        pytest.skip(f"an armhf libcuda is installed in {ARM_SYSROOT}")
    with pytest.raises(RunError, match=r"DEEPX_ENOGPU.*at dlopen libcuda"):
        run_bundle(bundles["tegra-k1"], random_inputs(model_proto(TINY)))


def read_log(path) -> list[list[str]]:
    with open(path) as file:
        return [line.split() for line in file]


@pytest.mark.parametrize("target", list(COMPILERS))
def test_runtime_calls_the_driver_as_the_launch_table_says(
    target, bundles, fake_cuda, tmp_path, monkeypatch
):
    """Through the stand-in driver: the weights go up once at init, a run copies its input
    in, launches every kernel with the lowering's grid (work groups), block (work-group
    size), dynamic shared memory and one live device buffer per parameter, copies its
    output back, and deinit frees every buffer, module and the context. The K1's bundle
    does this as a 32-bit process (4-byte CUdeviceptr), host-cuda's as a 64-bit one."""
    needs_qemu(target)
    log = tmp_path / "cuda.log"
    monkeypatch.setenv("DEEPX_CUDA_LIBRARY", fake_cuda[target])
    monkeypatch.setenv("FAKE_CUDA_LOG", str(log))
    run_bundle(bundles[target], random_inputs(model_proto(TINY)))
    lines = read_log(log)
    expected = lower_gpu(graph(TINY), load_target(target), prefix="p0_", log=quiet)
    launches = [line[1:] for line in lines if line[0] == "launch"]
    assert launches == [
        [
            launch.kernel,
            *map(str, launch.groups),
            *map(str, launch.local_size),
            str(launch.dynamic_local_bytes),
            str(len(launch.args)),
        ]
        for launch in expected.launches
    ]
    first_launch = next(i for i, line in enumerate(lines) if line[0] == "launch")
    uploads = [int(line[2]) for line in lines[:first_launch] if line[0] == "htod"]
    weight_bytes = sorted(max(expected.buffers[n].spec.nbytes, 4) for n in expected.weights)
    input_bytes = [expected.buffers[n].spec.nbytes for n in expected.inputs]
    assert sorted(uploads) == sorted(weight_bytes + input_bytes)
    downloads = [int(line[2]) for line in lines if line[0] == "dtoh"]
    assert downloads == [expected.buffers[n].spec.nbytes for n in expected.outputs]
    assert lines[-1] == ["exit", "allocations=0", "modules=0", "contexts=0"]


@pytest.mark.parametrize(
    "failure, status, where",
    [
        ("cuInit:100", "DEEPX_ENOGPU", "deepx_init"),  # CUDA_ERROR_NO_DEVICE
        ("cuInit:3", "DEEPX_EGPU", "deepx_init"),  # CUDA_ERROR_NOT_INITIALIZED
        ("cuModuleLoadData:218", "DEEPX_EGPU", "deepx_init"),  # CUDA_ERROR_INVALID_PTX
        ("cuMemAlloc_v2:2", "DEEPX_EGPU", "deepx_init"),  # CUDA_ERROR_OUT_OF_MEMORY
        ("cuLaunchKernel:701", "DEEPX_EGPU", "deepx_run"),  # CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES
        ("cuStreamSynchronize:719", "DEEPX_EGPU", "deepx_run"),  # CUDA_ERROR_LAUNCH_FAILED
    ],
)
def test_driver_errors_are_reported_with_the_call_and_code(
    failure, status, where, bundles, fake_cuda, tmp_path, monkeypatch
):
    """A driver call's failure: one line with the status, the call and the driver's code;
    whatever init had made is released."""
    call, code = failure.split(":")
    log = tmp_path / "cuda.log"
    monkeypatch.setenv("DEEPX_CUDA_LIBRARY", fake_cuda["host-cuda"])
    monkeypatch.setenv("FAKE_CUDA_LOG", str(log))
    monkeypatch.setenv("FAKE_CUDA_FAIL", failure)
    with pytest.raises(RunError) as raised:
        run_bundle(bundles["host-cuda"], random_inputs(model_proto(TINY)))
    message = str(raised.value)
    assert "\n" not in message
    assert f": {where}: {status}: " in message, message
    assert message.endswith(f"(at {call}, driver code {code})"), message
    assert read_log(log)[-1] == ["exit", "allocations=0", "modules=0", "contexts=0"]


@pytest.mark.parametrize(
    "model", MODELS + [pytest.param(name, marks=pytest.mark.slow) for name in HEAVY]
)
def test_host_cuda_matches_onnxruntime(model, tmp_path, monkeypatch):
    """On a machine with NVIDIA's driver and a GPU: every zoo model all on the GPU, the
    K1's PTX (64-bit) JIT-compiled by the driver, computes what onnxruntime does."""
    if not has_libcuda():
        pytest.skip("no libcuda.so.1 here (NVIDIA's driver is not installed)")
    monkeypatch.delenv("DEEPX_CUDA_LIBRARY", raising=False)
    proto = model_proto(model)
    inputs = random_inputs(proto)
    bundle = build(model, "host-cuda", tmp_path / "b")
    try:
        outputs, _ = run_bundle(bundle, inputs)
    except RunError as error:
        if "DEEPX_ENOGPU" in str(error):
            pytest.skip(f"libcuda.so.1 but no GPU: {error}")
        raise
    assert_close(outputs, reference_outputs(proto, inputs))


def test_host_cuda_bundle_is_native_and_dynamically_linked(bundles):
    """host-cuda's bundle runs here (no runner) and links libdl, not -static: it dlopens."""
    manifest = read_manifest(bundles["host-cuda"])
    assert manifest["runner"] == []
    assert "-static" not in manifest["toolchain"]["ldflags"]
    bits = np.dtype(np.uintp).itemsize * 8
    elf_class = {32: 1, 64: 2}[bits]  # this Python's pointer width: the build machine's
    assert elf_class_and_machine(os.path.join(bundles["host-cuda"], "model"))[0] == elf_class


def test_k1_partition_in_the_middle(tmp_path, ptxas):
    """conv2 and relu2 on the GPU, the layers before and after on the CPU: the CPU's
    schedule calls the GPU partition between its own kernels, the bundle cross-compiles,
    and its PTX assembles."""
    bundle = build(TINY, "tegra-k1", tmp_path / "bundle", place="conv2=gpu,relu2=gpu")
    calls = [c for c in read_manifest(bundle)["kernel_calls"] if c["step"] != "wait"]
    processors = ["gpu" if "_gpu_" in call["kernel"] else "cpu" for call in calls]
    gpu = processors.index("gpu")
    assert processors.count("gpu") == 1 and 0 < gpu < len(calls) - 1, processors
    assert calls[gpu]["layers"] == ["conv2", "relu2"]
    with open(os.path.join(bundle, "model.c")) as file:
        source = file.read()
    symbol = calls[gpu]["kernel"]
    assert re.search(rf"static int {symbol}\(", source)
    assert re.search(rf"int status = {symbol}\(", source)
    assert elf_class_and_machine(os.path.join(bundle, "model")) == (1, 40)
    [ptx] = glob.glob(os.path.join(bundle, "kernels_gpu_p*.ptx"))
    assemble_32(ptxas, ptx)
