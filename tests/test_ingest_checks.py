"""Ingest refuses what the ONNX checker refuses, and Conv attributes that do not fit its
tensors, as one-line errors; every model deepxc is meant to take still passes."""

from __future__ import annotations

import glob
import os

import numpy as np
import onnx
import pytest
from models import make_model, relu_add, tensor
from onnx import TensorProto, helper, numpy_helper
from test_cli_errors import assert_one_line_error, save

from deepxc.errors import InvalidGraph, ShapeError, SizeLimitError
from deepxc.ingest.reader import import_model
from deepxc.pipeline import frontend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gemm_with_int32_weights() -> onnx.ModelProto:
    weights = numpy_helper.from_array(np.ones((3, 4), np.int32), "w")
    return make_model(
        [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1)],
        [tensor("x", [1, 4])],
        [tensor("y", [1, 3])],
        [weights],
    )


def test_type_invalid_model_is_refused(capsys, tmp_path):
    """onnxruntime refuses int32 Gemm weights; deepxc built it into a one-hot answer."""
    path = save(gemm_with_int32_weights(), tmp_path / "m.onnx")
    line = assert_one_line_error(
        capsys, ["build", path, "-o", tmp_path / "b"], "ONNX checker", "node name: fc", "int32"
    )
    assert "Gemm" in line
    assert not (tmp_path / "b").exists()


def test_missing_required_attribute_is_refused_naming_the_node():
    model = make_model(
        [helper.make_node("LRN", ["x"], ["y"], name="norm1")],
        [tensor("x", [1, 3, 4, 4])],
        [tensor("y", [1, 3, 4, 4])],
    )
    with pytest.raises(InvalidGraph, match="Required attribute 'size' is missing.*norm1"):
        frontend(model, log=lambda _: None)


def test_output_shape_left_to_inference_is_accepted():
    """The checker wants a shape on graph outputs; inference supplies it, as onnxruntime's
    does, so models that leave it out (onnx.helper with shape None) still build."""
    model = relu_add((2, 3))
    model.graph.output[0].type.tensor_type.ClearField("shape")
    graph = import_model(model)
    assert graph.spec("y").shape == (2, 3)


def test_input_without_shape_needs_input_shape():
    model = relu_add((2, 3))
    model.graph.input[0].type.tensor_type.ClearField("shape")
    with pytest.raises(ShapeError, match="input 'x' has no shape: give --input-shape x="):
        import_model(model)
    assert import_model(model, {"x": (2, 3)}).spec("x").shape == (2, 3)


def test_model_over_the_protobuf_limit_is_refused(monkeypatch):
    """Over 2 GiB a model cannot be serialized for the checker: it is refused with the
    limit named (a real one would take the test 2 GiB of memory)."""
    model = relu_add()
    monkeypatch.setattr(onnx.checker, "MAXIMUM_PROTOBUF", model.ByteSize() - 1)
    with pytest.raises(SizeLimitError, match="over 2 GiB"):
        import_model(model)


def example_models() -> list[str]:
    return sorted(glob.glob(os.path.join(ROOT, "examples", "*", "model.onnx")))


@pytest.mark.parametrize("path", example_models(), ids=os.path.dirname)
def test_example_models_pass_the_checker(path):
    frontend(onnx.load(path), log=lambda _: None)


def conv_model(weights_shape=(4, 2, 3, 3), **attrs) -> onnx.ModelProto:
    weights = numpy_helper.from_array(np.ones(weights_shape, np.float32), "w")
    return make_model(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv1", **attrs)],
        [tensor("x", [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [weights],
    )


@pytest.mark.parametrize("group", [10**9, -1, 0, 3])
def test_conv_group_that_does_not_divide_the_channels(capsys, tmp_path, group):
    path = save(conv_model(group=group), tmp_path / "m.onnx")
    assert_one_line_error(
        capsys, ["build", path, "-o", tmp_path / "b"], "'conv1'", f"group={group}", "divisor"
    )


@pytest.mark.parametrize(
    "weights_shape, attrs, fragment",
    [
        ((4, 4, 3, 3), {"group": 2}, "do not fit group=2"),
        ((3, 2, 3, 3), {"group": 2}, "multiple of 2"),
        ((4, 4, 3, 3), {"kernel_shape": [5, 5]}, "kernel_shape=[5, 5]"),
    ],
)
def test_conv_weights_that_do_not_fit_the_attributes(weights_shape, attrs, fragment):
    with pytest.raises(InvalidGraph, match="conv1") as error:
        frontend(conv_model(weights_shape, **attrs), log=lambda _: None)
    assert fragment in str(error.value)


def _gemm(bias_shape, opset=17, **attrs) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(bias_shape).astype(np.float32), "b")
    return make_model(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", **attrs)],
        [tensor("x", [2, 4])],
        [tensor("y", [2, 3])],
        [weights, bias],
        opset=opset,
    )


@pytest.mark.parametrize(
    "model, fragment",
    [
        (_gemm([2]), "does not broadcast"),  # ONNX's inference leaves the bias unchecked
        (_gemm([3], opset=6), "does not broadcast"),  # opset 6 broadcasts only when asked
        (
            make_model(
                [helper.make_node("Flatten", ["x"], ["y"], name="flat", axis=1 << 40)],
                [tensor("x", [2, 3])],
                [tensor("y", None)],
            ),
            "axis",
        ),
        (
            make_model(
                [helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape")],
                [tensor("x", [2, 3])],
                [tensor("y", None)],
                [numpy_helper.from_array(np.array([[3, 2]], np.int64), "s")],
            ),
            "not a vector",
        ),
    ],
    ids=["gemm-bias", "gemm6-bias-without-broadcast", "flatten-axis", "reshape-2d-shape"],
)
def test_invalid_forms_shape_inference_accepts_are_refused(model, fragment):
    """onnxruntime refuses these when it runs them; deepxc built them before."""
    with pytest.raises(InvalidGraph, match=fragment):
        frontend(model, log=lambda _: None)


def test_gemm_bias_that_broadcasts_is_accepted():
    frontend(_gemm([3]), log=lambda _: None)
    frontend(_gemm([3], opset=6, broadcast=1), log=lambda _: None)


def test_opset_newer_than_released_is_refused():
    model = relu_add()
    model.opset_import[0].version = onnx.defs.onnx_opset_version() + 1
    with pytest.raises(InvalidGraph, match="released opsets"):
        frontend(model, log=lambda _: None)


def test_output_without_element_type_is_refused():
    model = relu_add()
    model.graph.output[0].type.tensor_type.elem_type = 0
    with pytest.raises(InvalidGraph, match="no element type"):
        frontend(model, log=lambda _: None)


def test_checker_failures_of_any_kind_are_user_errors():
    """The checker raises ValueError, not ValidationError, for an unknown dtype."""
    model = gemm_with_int32_weights()
    model.graph.initializer[0].data_type = 999
    with pytest.raises(InvalidGraph, match="ONNX checker"):
        frontend(model, log=lambda _: None)


def _one(op, inputs, shapes, constants=(), **attrs) -> onnx.ModelProto:
    return make_model(
        [helper.make_node(op, inputs, ["y"], name="node1", **attrs)],
        [tensor(name, shape) for name, shape in shapes.items()],
        [tensor("y", None)],
        list(constants),
    )


@pytest.mark.parametrize(
    "model, fragment",
    [
        (_one("Concat", ["a", "b"], {"a": [2, 3], "b": [2, 3]}, axis=(1 << 63) - 1), "axis"),
        (_one("Softmax", ["a"], {"a": [2, 3]}, axis=5), "axis"),
        (_one("Transpose", ["a"], {"a": [1, 2, 3, 4]}, perm=[0, 2, 1]), "permutation"),
        (
            make_model(
                [helper.make_node("Conv", ["x", "w", "b"], ["y"], name="node1")],
                [tensor("x", [1, 3, 5, 5])],
                [tensor("y", None)],
                [
                    numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w"),
                    numpy_helper.from_array(np.ones(9, np.float32), "b"),
                ],
            ),
            "bias",
        ),
    ],
    ids=["concat-axis", "softmax-axis", "transpose-perm", "conv-bias"],
)
def test_attributes_that_do_not_fit_the_input_are_refused(model, fragment):
    """These reached TVM and ended in internal errors (or, for Concat, a bundle that
    onnxruntime would refuse to run)."""
    with pytest.raises(InvalidGraph, match=f"node1.*{fragment}"):
        frontend(model, log=lambda _: None)


def test_names_that_are_not_utf8_are_refused():
    model = relu_add()
    raw = bytearray(model.SerializeToString())
    index = raw.index(b"relu1")
    raw[index : index + 5] = b"r\xff\xfeu1"
    model = onnx.load_from_string(bytes(raw))
    with pytest.raises(InvalidGraph, match="UTF-8"):
        frontend(model, log=lambda _: None)
