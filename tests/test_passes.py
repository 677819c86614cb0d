"""Each simplifying pass, Before -> After: the graph changes as intended and still computes
what onnxruntime computes for the original model (run in process, right after the pass)."""

from __future__ import annotations

import numpy as np
import pytest
from inprocess import check_graph
from models import make_model, tensor
from onnx import TensorProto, helper, numpy_helper

from deepxc.ingest.passes import drop_identity, fold_batchnorm, fold_constants
from deepxc.ingest.reader import import_model
from deepxc.ir import verify

rng = np.random.default_rng(0)


def array(name, shape, low=None):
    value = rng.uniform(low, 1.5, shape) if low is not None else rng.standard_normal(shape)
    return numpy_helper.from_array(value.astype(np.float32), name)


def conv_bn_model():
    return make_model(
        [
            helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
            helper.make_node(
                "BatchNormalization", ["c", "s", "beta", "m", "v"], ["y"], name="bn", epsilon=1e-3
            ),
        ],
        [tensor("x", [1, 3, 6, 6])],
        [tensor("y", [1, 4, 6, 6])],
        [
            array("w", (4, 3, 3, 3)),
            array("b", (4,)),
            array("s", (4,)),
            array("beta", (4,)),
            array("m", (4,)),
            array("v", (4,), low=0.5),
        ],
    )


def gemm_bn_model(trans_b: int):
    shape = (5, 8) if trans_b else (8, 5)
    return make_model(
        [
            helper.make_node("Gemm", ["x", "w", "b"], ["g"], name="fc", transB=trans_b),
            helper.make_node("BatchNormalization", ["g", "s", "beta", "m", "v"], ["y"], name="bn"),
        ],
        [tensor("x", [2, 8])],
        [tensor("y", [2, 5])],
        [
            array("w", shape),
            array("b", (5,)),
            array("s", (5,)),
            array("beta", (5,)),
            array("m", (5,)),
            array("v", (5,), low=0.5),
        ],
    )


def ops(graph):
    return [node.op for node in graph.nodes()]


@pytest.mark.parametrize(
    "model",
    [conv_bn_model(), gemm_bn_model(0), gemm_bn_model(1)],
    ids=["conv", "gemm", "gemm_transB"],
)
def test_fold_batchnorm(model):
    graph = import_model(model)
    assert "BatchNormalization" in ops(graph)
    graph = fold_batchnorm.run(graph)
    verify(graph, after="fold_batchnorm")
    assert "BatchNormalization" not in ops(graph)
    assert graph.outputs == ["y"] and graph.producer("y").op in ("Conv", "Gemm")
    check_graph(graph, model)


def test_fold_batchnorm_keeps_shared_conv_output():
    model = conv_bn_model()
    model.graph.node.append(helper.make_node("Relu", ["c"], ["r"], name="other_use"))
    model.graph.output.append(tensor("r", [1, 4, 6, 6]))
    graph = fold_batchnorm.run(import_model(model))
    assert "BatchNormalization" in ops(graph)  # the conv output is read twice
    check_graph(graph, model)


def test_fold_batchnorm_keeps_scaled_gemm():
    model = gemm_bn_model(0)
    model.graph.node[0].attribute.append(helper.make_attribute("alpha", 0.5))
    graph = fold_batchnorm.run(import_model(model))
    assert ops(graph) == ["Gemm", "BatchNormalization"]
    check_graph(graph, model)


def test_drop_identity():
    model = make_model(
        [
            helper.make_node("Identity", ["x"], ["a"], name="id"),
            helper.make_node("Dropout", ["a"], ["b", "mask"], name="drop"),
            helper.make_node("Relu", ["b"], ["c"], name="relu"),
            helper.make_node("Identity", ["c"], ["y"], name="id_out"),
        ],
        [tensor("x", [2, 3])],
        [tensor("y", [2, 3])],
        opset=12,
    )
    graph = drop_identity.run(import_model(model))
    verify(graph, after="drop_identity")
    assert ops(graph) == ["Relu", "Identity"]  # the output's Identity keeps its name
    assert graph.node("relu").inputs == ["x"]
    check_graph(graph, model)


def test_fold_constants_shape_chain():
    """Flatten written as Shape -> Gather -> Unsqueeze -> Concat -> Reshape folds away."""
    shape_nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "zero"], ["batch"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"], name="unsq"),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], name="cat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape"),
    ]
    model = make_model(
        shape_nodes,
        [tensor("x", [2, 3, 4])],
        [tensor("y", [2, 12])],
        [
            numpy_helper.from_array(np.array(0, np.int64), "zero"),
            numpy_helper.from_array(np.array([0], np.int64), "axes"),
            numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
        ],
    )
    graph = fold_constants.run(import_model(model))
    verify(graph, after="fold_constants")
    assert ops(graph) == ["Reshape"]
    np.testing.assert_array_equal(graph.constants["target"], [2, -1])
    check_graph(graph, model)


def test_fold_constants_constant_of_shape():
    model = make_model(
        [
            helper.make_node(
                "ConstantOfShape",
                ["dims"],
                ["fill"],
                name="cos",
                value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5]),
            ),
            helper.make_node("Add", ["x", "fill"], ["y"], name="add"),
        ],
        [tensor("x", [2, 3])],
        [tensor("y", [2, 3])],
        [numpy_helper.from_array(np.array([2, 3], np.int64), "dims")],
    )
    graph = fold_constants.run(import_model(model))
    assert ops(graph) == ["Add"]
    np.testing.assert_array_equal(graph.constants["fill"], np.full((2, 3), 0.5, np.float32))
    check_graph(graph, model)


@pytest.mark.parametrize("opset", [8, 17])
def test_fold_constants_op_with_importer_defaults(opset):
    """The MaxPool importer fills attributes that opset 8 lacks (ceil_mode, dilations);
    folding still evaluates the node with ONNX's reference."""
    model = make_model(
        [
            helper.make_node("MaxPool", ["c"], ["m"], name="pool", kernel_shape=[2, 2]),
            helper.make_node("Add", ["x", "m"], ["y"], name="add"),
        ],
        [tensor("x", [1, 2, 2, 2])],
        [tensor("y", [1, 2, 2, 2])],
        [array("c", (1, 2, 3, 3))],
        opset=opset,
    )
    graph = fold_constants.run(import_model(model))
    verify(graph, after="fold_constants")
    assert ops(graph) == ["Add"]
    check_graph(graph, model)
