"""How well a measured cost profile predicts kernels it never saw.

    python benchmarks/cost_profile.py [--target host|host-opencl] [--threads 1]

Runs a quick `deepxc profile` of the target on this machine, then builds held-out
layers at sizes the profile did not measure (3x3 convolutions of 24 channels on 20x20 and
64 on 16x16; on host-opencl also a small dense layer alone on the GPU, mostly its
partition's overhead) as profiling bundles, and prints each one's predicted time (the
fitted constants, and on the GPU the link in and out) beside its measured time (the
median of 5 profiled runs) and their ratio. The goal: every ratio within 0.5x to 2x.
The machine is shared: compare ratios from one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
import tomllib
from onnx import TensorProto, helper, numpy_helper

from deepxc.cli.main import main as deepxc
from deepxc.dad.fit import ClassFit, LinkFit
from deepxc.pipeline import build_model
from deepxc.runner import profile_bundle


def predicted(costs: dict, processor: str, macs: float, nbytes: float, kind="conv") -> float:
    cost = costs[processor]["cost"][kind]
    fit = ClassFit(cost["launch_us"], cost["gmacs_per_s"], cost["gbytes_per_s"], 0.0, 0)
    return fit.time_s(macs, nbytes)


def conv_work(channels: int, size: int) -> tuple[float, float, float]:
    """MACs, bytes read and written (input, weights, output), bytes moved (in + out)."""
    activations = channels * size * size * 4
    macs = channels * size * size * channels * 9
    return macs, 2 * activations + channels * channels * 9 * 4, 2 * activations


def conv_model(channels: int, size: int, glue: bool) -> onnx.ModelProto:
    """A 3x3 convolution after a small one (the first parallel call of a run wakes the
    threads, a cost of the run rather than of the call), and, with `glue`, a CPU layer
    that ends the convolution's GPU partition."""
    rng = np.random.default_rng(5)

    def value(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    def weight(name, count, inner):
        w = rng.standard_normal((count, inner, 3, 3)).astype(np.float32) * 0.1
        return numpy_helper.from_array(w, name)

    shape = [1, channels, size, size]
    nodes = [
        helper.make_node("Conv", ["l", "lw"], ["ly"], name="lead", pads=[1] * 4),
        helper.make_node("Conv", ["x", "w"], ["y"], name="held_conv", pads=[1] * 4),
    ]
    inputs = [value("l", [1, 8, 16, 16]), value("x", shape)]
    outputs = [value("ly", [1, 8, 16, 16]), value("y", shape)]
    if glue:
        nodes.append(helper.make_node("Relu", ["g"], ["gy"], name="glue"))
        inputs.append(value("g", [1, 8]))
        outputs.append(value("gy", [1, 8]))
    weights = [weight("lw", 8, 8), weight("w", channels, channels)]
    graph = helper.make_graph(nodes, "held", inputs, outputs, weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def dense_model() -> onnx.ModelProto:
    """A small dense layer (1x96 by 96x40: no profiled size) after the lead conv, and the
    CPU layer that ends its GPU partition."""
    rng = np.random.default_rng(6)

    def value(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    lw = rng.standard_normal((8, 8, 3, 3)).astype(np.float32) * 0.1
    w = rng.standard_normal((40, 96)).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Conv", ["l", "lw"], ["ly"], name="lead", pads=[1] * 4),
        helper.make_node("Gemm", ["x", "w"], ["y"], name="held_fc", transB=1),
        helper.make_node("Relu", ["g"], ["gy"], name="glue"),
    ]
    inputs = [value("l", [1, 8, 16, 16]), value("x", [1, 96]), value("g", [1, 8])]
    outputs = [value("ly", [1, 8, 16, 16]), value("y", [1, 40]), value("gy", [1, 8])]
    weights = [numpy_helper.from_array(lw, "lw"), numpy_helper.from_array(w, "w")]
    graph = helper.make_graph(nodes, "held", inputs, outputs, weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def measured_seconds(
    model, target: str, bundle, place: str | None, layer: str, threads: int
) -> float:
    """The held-out layer's call (or its GPU partition's): median of 5 profiled runs, on
    as many CPU threads as the profile was."""
    build_model(
        model, target, str(bundle), log=lambda _: None, profile=True, place=place, threads=threads
    )
    times = []
    for _ in range(5):
        _, _, calls = profile_bundle(str(bundle), bench=5)
        times.append(sum(c["ms"] for c in calls if layer in c["layers"]) * 1e-3)
    return float(np.median(times))


def held_out(target: str) -> list[tuple]:
    """(label, model, placement, layer, class, MACs, bytes the class's formula counts,
    bytes that cross the CPU<->GPU link)."""
    rows = []
    on_gpu = target != "host"
    for channels, size in [(24, 20), (64, 16)]:
        macs, nbytes, moved = conv_work(channels, size)
        place = "held_conv=gpu" if on_gpu else None
        label = f"conv {channels}ch {size}x{size}"
        model = conv_model(channels, size, on_gpu)
        rows.append((label, model, place, "held_conv", "conv", macs, nbytes, moved))
    if on_gpu:
        macs, moved = 96 * 40, (96 + 40) * 4
        model = dense_model()
        rows.append(
            ("dense 96x40", model, "held_fc=gpu", "held_fc", "dense", macs, moved + macs * 4, moved)
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="host", choices=["host", "host-opencl"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="deepxc-costs-")
    path = os.path.join(work, "costs.toml")
    command = ["profile", "--target", args.target, "--quick", "--threads", str(args.threads)]
    if deepxc([*command, "-o", path]) != 0:
        sys.exit(1)
    costs = tomllib.loads(open(path).read())
    processor = "cpu" if args.target == "host" else "gpu"
    link = costs.get("links", {}).get("cpu-gpu")
    print(f"\nheld-out kernels on {args.target} ({processor}), {args.threads} thread(s)")
    print(f"{'kernel':22} {'predicted ms':>13} {'measured ms':>12} {'pred/meas':>10}")
    ratios = []
    for label, model, place, layer, kind, macs, nbytes, moved in held_out(args.target):
        bundle = os.path.join(work, "b")
        seconds = measured_seconds(model, args.target, bundle, place, layer, args.threads)
        guess = predicted(costs, processor, macs, nbytes, kind)
        if processor == "gpu":
            guess += LinkFit(link["latency_us"], link["gbytes_per_s"]).time_s(moved, transfers=2)
        ratios.append(guess / seconds)
        print(f"{label:22} {guess * 1e3:13.3f} {seconds * 1e3:12.3f} {guess / seconds:9.2f}x")
    inside = sum(0.5 < r < 2.0 for r in ratios)
    print(f"\n{inside} of {len(ratios)} within 0.5x to 2x (goal: all)")


if __name__ == "__main__":
    main()
