"""Tensors past the size limit (2^31 elements or 2 GiB, or 2 GiB of weights) are refused
at ingest, naming the tensor and its node; the tile search stays short on huge widths."""

from __future__ import annotations

import time

import numpy as np
import pytest
from models import make_model, tensor
from onnx import TensorProto, helper, numpy_helper
from test_cli_errors import assert_one_line_error, save

from deepxc.errors import SizeLimitError
from deepxc.ir import Graph
from deepxc.ir.verify import check_weights_size
from deepxc.schedules import conv2d
from deepxc.targets import Core


def wide_conv(width: int):
    weights = numpy_helper.from_array(np.ones((2, 1, 1, 1), np.float32), "w")
    return make_model(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="wide_conv")],
        [tensor("x", [1, 1, 1, width])],
        [tensor("y", [1, 2, 1, width])],
        [weights],
    )


def relu(shape, elem=TensorProto.FLOAT):
    return make_model(
        [helper.make_node("Relu", ["x"], ["y"], name="big_relu")],
        [tensor("x", list(shape), elem)],
        [tensor("y", list(shape), elem)],
    )


@pytest.mark.parametrize(
    "model, fragments",
    [
        # the build that spent 375 s in the tile search, then failed inside TVM
        (wide_conv(2**31 - 1), ["model input", "'x'", "2,147,483,647 elements"]),
        (wide_conv(2**28), ["'wide_conv' (Conv)", "'y'", "2,147,483,648 bytes"]),
        (relu([1, 2**31]), ["model input", "'x'", "2,147,483,648 elements"]),
    ],
    ids=["conv_width_2^31-1", "conv_output_2GiB", "relu_2^31"],
)
def test_huge_tensor_is_refused_quickly(capsys, tmp_path, model, fragments):
    path = save(model, tmp_path / "m.onnx")
    started = time.monotonic()
    line = assert_one_line_error(
        capsys, ["build", path, "-o", tmp_path / "b"], *fragments, "2^31", "2 GiB"
    )
    assert time.monotonic() - started < 30, line
    assert not (tmp_path / "b").exists()


def test_weights_over_2_gib_are_refused():
    graph = Graph()
    # broadcast views: 2 GiB of weights on paper, none in memory
    graph.constants["w1"] = np.broadcast_to(np.float32(0), (2**28,))
    graph.constants["w2"] = np.broadcast_to(np.float32(0), (2**28 + 16,))
    with pytest.raises(SizeLimitError, match=r"2,147,483,712 bytes \(the largest, 'w2'"):
        check_weights_size(graph)


def test_tile_search_on_a_huge_width_returns_promptly():
    shape = conv2d.ConvShape(1, 1, 2**31 - 1, 8, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1)
    started = time.monotonic()
    tiling = conv2d.choose_tiling(shape, Core(8, 16))
    assert time.monotonic() - started < 1.0
    assert tiling.cols <= 14  # never wider than the registers
