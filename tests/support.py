"""Build, run and compare against onnxruntime: the one helper model tests call."""

from __future__ import annotations

import ctypes

import numpy as np
import onnx
import onnxruntime as ort

from deepxc.pipeline import build_model
from deepxc.runner import run_bundle


def quiet(_message: str) -> None:
    pass


def reference_outputs(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> dict:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs)))


def random_inputs(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    initializers = {i.name for i in model.graph.initializer}
    inputs = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        inputs[value.name] = rng.standard_normal(shape).astype(np.float32)
    return inputs


def assert_close(actual: dict, expected: dict, tolerance: float = 1e-4) -> None:
    """Max abs difference within `tolerance` times the reference output's scale."""
    assert set(actual) == set(expected), (sorted(actual), sorted(expected))
    for name, reference in expected.items():
        got = actual[name]
        assert got.shape == reference.shape, (name, got.shape, reference.shape)
        scale = max(float(np.max(np.abs(reference))), 1e-6) if reference.size else 1.0
        error = float(np.max(np.abs(got.astype(np.float64) - reference))) if reference.size else 0
        assert error <= tolerance * scale, f"{name}: max abs diff {error:.3g}, scale {scale:.3g}"


def check_model(
    model: onnx.ModelProto,
    bundle_dir,
    target: str = "host",
    inputs: dict[str, np.ndarray] | None = None,
    expected: dict[str, np.ndarray] | None = None,
    tolerance: float = 1e-4,
) -> dict[str, np.ndarray]:
    """Build `model` with deepxc, run the bundle, compare with onnxruntime (or `expected`)."""
    inputs = inputs if inputs is not None else random_inputs(model)
    build_model(model, target, str(bundle_dir), log=quiet)
    outputs, _ = run_bundle(str(bundle_dir), inputs)
    if expected is None:
        expected = reference_outputs(model, inputs)
    assert_close(outputs, expected, tolerance)
    return outputs


def has_libcuda() -> bool:
    """Whether a CUDA driver library (libcuda.so.1) loads here."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True
