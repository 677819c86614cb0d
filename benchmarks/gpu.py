"""GPU bundles beside CPU bundles, per model: every layer on the GPU against every layer
on the CPU, both checked against onnxruntime.

    python benchmarks/gpu.py [--models tiny_cnn digits squeezenet ...] [--repeat N]
                             [--gpu opencl|cuda] [--threads T]

Each model is built twice: for `host` (the CPU bundle) and with `--place gpu` for
`host-opencl` (default) or `host-cuda` (`--gpu cuda`). Both bundles run on the same
seeded random input; each row gives their largest difference from onnxruntime relative
to the output's scale (max |deepxc - onnxruntime| / max |onnxruntime|, over all
outputs), the median latency of N runs after a warm-up (the bundle's own --bench: a GPU
run copies the inputs to the device, launches every kernel and reads the outputs back),
and the ratio GPU/CPU. The CPU kernels of both bundles run on T threads (default: the
build machine's cores; on a busy machine a spinning thread pool suffers most). With
`--gpu cuda` a last column times onnxruntime's CUDA provider (TF32 off, so both do
float32 arithmetic) on the same input, and gives deepxc's GPU bundle against it; without
onnxruntime-gpu installed the column is left out, saying so.

pocl (Debian's pocl-opencl-icd) runs OpenCL on the CPU itself: its figures are a sanity
check of the GPU runtime (it runs, it matches, what a launch costs), not a GPU speed.
Compare ratios: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from latency import median_ms  # noqa: E402
from support import quiet, random_inputs, reference_outputs  # noqa: E402
from zoo import realistic_model  # noqa: E402

from deepxc.errors import DeepxcError  # noqa: E402
from deepxc.pipeline import build_model  # noqa: E402
from deepxc.provenance import cpu_model  # noqa: E402
from deepxc.runner import run_bundle  # noqa: E402
from deepxc.targets import load_target  # noqa: E402

MODELS = ["tiny_cnn", "digits", "squeezenet", "shufflenet"]
GPU_TARGETS = {"opencl": "host-opencl", "cuda": "host-cuda"}
NO_DEVICE = {
    "opencl": "no OpenCL device: install Debian's pocl-opencl-icd",
    "cuda": "no CUDA device: libcuda.so.1 (the NVIDIA driver) is missing or sees no GPU",
}


def load(name: str) -> onnx.ModelProto:
    path = os.path.join(ROOT, "examples", name, "model.onnx")
    return onnx.load(path) if os.path.exists(path) else realistic_model(name)


def relative_error(outputs: dict, expected: dict) -> float:
    """The largest |deepxc - onnxruntime| of any output over that output's largest value."""
    errors = []
    for name, reference in expected.items():
        scale = max(float(np.max(np.abs(reference))), 1e-12)
        difference = np.abs(outputs[name].astype(np.float64) - reference)
        errors.append(float(np.max(difference)) / scale)
    return max(errors, default=0.0)


def run_built(model, target: str, place, inputs, expected, args, work: str):
    """(relative error, median ms) of `model` built for `target`; or the one-line error
    that stopped the build or the run."""
    bundle = os.path.join(work, target)
    try:
        build_model(model, target, bundle, log=quiet, place=place, threads=args.threads)
        outputs, median = run_bundle(bundle, inputs, bench=args.repeat)
    except DeepxcError as error:
        return str(error)
    return relative_error(outputs, expected), median


def has_onnxruntime_cuda() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


def onnxruntime_cuda_ms(model: onnx.ModelProto, inputs, repeat: int) -> float:
    """Median latency on onnxruntime's CUDA provider with TF32 off (float32 arithmetic,
    as deepxc's kernels do), inputs and outputs in host memory as the bundle's are."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(),
        options,
        providers=[("CUDAExecutionProvider", {"use_tf32": 0})],
    )
    return median_ms(lambda: session.run(None, inputs), repeat)


def device_line(api: str) -> str | None:
    """What the GPU bundle will run on, or None where nothing can run it."""
    return opencl_device_line() if api == "opencl" else cuda_device_line()


def opencl_device_line() -> str | None:
    """The device the bundle's runtime takes: the first GPU of any platform, else the
    first device (pocl's, the CPU)."""
    import pyopencl as cl

    try:
        devices = [d for p in cl.get_platforms() for d in p.get_devices()]
    except cl.Error:
        return None
    if not devices:
        return None
    gpus = [d for d in devices if d.type & cl.device_type.GPU]
    device = (gpus or devices)[0]
    line = f"OpenCL device: {device.name} ({device.platform.name})"
    if not gpus:
        line += "\nit is this same CPU (pocl): a sanity figure of the GPU runtime, not a GPU speed"
    return line


def cuda_device_line() -> str | None:
    """The CUDA device the bundle's runtime takes (the driver's device 0), by its name."""
    import ctypes

    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    device, name = ctypes.c_int(), ctypes.create_string_buffer(256)
    if driver.cuInit(0) != 0 or driver.cuDeviceGet(ctypes.byref(device), 0) != 0:
        return None
    driver.cuDeviceGetName(name, len(name), device)
    return f"CUDA device: {name.value.decode()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--gpu", choices=sorted(GPU_TARGETS), default="opencl")
    parser.add_argument("--threads", type=int, help="CPU threads (default: every core)")
    args = parser.parse_args()
    ort.set_default_logger_severity(3)  # the zoo's initializers listed as inputs: a warning each
    gpu_target = GPU_TARGETS[args.gpu]
    device = device_line(args.gpu)
    if device is None:
        sys.exit(NO_DEVICE[args.gpu])
    threads = args.threads or load_target("host").cpu_cores
    plural = "s" if threads > 1 else ""
    print(f"CPU: {cpu_model() or 'unknown'}, {threads} thread{plural} for the CPU kernels")
    print(device)
    with_ort = args.gpu == "cuda" and has_onnxruntime_cuda()
    if args.gpu == "cuda" and not with_ort:
        print("no onnxruntime CUDAExecutionProvider (onnxruntime-gpu): its column is left out")
    print(f"median of {args.repeat} runs; error: max |deepxc - onnxruntime| / max |onnxruntime|")
    header = (
        f"{'model':<12} {'cpu err':>8} {'gpu err':>8} {'cpu ms':>9} {'gpu ms':>9} {'gpu/cpu':>8}"
    )
    print(header + (f" {'ort-gpu ms':>10} {'gpu/ort-gpu':>11}" if with_ort else ""), flush=True)
    for name in args.models:
        print(model_row(name, gpu_target, args, with_ort), flush=True)


def model_row(name: str, gpu_target: str, args, with_ort: bool) -> str:
    model = load(name)
    inputs = random_inputs(model)
    expected = reference_outputs(model, inputs)
    with tempfile.TemporaryDirectory(prefix="deepxc-gpu-bench-") as work:
        cpu_row = run_built(model, "host", None, inputs, expected, args, work)
        gpu_row = run_built(model, gpu_target, "gpu", inputs, expected, args, work)
    failed = [row for row in (cpu_row, gpu_row) if isinstance(row, str)]
    if failed:
        return f"{name:<12} {failed[0]}"
    (cpu_error, cpu_ms), (gpu_error, gpu_ms) = cpu_row, gpu_row
    line = (
        f"{name:<12} {cpu_error:>8.1e} {gpu_error:>8.1e} {cpu_ms:>9.3f} {gpu_ms:>9.3f} "
        f"{gpu_ms / cpu_ms:>8.2f}"
    )
    if with_ort:
        ort_ms = onnxruntime_cuda_ms(model, inputs, args.repeat)
        line += f" {ort_ms:>10.3f} {gpu_ms / ort_ms:>11.2f}"
    return line


if __name__ == "__main__":
    main()
