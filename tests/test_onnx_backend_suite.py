"""The ONNX backend test cases of deepxc's ops, built and run through the whole compiler.

Every case runs unless it is in SKIPS, each with its reason; the list should only shrink.
Cases whose inputs or outputs are not float32 are skipped by rule: a bundle's inputs and
outputs are float32 (the runtime API takes float arrays).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx_cases import Case, bind_constant_inputs, float32_only, node_cases, pytorch_cases
from support import quiet

from deepxc.pipeline import build_model
from deepxc.runner import run_bundle

INFERENCE_ONLY = "training mode: deepxc compiles inference graphs only"
ZERO_SIZE = "zero-size tensors: every dimension of a deepxc tensor must be > 0"
NOT_TENSORS = "sequence/optional values: deepxc compiles tensor graphs only"
LAYER_NORM_STATS = "LayerNormalization's Mean and InvStdDev outputs: deepxc computes Y only"
CROP_AND_RESIZE = "Resize: tf_crop_and_resize is not supported"
ANTIALIAS = "Resize: antialiased downsizing is not supported"
# deepxc follows onnxruntime, which divides by the output size less one; the reference
# divides by input size times scale less one (4 x 0.6 - 1 = 1.4 here)
ALIGN_CORNERS_PART_SCALE = "Resize: align_corners with a scale of no whole size"

SKIPS = {
    "test_training_dropout": INFERENCE_ONLY,
    "test_training_dropout_default": INFERENCE_ONLY,
    "test_training_dropout_zero_ratio": INFERENCE_ONLY,
    "test_batchnorm_example_training_mode": INFERENCE_ONLY,
    "test_batchnorm_epsilon_training_mode": INFERENCE_ONLY,
    "test_reshape_allowzero_reordered": ZERO_SIZE,
    "test_split_zero_size_splits_opset13": ZERO_SIZE,
    "test_split_zero_size_splits_opset18": ZERO_SIZE,
    "test_identity_sequence": NOT_TENSORS,
    "test_identity_opt": NOT_TENSORS,
    "test_rotary_embedding_expanded": ZERO_SIZE,
    "test_rotary_embedding_3d_input_expanded": ZERO_SIZE,
    "test_rotary_embedding_interleaved_expanded": ZERO_SIZE,
    "test_rotary_embedding_no_position_ids_expanded": ZERO_SIZE,
    "test_rotary_embedding_no_position_ids_interleaved_expanded": ZERO_SIZE,
    "test_reduce_max_empty_set": ZERO_SIZE,
    "test_reduce_sum_empty_set": ZERO_SIZE,
    "test_reduce_sum_empty_set_non_reduced_axis_zero": ZERO_SIZE,
    "test_reduce_sum_square_empty_set_expanded": ZERO_SIZE,
    "test_slice_start_out_of_bounds": ZERO_SIZE,
    "test_layer_normalization_4d_axis0": LAYER_NORM_STATS,
    "test_layer_normalization_4d_axis_negative_4": LAYER_NORM_STATS,
    "test_layer_normalization_4d_axis1": LAYER_NORM_STATS,
    "test_layer_normalization_4d_axis_negative_3": LAYER_NORM_STATS,
    "test_layer_normalization_4d_axis2": LAYER_NORM_STATS,
    "test_layer_normalization_4d_axis_negative_2": LAYER_NORM_STATS,
    "test_layer_normalization_4d_axis3": LAYER_NORM_STATS,
    "test_layer_normalization_4d_axis_negative_1": LAYER_NORM_STATS,
    "test_layer_normalization_default_axis": LAYER_NORM_STATS,
    "test_layer_normalization_2d_axis0": LAYER_NORM_STATS,
    "test_layer_normalization_2d_axis_negative_2": LAYER_NORM_STATS,
    "test_layer_normalization_2d_axis1": LAYER_NORM_STATS,
    "test_layer_normalization_2d_axis_negative_1": LAYER_NORM_STATS,
    "test_layer_normalization_3d_axis0_epsilon": LAYER_NORM_STATS,
    "test_layer_normalization_3d_axis_negative_3_epsilon": LAYER_NORM_STATS,
    "test_layer_normalization_3d_axis1_epsilon": LAYER_NORM_STATS,
    "test_layer_normalization_3d_axis_negative_2_epsilon": LAYER_NORM_STATS,
    "test_layer_normalization_3d_axis2_epsilon": LAYER_NORM_STATS,
    "test_layer_normalization_3d_axis_negative_1_epsilon": LAYER_NORM_STATS,
    "test_resize_tf_crop_and_resize": CROP_AND_RESIZE,
    "test_resize_tf_crop_and_resize_extrapolation_value": CROP_AND_RESIZE,
    "test_resize_tf_crop_and_resize_axes_2_3": CROP_AND_RESIZE,
    "test_resize_tf_crop_and_resize_axes_3_2": CROP_AND_RESIZE,
    "test_resize_downsample_sizes_linear_antialias": ANTIALIAS,
    "test_resize_downsample_scales_linear_antialias": ANTIALIAS,
    "test_resize_downsample_scales_cubic_antialias": ANTIALIAS,
    "test_resize_downsample_sizes_cubic_antialias": ANTIALIAS,
    "test_resize_downsample_scales_linear_align_corners": ALIGN_CORNERS_PART_SCALE,
    "test_resize_downsample_scales_cubic_align_corners": ALIGN_CORNERS_PART_SCALE,
}

# ONNX's own backend test runner compares with these tolerances (some expected outputs
# are stored rounded to four digits).
RTOL, ATOL = 1e-3, 1e-7

CASES = node_cases() + pytorch_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_backend_case(case, tmp_path):
    if case.name in SKIPS:
        pytest.skip(SKIPS[case.name])
    check_case(case, tmp_path)


def check_case(case: Case, tmp_path) -> None:
    bound = bind_constant_inputs(case)
    if not float32_only(bound):
        pytest.skip("bundle inputs and outputs are float32 only")
    build_model(bound.model, "host", str(tmp_path), log=quiet)
    outputs, _ = run_bundle(str(tmp_path), bound.inputs)
    assert set(outputs) == set(bound.outputs)
    for name, expected in bound.outputs.items():
        np.testing.assert_allclose(outputs[name], expected, rtol=RTOL, atol=ATOL, err_msg=name)


def y_only(case: Case) -> Case:
    """A LayerNormalization case asking for Y alone (deepxc does not compute the others)."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    node = model.graph.node[0]
    del node.output[1:]
    kept = [value for value in model.graph.output if value.name == node.output[0]]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    outputs = {node.output[0]: case.outputs[node.output[0]]}
    return Case(case.name, model, case.inputs, outputs)


STATS_CASES = [y_only(case) for case in CASES if SKIPS.get(case.name) == LAYER_NORM_STATS]


@pytest.mark.parametrize("case", STATS_CASES, ids=[c.name for c in STATS_CASES])
def test_layer_norm_case_without_statistics(case, tmp_path):
    check_case(case, tmp_path)
