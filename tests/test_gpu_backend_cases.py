"""ONNX's backend node cases on the GPU path: the first cases of each operator set, built
with every layer on the GPU (`--place gpu`, `host-opencl`: pocl) and compared with the
outputs ONNX's reference computes. The CPU runs them all (test_onnx_backend_suite.py);
two per operator set keep this one short."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_cases import bind_constant_inputs, float32_only, node_cases, ops_of, pytorch_cases
from support import quiet
from test_gpu_bundle_opencl import pytestmark as needs_opencl  # noqa: F401
from test_onnx_backend_suite import ATOL, RTOL, SKIPS

from deepxc.pipeline import build_model
from deepxc.runner import run_bundle

PER_OPERATOR_SET = 2


def gpu_cases():
    chosen, seen = [], {}
    for case in node_cases() + pytorch_cases():
        if case.name in SKIPS:
            continue
        bound = bind_constant_inputs(case)
        if not float32_only(bound):
            continue
        key = frozenset(ops_of(case.model))
        if seen.get(key, 0) >= PER_OPERATOR_SET:
            continue
        seen[key] = seen.get(key, 0) + 1
        chosen.append(bound)
    return chosen


CASES = gpu_cases()
pytestmark = needs_opencl


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_backend_case_on_the_gpu(case, tmp_path):
    build_model(case.model, "host-opencl", str(tmp_path), log=quiet, place="gpu")
    outputs, _ = run_bundle(str(tmp_path), case.inputs)
    assert set(outputs) == set(case.outputs)
    for name, expected in case.outputs.items():
        np.testing.assert_allclose(outputs[name], expected, rtol=RTOL, atol=ATOL, err_msg=name)
