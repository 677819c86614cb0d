"""The ONNX backend test cases of deepxc's ops, built and run through the whole compiler.

Every case runs unless it is in SKIPS, each with its reason; the list should only shrink.
Cases whose inputs or outputs are not float32 are skipped by rule: a bundle's inputs and
outputs are float32 (the runtime API takes float arrays).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx_cases import bind_constant_inputs, float32_only, node_cases, pytorch_cases
from support import quiet

from deepxc.pipeline import build_model
from deepxc.runner import run_bundle

INFERENCE_ONLY = "training mode: deepxc compiles inference graphs only"
ZERO_SIZE = "zero-size tensors: every dimension of a deepxc tensor must be > 0"
NOT_TENSORS = "sequence/optional values: deepxc compiles tensor graphs only"
CROP_AND_RESIZE = "Resize: tf_crop_and_resize is not supported"
ANTIALIAS = "Resize: antialiased downsizing is not supported"
PART_SCALE = "Resize: a scale that gives no whole output size is not supported"
ASPECT_RATIO = "Resize: keep_aspect_ratio_policy other than stretch is not supported"
SYMMETRIC = "Resize: half_pixel_symmetric is not supported"

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
    "test_resize_tf_crop_and_resize": CROP_AND_RESIZE,
    "test_resize_tf_crop_and_resize_extrapolation_value": CROP_AND_RESIZE,
    "test_resize_tf_crop_and_resize_axes_2_3": CROP_AND_RESIZE,
    "test_resize_tf_crop_and_resize_axes_3_2": CROP_AND_RESIZE,
    "test_resize_downsample_sizes_linear_antialias": ANTIALIAS,
    "test_resize_downsample_scales_linear_antialias": ANTIALIAS,
    "test_resize_downsample_scales_cubic_antialias": ANTIALIAS,
    "test_resize_downsample_sizes_cubic_antialias": ANTIALIAS,
    "test_resize_downsample_scales_nearest": PART_SCALE,
    "test_resize_downsample_scales_linear": PART_SCALE,
    "test_resize_downsample_scales_linear_align_corners": PART_SCALE,
    "test_resize_downsample_scales_cubic": PART_SCALE,
    "test_resize_downsample_scales_cubic_align_corners": PART_SCALE,
    "test_resize_downsample_scales_cubic_A_n0p5_exclude_outside": PART_SCALE,
    "test_resize_upsample_sizes_nearest_not_larger": ASPECT_RATIO,
    "test_resize_upsample_sizes_nearest_not_smaller": ASPECT_RATIO,
    "test_resize_downsample_sizes_nearest_not_larger": ASPECT_RATIO,
    "test_resize_downsample_sizes_nearest_not_smaller": ASPECT_RATIO,
    "test_resize_downsample_scales_linear_half_pixel_symmetric": SYMMETRIC,
    "test_resize_upsample_scales_linear_half_pixel_symmetric": SYMMETRIC,
}

# ONNX's own backend test runner compares with these tolerances (some expected outputs
# are stored rounded to four digits).
RTOL, ATOL = 1e-3, 1e-7

CASES = node_cases() + pytorch_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_backend_case(case, tmp_path):
    if case.name in SKIPS:
        pytest.skip(SKIPS[case.name])
    bound = bind_constant_inputs(case)
    if not float32_only(bound):
        pytest.skip("bundle inputs and outputs are float32 only")
    build_model(bound.model, "host", str(tmp_path), log=quiet)
    outputs, _ = run_bundle(str(tmp_path), bound.inputs)
    assert set(outputs) == set(bound.outputs)
    for name, expected in bound.outputs.items():
        np.testing.assert_allclose(outputs[name], expected, rtol=RTOL, atol=ATOL, err_msg=name)
