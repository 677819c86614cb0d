"""Bundles with remote partitions, made for the server's tests: a directory holding a
manifest.json (only "name" and "remote") and remote/<model>.onnx files, each a piece of an
example model cut with onnx.utils.extract_model, its inputs and outputs renamed input0...,
output0... as `deepxc build` names them."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import onnx.utils

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_CNN = os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")
DATATYPES = {onnx.TensorProto.FLOAT: "FP32"}


def cut(model_path: str, inputs: list[str], outputs: list[str], work: str) -> onnx.ModelProto:
    """The piece of the model between `inputs` and `outputs`, its boundary tensors
    renamed input0..., output0..."""
    piece_path = os.path.join(work, "piece.onnx")
    onnx.utils.extract_model(model_path, piece_path, inputs, outputs)
    piece = onnx.load(piece_path)
    os.remove(piece_path)
    names = {name: f"input{i}" for i, name in enumerate(inputs)}
    names.update({name: f"output{i}" for i, name in enumerate(outputs)})
    for node in piece.graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for value in [*piece.graph.input, *piece.graph.output]:
        value.name = names.get(value.name, value.name)
    kept = [v for v in piece.graph.value_info if v.name not in names]
    del piece.graph.value_info[:]
    piece.graph.value_info.extend(kept)
    onnx.checker.check_model(piece, full_check=True)
    return piece


def _tensors(values, originals: list[str]) -> list[dict]:
    return [
        {
            "name": v.name,
            "tensor": original,
            "datatype": DATATYPES[v.type.tensor_type.elem_type],
            "shape": [d.dim_value for d in v.type.tensor_type.shape.dim],
        }
        for v, original in zip(values, originals)
    ]


def make_bundle(directory: str, pieces: dict[str, tuple], name: str = "tiny_cnn") -> str:
    """A bundle directory serving `pieces`: model name -> (ONNX partition, the whole
    model's tensors its inputs are, those its outputs are)."""
    os.makedirs(os.path.join(directory, "remote"), exist_ok=True)
    partitions = []
    for index, (model, (piece, inputs, outputs)) in enumerate(pieces.items()):
        onnx.save(piece, os.path.join(directory, "remote", f"{model}.onnx"))
        partitions.append(
            {
                "model": model,
                "version": "1",
                "level": 0,
                "index": index,
                "layers": [node.name for node in piece.graph.node],
                "onnx": f"remote/{model}.onnx",
                "inputs": _tensors(piece.graph.input, inputs),
                "outputs": _tensors(piece.graph.output, outputs),
            }
        )
    manifest = {
        "name": name,
        "remote": {"url": None, "timeout_ms": 2000, "partitions": partitions},
    }
    with open(os.path.join(directory, "manifest.json"), "w") as file:
        json.dump(manifest, file, indent=2)
    return directory


def tiny_cnn_bundle(directory: str) -> str:
    """tiny_cnn with two remote partitions: conv2+relu2 (one input, one output) and
    relu1's output through pool1 and conv2 to both the pooled and the convolved tensor
    (two outputs)."""
    os.makedirs(directory, exist_ok=True)
    cuts = {"tiny_cnn_p0": (["p1"], ["r2"]), "tiny_cnn_p1": (["r1"], ["p1", "c2"])}
    pieces = {
        model: (cut(TINY_CNN, inputs, outputs, directory), inputs, outputs)
        for model, (inputs, outputs) in cuts.items()
    }
    return make_bundle(directory, pieces)


def whole_model_tensors(seed: int = 0) -> dict[str, np.ndarray]:
    """Every tensor of tiny_cnn on a random image, computed by onnxruntime on the whole
    model (a reference for its pieces that does not use them)."""
    import onnxruntime

    model = onnx.shape_inference.infer_shapes(onnx.load(TINY_CNN))
    produced = {name for node in model.graph.node for name in node.output}
    listed = {v.name for v in model.graph.output}
    model.graph.output.extend(
        v for v in model.graph.value_info if v.name in produced and v.name not in listed
    )
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    image = np.random.default_rng(seed).standard_normal([1, 3, 32, 32]).astype(np.float32)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"image": image}), strict=True))


def random_feeds(piece_path: str, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    model = onnx.load(piece_path)
    return {
        v.name: rng.standard_normal([d.dim_value for d in v.type.tensor_type.shape.dim]).astype(
            np.float32
        )
        for v in model.graph.input
    }


def reference(piece_path: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """onnxruntime's outputs of the partition."""
    import onnxruntime

    session = onnxruntime.InferenceSession(piece_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))
