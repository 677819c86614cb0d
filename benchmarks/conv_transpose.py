"""Single ConvTranspose layers, deepxc vs onnxruntime.

    python benchmarks/conv_transpose.py [--repeat N] [--threads N]

Each row is one ConvTranspose (with bias) of a shape from decoders and GAN generators.
deepxc runs a 2-D one as s x s convolutions in its own kernel, one per output phase of
stride s, interleaved after (deepxc.lower.relax_ops.conv_transpose). Compare ratios: the
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

# (channels, size, out channels, kernel, stride, pad)
LAYERS = [
    (64, 32, 32, 4, 2, 1),  # DCGAN-style 2x upsampling
    (64, 32, 32, 3, 2, 1),
    (64, 32, 32, 2, 2, 0),  # U-Net up-convolution
    (32, 32, 32, 3, 1, 1),
]


def layer_model(channels, size, out_channels, kernel, stride, pad) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((channels, out_channels, kernel, kernel)).astype(np.float32)
    bias = rng.standard_normal(out_channels).astype(np.float32)
    node = helper.make_node(
        "ConvTranspose", ["x", "w", "b"], ["y"], strides=[stride] * 2, pads=[pad] * 4
    )
    graph = helper.make_graph(
        [node],
        "layer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(f"{'layer':28} {'deepxc ms':>10} {'ort ms':>8} {'dx/ort':>7}")
    for layer in LAYERS:
        channels, size, out_channels, kernel, stride, pad = layer
        model = layer_model(*layer)
        x = np.random.default_rng(1).standard_normal((1, channels, size, size))
        inputs = {"x": x.astype(np.float32)}
        with tempfile.TemporaryDirectory(prefix="deepxc-layer-") as tmp:
            deepxc_ms, _ = time_deepxc(model, inputs, args.repeat, tmp + "/b", args.threads)
        ort_ms = time_onnxruntime(model, inputs, args.repeat, args.threads)
        name = f"{channels}x{size}x{size} k{kernel}s{stride} -> {out_channels}"
        print(f"{name:28} {deepxc_ms:10.3f} {ort_ms:8.3f} {deepxc_ms / ort_ms:7.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
