"""OpenCL kernels on pocl beside the CPU bundle, per model: a sanity figure, not a GPU one.

    python benchmarks/opencl_kernels.py [--models tiny_cnn squeezenet ...] [--repeat N]

pocl runs the OpenCL kernels on this machine's CPU, so the ratio says how much the GPU
schedules (one thread per work-item, work-groups as pocl maps them) lose against
deepxc's CPU kernels on the same cores, not how fast a GPU would be. Both are timed as
the median of N runs after a warm-up: the bundle by its own --bench, the OpenCL launches
(inputs already on the device) by the wall clock around enqueue and finish. Each row also
counts the launches per schedule rule. Compare ratios: the machine is shared.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile

import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from opencl_host import OpenCLHost, opencl_device  # noqa: E402
from support import quiet, random_inputs  # noqa: E402
from zoo import realistic_model  # noqa: E402

from deepxc.lower.gpu import lower_gpu  # noqa: E402
from deepxc.pipeline import build_model, frontend  # noqa: E402
from deepxc.runner import run_bundle  # noqa: E402
from deepxc.targets import load_target  # noqa: E402

MODELS = ["tiny_cnn", "digits", "squeezenet", "shufflenet"]


def load(name: str) -> onnx.ModelProto:
    path = os.path.join(ROOT, "examples", name, "model.onnx")
    return onnx.load(path) if os.path.exists(path) else realistic_model(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    device = opencl_device()
    if device is None:
        sys.exit("no OpenCL device: install Debian's pocl-opencl-icd")
    print(f"OpenCL device: {device.name} ({device.platform.name})")
    print(f"{'model':<12} {'launches':>8} {'cpu ms':>9} {'opencl ms':>10} {'ratio':>7}  rules")
    for name in args.models:
        model = load(name)
        inputs = random_inputs(model)
        partition = lower_gpu(frontend(model, log=quiet), load_target("host-opencl"), log=quiet)
        host = OpenCLHost(partition, device)
        host.run([inputs[n] for n in partition.inputs])
        opencl_ms = host.median_ms(args.repeat)
        with tempfile.TemporaryDirectory() as work:
            bundle = os.path.join(work, "bundle")
            build_model(model, "host", bundle, log=quiet)
            _, cpu_ms = run_bundle(bundle, inputs, bench=args.repeat)
        rules = collections.Counter(launch.rule for launch in partition.launches)
        print(
            f"{name:<12} {len(partition.launches):>8} {cpu_ms:>9.3f} {opencl_ms:>10.3f} "
            f"{opencl_ms / cpu_ms:>6.1f}x  " + ", ".join(f"{r} {n}" for r, n in rules.items())
        )


if __name__ == "__main__":
    main()
