"""RLC on the two trained examples, measured on their held-out test splits.

The compressed graphs run in onnxruntime here (the bundles' own runs are in
benchmarks/rlc_levels.py and tests/test_levels.py): what is checked is the rank choice.
- a level at 30% of the MACs and 30% of the weight bytes loses at most 1% accuracy;
- at equal MACs, the measured rank choice is more accurate than plain truncation by the
  same rule in every layer: the same fraction of the rank, or of the singular values'
  energy.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from deepxc.ir import Graph
from deepxc.ir.export import to_onnx
from deepxc.ir.stats import model_summary
from deepxc.pipeline import frontend
from deepxc.rlc import ChannelSVD, DenseSVD
from deepxc.rlc.calibration import load_calibration
from deepxc.rlc.plan import Budget, level_graphs, plan_levels

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
NAMES = ["digits", "speakers"]


@functools.cache
def _example(name: str):
    folder = os.path.join(EXAMPLES, name)
    graph = frontend(onnx.load(os.path.join(folder, "model.onnx")), log=lambda _: None)
    calibration = load_calibration(os.path.join(folder, "calibration.npz"), graph)
    test = load_calibration(os.path.join(folder, "test.npz"), graph)
    return graph, calibration, test


@functools.cache
def _plan(name: str):
    """The two levels the tests look at, planned from one measurement of the layers."""
    graph, calibration, _ = _example(name)
    budgets = [Budget(macs=0.3, weights=0.3), Budget(macs=0.15)]
    plan = plan_levels(graph, budgets, calibration, log=lambda _: None)
    return level_graphs(graph, plan)


def _accuracy(graph: Graph, test) -> float:
    session = ort.InferenceSession(to_onnx(graph, batch="batch").SerializeToString())
    outputs = session.run(None, test.inputs)[0]
    return float(np.mean(outputs.argmax(axis=1) == test.labels))


def _weight_bytes(graph: Graph) -> int:
    return sum(int(array.nbytes) for array in graph.constants.values())


def _uniform_layers(graph: Graph) -> list:
    """Every dense and conv layer, factored the classic way (channel SVD for convs)."""
    layers = []
    for node in graph.nodes():
        form = next((f for f in (DenseSVD, ChannelSVD) if f.applies(graph, node)), None)
        if form is not None:
            layers.append(form(graph, node))
    return layers


def _by_rank_fraction(layer, fraction: float) -> int:
    return max(1, round(fraction * layer.full_rank))


def _by_energy(layer, fraction: float) -> int:
    """The fewest singular values that keep `fraction` of the squared ones' sum."""
    energy = np.cumsum(layer.s**2) / np.sum(layer.s**2)
    return min(layer.full_rank, int(np.searchsorted(energy, fraction)) + 1)


def _uniform(graph: Graph, layers: list, rank_of, fraction: float) -> Graph:
    """Every layer truncated by the same rule and fraction, where that rank saves."""
    result = graph.copy()
    for layer in layers:
        rank = rank_of(layer, fraction)
        if layer.saves(rank):
            layer.factor(result, rank)
    return result


def _macs(graph: Graph) -> int:
    return model_summary(graph)["totals"]["macs"]


@pytest.mark.parametrize("name", NAMES)
def test_a_level_with_3x_fewer_macs_and_bytes_loses_at_most_one_percent(name):
    graph, _, test = _example(name)
    compressed = _plan(name)[0]
    assert _macs(graph) / _macs(compressed) >= 3.0
    assert _weight_bytes(graph) / _weight_bytes(compressed) >= 3.0
    loss = _accuracy(graph, test) - _accuracy(compressed, test)
    assert loss <= 0.01, f"{name}: held-out accuracy loss {loss:.2%}"


@pytest.mark.parametrize("rule", [_by_rank_fraction, _by_energy])
@pytest.mark.parametrize("name", NAMES)
def test_measured_rank_choice_beats_uniform_truncation_at_equal_macs(name, rule):
    graph, _, test = _example(name)
    ours = _plan(name)[1]  # at 15% of the MACs
    # the smallest fraction that spends at least our MACs (bisected): the baseline gets
    # as much computation as the rank choice, or a little more
    layers = _uniform_layers(graph)
    low, high = 0.0, 1.0
    for _ in range(16):
        middle = (low + high) / 2
        if _macs(_uniform(graph, layers, rule, middle)) >= _macs(ours):
            high = middle
        else:
            low = middle
    uniform = _uniform(graph, layers, rule, high)
    ours_accuracy, uniform_accuracy = _accuracy(ours, test), _accuracy(uniform, test)
    assert _macs(uniform) >= _macs(ours)
    assert ours_accuracy > uniform_accuracy + 0.02, (
        f"{name}: rank choice {ours_accuracy:.2%} vs {rule.__name__} at {high:.3f}: "
        f"{uniform_accuracy:.2%}, at {_macs(ours):,} vs {_macs(uniform):,} MACs"
    )
