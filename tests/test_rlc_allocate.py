"""The rank allocation against brute force, the budgets the CLI flags ask for, and the
calibration file checks."""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import pytest
from inprocess import frontend
from models import make_model, tensor
from onnx import helper, numpy_helper
from support import reference_outputs

from deepxc.cli.rlc_options import add_rlc_arguments, rlc_budgets
from deepxc.errors import CompressionError, InputFileError
from deepxc.ir import Graph, TensorSpec
from deepxc.rlc.allocate import allocate
from deepxc.rlc.calibration import Calibration, load_calibration
from deepxc.rlc.measure import Evaluator
from deepxc.rlc.plan import Budget
from deepxc.rlc.profile import LayerProfile, Option, rank_grid


def _profiles(seed: int, layers: int = 4, options: int = 4) -> list[LayerProfile]:
    rng = np.random.default_rng(seed)
    profiles = []
    for index in range(layers):
        macs, params = int(rng.integers(500, 1000)), int(rng.integers(500, 1000))
        rows = [
            Option(None, rank, int(macs * f), int(params * g), float(rng.random()))
            for rank, (f, g) in enumerate(rng.random((options, 2)), 1)
        ]
        profiles.append(LayerProfile(f"layer{index}", macs, params, rows))
    return profiles


def _brute_force(profiles, total_macs, total_params, max_macs, max_params):
    best = None
    for picks in itertools.product(*[[None, *p.options] for p in profiles]):
        macs = total_macs - sum(p.macs - o.macs for p, o in zip(profiles, picks) if o)
        params = total_params - sum(p.bytes - o.bytes for p, o in zip(profiles, picks) if o)
        if (max_macs is not None and macs > max_macs) or (
            max_params is not None and params > max_params
        ):
            continue
        error = sum(o.error for o in picks if o)
        if best is None or error < best:
            best = error
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("limits", [(0.6, None), (None, 0.5), (0.7, 0.6), (0.3, 0.3)])
def test_allocation_finds_the_least_error_within_the_budget(seed, limits):
    profiles = _profiles(seed)
    total_macs = sum(p.macs for p in profiles) + 200  # layers RLC cannot factor
    total_params = sum(p.bytes for p in profiles) + 100
    max_macs = None if limits[0] is None else limits[0] * total_macs
    max_params = None if limits[1] is None else limits[1] * total_params
    choices = allocate(profiles, total_macs, total_params, max_macs, max_params)
    expected = _brute_force(profiles, total_macs, total_params, max_macs, max_params)
    if expected is None:
        assert choices is None
        return
    assert choices is not None
    assert sum(o.error for o in choices.values()) == pytest.approx(expected, abs=1e-9)
    by_node = {p.node: p for p in profiles}
    macs = total_macs - sum(by_node[n].macs - o.macs for n, o in choices.items())
    assert max_macs is None or macs <= max_macs + 1e-6


def test_rank_grid_is_dense_at_low_ranks_and_reaches_the_top():
    grid = rank_grid(range(1, 200))
    assert grid[:4] == [1, 2, 3, 4] and grid[-1] == 199 and len(grid) <= 32
    assert rank_grid(range(1, 4)) == [1, 2, 3] and rank_grid(range(1, 1)) == []


def _args(*argv: str):
    parser = argparse.ArgumentParser()
    add_rlc_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def calibration_file(tmp_path, monkeypatch) -> str:
    """An .npz in the working directory as c.npz: the parser checks the file exists."""
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "c.npz", x=np.zeros((1, 2), np.float32))
    return "c.npz"


def test_flags_become_budgets(calibration_file):
    assert rlc_budgets(_args()) == []
    assert rlc_budgets(_args("--rlc-macs", "0.3")) == [Budget(macs=0.3)]
    assert rlc_budgets(_args("--rlc-macs", "0.3", "--rlc-weights", "0.2")) == [
        Budget(macs=0.3, weights=0.2)
    ]
    # level k is the k-th fraction, in the order given
    assert rlc_budgets(_args("--rlc-levels", "0.5,1.0", "--rlc-levels-by", "weights")) == [
        Budget(weights=0.5),
        Budget(weights=1.0),
    ]
    assert rlc_budgets(_args("--rlc-levels", "0.3,1.0,0.5")) == [
        Budget(macs=0.3),
        Budget(macs=1.0),
        Budget(macs=0.5),
    ]
    assert rlc_budgets(_args("--rlc-macs", "0.3", "--rlc-warn-loss", "0.2")) == [
        Budget(macs=0.3, warn_loss=0.2)
    ]
    assert Budget(macs=0.3, warn_loss=0.2).accepted_loss == 0.2
    assert Budget(max_loss=0.01, warn_loss=0.2).accepted_loss == 0.01
    assert rlc_budgets(_args("--rlc-levels", "0.5", "--rlc-levels-by", "both")) == [
        Budget(macs=0.5, weights=0.5)
    ]
    assert rlc_budgets(_args("--rlc-max-loss", "0.01", "--calibration", "c.npz")) == [
        Budget(max_loss=0.01)
    ]
    assert Budget(macs=1.0).uncompressed and not Budget(macs=0.5).uncompressed


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--rlc-max-loss", "0.01"], "needs --calibration"),
        (["--rlc-levels", "1,0.5", "--rlc-macs", "0.3"], "cannot be combined"),
        (["--calibration", "c.npz"], "--calibration is given but no budget"),
        (["--rlc-warn-loss", "0.1"], "--rlc-warn-loss is given but no budget"),
        (["--rlc-max-loss", "0.01", "--rlc-warn-loss", "0.1"], "cannot be combined"),
    ],
)
def test_contradictory_flags_are_refused(argv, message, calibration_file):
    with pytest.raises(CompressionError, match=message):
        rlc_budgets(_args(*argv))


@pytest.mark.parametrize(
    "argv", [["--rlc-macs", "0"], ["--rlc-macs", "1.5"], ["--rlc-levels", "1,1"]]
)
def test_bad_fractions_are_usage_errors(argv):
    with pytest.raises(SystemExit):
        _args(*argv)


def _graph() -> Graph:
    graph = Graph()
    graph.inputs = ["x"]
    graph.tensors["x"] = TensorSpec((1, 3, 4), "float32")
    return graph


def test_calibration_file_checks(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, anything=np.zeros((5, 3, 4), np.float32), labels=np.arange(5))
    calibration = load_calibration(str(good), _graph())
    assert calibration.count == 5 and list(calibration.inputs) == ["x"]
    for name, arrays, message in [
        ("shape", {"x": np.zeros((5, 4, 3), np.float32)}, r"should be \[N, 3, 4\]"),
        ("labels", {"x": np.zeros((5, 3, 4)), "labels": np.zeros(4, np.int64)}, "one integer"),
    ]:
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        with pytest.raises(InputFileError, match=message):
            load_calibration(str(path), _graph())
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(InputFileError, match="cannot read"):
        load_calibration(str(tmp_path / "text.npz"), _graph())
    np.save(tmp_path / "one.npy", np.zeros((7, 3, 4), np.float32))  # a one-input model's
    assert load_calibration(str(tmp_path / "one.npy"), _graph()).count == 7
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(InputFileError, match="no arrays"):
        load_calibration(str(tmp_path / "empty.npz"), _graph())
    np.savez(tmp_path / "objects.npz", x=np.array([{}], dtype=object))
    with pytest.raises(InputFileError, match="cannot read"):
        load_calibration(str(tmp_path / "objects.npz"), _graph())


def test_evaluator_runs_a_graph_with_its_batch_baked_in():
    """A Reshape to [1, -1] cannot take a batch of examples: the evaluator then runs the
    examples one at a time, and still computes what onnxruntime computes for each."""
    rng = np.random.default_rng(1)
    weights = rng.standard_normal((12, 5)).astype(np.float32)
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Reshape", ["r", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "w"], ["y"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array([1, -1], np.int64), "shape"),
        numpy_helper.from_array(weights, "w"),
    ]
    model = make_model(nodes, [tensor("x", [1, 3, 4])], [tensor("y", [1, 5])], initializers)
    graph = frontend(model)
    examples = rng.standard_normal((6, 3, 4)).astype(np.float32)
    evaluator = Evaluator(graph, Calibration({"x": examples}, None, "test"), ["w"])
    expected = [reference_outputs(model, {"x": e[None]})["y"][0] for e in examples]
    assert not evaluator.batched
    np.testing.assert_allclose(evaluator.reference, expected, rtol=1e-5, atol=1e-6)
    halved = evaluator.outputs({"w": weights / 2})
    np.testing.assert_allclose(halved, evaluator.reference / 2, rtol=1e-5, atol=1e-6)
