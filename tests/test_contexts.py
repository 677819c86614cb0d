"""The runtime's contexts: two run at once from two threads, fork() after the thread pool
started, and the argument checks of init and run. C programs in tests/c drive libmodel.a
as firmware would; their outputs are held against onnxruntime."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from harness import compile_program, read_raw, run_program, write_raw
from support import assert_close, quiet, reference_outputs

from deepxc.pipeline import build_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_CNN = os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")


@pytest.fixture(scope="module")
def model() -> onnx.ModelProto:
    return onnx.load(TINY_CNN)


def _bundle(tmp_path_factory, model, target: str, threads: int):
    directory = tmp_path_factory.mktemp(f"{target}_{threads}")
    build_model(model, target, str(directory), log=quiet, threads=threads)
    return directory


@pytest.fixture(scope="module")
def threaded(tmp_path_factory, model):
    return _bundle(tmp_path_factory, model, "host", 2)


def _input(model, seed: int) -> np.ndarray:
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _expected(model, x: np.ndarray) -> np.ndarray:
    return next(iter(reference_outputs(model, {model.graph.input[0].name: x}).values()))


def _two_contexts(bundle, model, tmp_path, runs: int) -> None:
    program = compile_program(bundle, "two_contexts.c", tmp_path / "two_contexts")
    inputs = [_input(model, seed) for seed in (1, 2)]
    paths = [write_raw(tmp_path / f"in{k}.bin", x) for k, x in enumerate(inputs)]
    outs = [tmp_path / f"out{k}.bin" for k in range(2)]
    result = run_program(bundle, program, bundle / "weights.bin", *paths, *outs, runs)
    assert result.returncode == 0, result.stdout + result.stderr
    for x, out in zip(inputs, outs):
        expected = _expected(model, x)
        assert_close({"y": read_raw(out, expected.shape)}, {"y": expected})


def test_two_contexts_run_at_once(threaded, model, tmp_path):
    """Each context has its own arena; run from two threads at once, every run returns OK
    with its lone run's output (the workspace and the pool were process-wide before)."""
    _two_contexts(threaded, model, tmp_path, runs=300)


def test_two_contexts_of_a_single_threaded_bundle(tmp_path_factory, model, tmp_path):
    """Without a pool, the kernels' scratch stacks still belong to each context."""
    _two_contexts(_bundle(tmp_path_factory, model, "host", 1), model, tmp_path, runs=300)


@pytest.mark.slow
def test_two_contexts_on_arm(tmp_path_factory, model, tmp_path):
    _two_contexts(_bundle(tmp_path_factory, model, "tegra-k1", 4), model, tmp_path, runs=20)


def test_fork_after_the_pool_started(threaded, model, tmp_path):
    """The child of a fork has no workers: its next run starts new ones instead of
    waiting for the parent's forever."""
    program = compile_program(threaded, "fork_after_run.c", tmp_path / "fork_after_run")
    x = _input(model, 3)
    out = tmp_path / "out.bin"
    result = run_program(
        threaded,
        program,
        threaded / "weights.bin",
        write_raw(tmp_path / "in.bin", x),
        out,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    expected = _expected(model, x)
    assert_close({"y": read_raw(out, expected.shape)}, {"y": expected})


@pytest.mark.parametrize("threads", [1, 2])
def test_init_and_run_check_their_arguments(tmp_path_factory, model, tmp_path, threads):
    bundle = _bundle(tmp_path_factory, model, "host", threads)
    program = compile_program(bundle, "init_checks.c", tmp_path / "init_checks")
    result = run_program(bundle, program, bundle / "weights.bin")
    assert result.returncode == 0, result.stdout + result.stderr
