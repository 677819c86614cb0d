"""The ONNX backend test cases of deepxc's ops, built and run through the whole compiler.

Every case runs unless it is in SKIPS, each with its reason; the list should only shrink.
"""

from __future__ import annotations

import pytest
from onnx_cases import bind_constant_inputs, float32_only, node_cases, pytorch_cases
from support import check_model

SKIPS = {
    # filled in below by reason; every entry names why deepxc does not compile it
}

CASES = node_cases() + pytorch_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_backend_case(case, tmp_path):
    if case.name in SKIPS:
        pytest.skip(SKIPS[case.name])
    bound = bind_constant_inputs(case)
    if not float32_only(bound):
        pytest.skip("bundle inputs and outputs are float32 only")
    check_model(bound.model, tmp_path / "bundle", inputs=bound.inputs, expected=bound.outputs)
