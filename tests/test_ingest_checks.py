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
