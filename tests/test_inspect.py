"""`deepxc inspect`: inputs and outputs, MACs and their shares counted from the ONNX shapes,
the arena estimate against the bundle's memory plan, and RLC planned from build's flags."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

from deepxc.cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_CNN = os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")
DIGITS = os.path.join(ROOT, "examples", "digits", "model.onnx")
CALIBRATION = os.path.join(ROOT, "examples", "digits", "calibration.npz")


def conv_gemm_model() -> onnx.ModelProto:
    """x (1,3,12,10) -> Conv 7 filters 3x2, stride (2,1), pad 1 -> Relu -> Flatten -> Gemm."""
    rng = np.random.default_rng(0)
    conv_out = [1, 7, (12 + 2 - 3) // 2 + 1, (10 + 2 - 2) // 1 + 1]  # ONNX's output size
    flat = int(np.prod(conv_out))
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", strides=[2, 1], pads=[1] * 4),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fc", "b"], ["y"], name="dense", transB=1),
    ]
    weights = [
        numpy_helper.from_array(rng.standard_normal((7, 3, 3, 2)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal((4, flat)).astype(np.float32), "fc"),
        numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b"),
    ]
    graph = helper.make_graph(
        nodes,
        "convgemm",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 12, 10])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _onnx_macs(model: onnx.ModelProto) -> dict[str, int]:
    """MACs of the Conv and Gemm layers from the ONNX model's own shapes (onnx's shape
    inference): output elements times the reduction length."""
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {
        info.name: [d.dim_value for d in info.type.tensor_type.shape.dim]
        for info in [*inferred.input, *inferred.value_info, *inferred.output]
    }
    shapes.update({t.name: list(t.dims) for t in model.graph.initializer})
    macs = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            macs[node.name] = int(np.prod(shapes[node.output[0]])) * int(
                np.prod(shapes[node.input[1]][1:])
            )
        elif node.op_type == "Gemm":
            macs[node.name] = int(np.prod(shapes[node.output[0]])) * shapes[node.input[0]][-1]
    return macs


def _inspect_json(capsys, *argv) -> dict:
    assert main(["inspect", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _io(values) -> list[dict]:
    return [
        {
            "name": v.name,
            "shape": [d.dim_value for d in v.type.tensor_type.shape.dim],
            "dtype": onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name,
        }
        for v in values
    ]


def test_json_counts_macs_and_shares_from_the_onnx_shapes(tmp_path, capsys):
    model = conv_gemm_model()
    onnx.save(model, tmp_path / "m.onnx")
    report = _inspect_json(capsys, tmp_path / "m.onnx")
    assert report["inputs"] == _io(model.graph.input)
    assert report["outputs"] == _io(model.graph.output)
    expected = _onnx_macs(model)
    total = sum(expected.values())
    layers = {layer["name"]: layer for layer in report["layers"]}
    for name, macs in expected.items():
        assert layers[name]["macs"] == macs
        assert abs(layers[name]["macs_share"] - macs / total) < 1e-12
    assert layers["relu"]["macs"] == 0 and layers["relu"]["macs_share"] == 0
    assert report["totals"]["macs"] == total
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    assert report["totals"]["params"] == params


def test_json_layers_carry_their_shapes_for_placement_scripts(tmp_path, capsys):
    """Each layer: the shapes of the activations it reads and of its output, as onnx's
    shape inference gives them; the names are those --place takes."""
    model = conv_gemm_model()
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    }
    onnx.save(model, tmp_path / "m.onnx")
    report = _inspect_json(capsys, tmp_path / "m.onnx")
    layers = {layer["name"]: layer for layer in report["layers"]}
    initializers = {t.name for t in model.graph.initializer}
    for node in model.graph.node:
        reads = [shapes[t] for t in node.input if t and t not in initializers]
        assert layers[node.name]["input_shapes"] == reads, node.name
        assert layers[node.name]["output_shape"] == shapes[node.output[0]], node.name


def test_table_has_a_share_column_and_the_io(tmp_path, capsys):
    model = conv_gemm_model()
    onnx.save(model, tmp_path / "m.onnx")
    assert main(["inspect", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    expected = _onnx_macs(model)
    total = sum(expected.values())
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    for name, macs in expected.items():
        assert rows[name].split()[-1] == f"{macs / total:.1%}"
    assert rows["input"].split()[1:] == ["x", "[1,", "3,", "12,", "10]", "float32"]
    assert rows["output"].split()[1:] == ["y", "[1,", "4]", "float32"]


def test_arena_estimate_is_the_bundles_arena_without_kernel_scratch(tmp_path, capsys):
    """tiny_cnn lowers to one kernel per layer, Conv and Relu fused, so the estimate is the
    bundle's arena less the kernels' scratch space (both in manifest.json)."""
    report = _inspect_json(capsys, TINY_CNN)
    bundle = tmp_path / "b"
    assert main(["build", TINY_CNN, "--threads", "1", "-o", str(bundle)]) == 0
    sizes = json.loads((bundle / "manifest.json").read_text())["sizes"]
    assert report["arena_estimate_bytes"] == sizes["arena_bytes"] - sizes["workspace_bytes"]
    # and between the largest tensor and all tensors side by side, in sizes from ONNX's
    # shape inference
    model = onnx.shape_inference.infer_shapes(onnx.load(TINY_CNN))
    sizes = [
        4 * int(np.prod([d.dim_value for d in v.type.tensor_type.shape.dim]))
        for v in [*model.graph.input, *model.graph.value_info, *model.graph.output]
    ]
    assert max(sizes) <= report["arena_estimate_bytes"] < sum(sizes)
    capsys.readouterr()
    assert main(["inspect", TINY_CNN]) == 0
    assert f"about {report['arena_estimate_bytes']:,} bytes" in capsys.readouterr().out


def test_rlc_without_a_budget_names_the_flags(capsys):
    assert main(["inspect", DIGITS, "--rlc"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    for flag in ("--rlc-macs", "--rlc-weights", "--rlc-max-loss", "--rlc-levels"):
        assert flag in err


def test_rlc_plans_as_build_does_with_progress_on_stderr(capsys):
    """The same flags and defaults as build: --rlc-levels without --rlc-levels-by limits
    the MACs. The per-layer measurements go to stderr; stdout holds the JSON alone."""
    argv = ["inspect", DIGITS, "--rlc", "--rlc-levels", "1.0,0.4", "--calibration", CALIBRATION]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    measured = [line for line in captured.err.splitlines() if line.startswith("deepxc: rlc: [")]
    assert measured and all("ranks" in line for line in measured)
    levels = json.loads(captured.out)["levels"]
    assert [level["rlc"]["budget"] for level in levels] == ["uncompressed", "MACs <= 40%"]
    assert levels[1]["rlc"]["macs"] <= 0.4 * levels[0]["rlc"]["macs"]
