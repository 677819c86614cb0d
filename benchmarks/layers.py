"""Single convolution layers, deepxc vs onnxruntime, with the register tile deepxc chose.

    python benchmarks/layers.py [--repeat N] [--threads N]

Each row is one Conv + ReLU model of a shape taken from the zoo models (VGG, ResNet,
SqueezeNet, Inception first layers). Use it to see how a tiling rule change moves single
layers before running the whole-model benchmark (latency.py). Compare ratios: the
machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from latency import time_deepxc, time_onnxruntime  # noqa: E402

from deepxc.schedules import conv2d  # noqa: E402
from deepxc.targets import load_target  # noqa: E402

# (channels, size, out channels, kernel, stride, pad)
LAYERS = [
    (3, 224, 64, 3, 2, 0),  # SqueezeNet conv1
    (3, 224, 64, 7, 2, 3),  # ResNet / Inception conv1
    (64, 56, 64, 3, 1, 1),  # ResNet stage 1
    (256, 56, 64, 1, 1, 0),
    (128, 28, 128, 3, 1, 1),
    (128, 56, 128, 3, 2, 1),
    (256, 14, 256, 3, 1, 1),
    (512, 7, 512, 3, 1, 1),
    (1024, 7, 256, 1, 1, 0),
    (512, 13, 1000, 1, 1, 0),  # SqueezeNet conv10
]


def layer_model(channels, size, out_channels, kernel, stride, pad) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((out_channels, channels, kernel, kernel)).astype(np.float32)
    bias = rng.standard_normal(out_channels).astype(np.float32)
    nodes = [
        helper.make_node(
            "Conv",
            ["x", "w", "b"],
            ["c"],
            kernel_shape=[kernel] * 2,
            strides=[stride] * 2,
            pads=[pad] * 4,
        ),
        helper.make_node("Relu", ["c"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "layer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    core = load_target("host").core
    print(f"{'layer':28} {'deepxc ms':>10} {'ort ms':>8} {'dx/ort':>7}  tile")
    for layer in LAYERS:
        channels, size, out_channels, kernel, stride, pad = layer
        model = layer_model(*layer)
        inputs = {"x": np.random.default_rng(1).standard_normal((1, channels, size, size))}
        inputs = {k: v.astype(np.float32) for k, v in inputs.items()}
        shape = conv2d.ConvShape(
            channels,
            size,
            size,
            out_channels,
            (kernel, kernel),
            (stride, stride),
            (1, 1),
            (pad,) * 4,
            1,
        )
        tiling = conv2d.choose_tiling(shape, core)
        with tempfile.TemporaryDirectory(prefix="deepxc-layer-") as tmp:
            deepxc_ms, _ = time_deepxc(model, inputs, args.repeat, tmp + "/b", args.threads)
        ort_ms = time_onnxruntime(model, inputs, args.repeat, args.threads)
        name = f"{channels}x{size}x{size} k{kernel}s{stride} -> {out_channels}"
        kind = "across channels" if tiling.across_channels else "along columns"
        print(
            f"{name:28} {deepxc_ms:10.3f} {ort_ms:8.3f} {deepxc_ms / ort_ms:7.2f}  "
            f"{tiling.mr} ch x {tiling.rows} rows x {tiling.cols} cols, {kind}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
