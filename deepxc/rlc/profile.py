"""Measure what factoring each layer costs in accuracy, rank by rank.

For every layer and form (`deepxc.rlc.decompositions`), a grid of the ranks that save
MACs and weights is tried one layer at a time: the network runs on the calibration
examples with that layer's weights replaced by their rank-r reconstruction, and the
error is how far the model's output moves (relative squared error). This is the layer's
reconstruction error as the rest of the network propagates it, not the energy of the
dropped singular values. The first examples (PROFILE_EXAMPLES at most) are used. Each
option's weights are counted as the blob stores them (`blob_bytes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deepxc.ir import Graph
from deepxc.ir.stats import model_summary
from deepxc.rlc import decompositions
from deepxc.rlc.blob_bytes import RAW_BYTES, BlobLayout, layer_graph
from deepxc.rlc.calibration import Calibration
from deepxc.rlc.lowrank import LowRank
from deepxc.rlc.measure import Evaluator

GEOMETRIC_RANKS = 20
LINEAR_RANKS = 12
# Examples per try: up to 128, fewer for big models so one try stays near 2 G
# multiply-adds (a layer's error is a smooth average; 16 examples already rank it well).
# Whole levels are measured on every example.
PROFILE_EXAMPLES = 128
PROFILE_MIN_EXAMPLES = 16
PROFILE_MACS_PER_TRY = 2_000_000_000


@dataclass(frozen=True)
class Option:
    """One way to run a layer: `layer` factored at `rank` (the form is the layer's)."""

    layer: LowRank
    rank: int
    macs: int
    bytes: int  # its weights (and the layer's bias) as the blob stores them
    error: float


@dataclass
class LayerProfile:
    node: str
    macs: int  # unfactored
    bytes: int
    options: list[Option]  # every form, every rank tried


def rank_grid(ranks: range) -> list[int]:
    """Ranks to try: dense at the low end (where error changes fastest), then even steps."""
    if not ranks:
        return []
    top = ranks[-1]
    picks = np.geomspace(1, top, min(top, GEOMETRIC_RANKS))
    picks = np.concatenate([picks, np.linspace(1, top, min(top, LINEAR_RANKS))])
    return sorted({int(round(r)) for r in picks})


def profile_layers(
    graph: Graph,
    calibration: Calibration,
    log: Callable[[str], None] = print,
    blob: BlobLayout = RAW_BYTES,
) -> tuple[Evaluator, list[LayerProfile]]:
    candidates = decompositions(graph)
    evaluator = Evaluator(graph, calibration, sorted({c.weights for c in candidates}))
    macs = max(1, model_summary(graph)["totals"]["macs"])
    examples = max(PROFILE_MIN_EXAMPLES, min(PROFILE_EXAMPLES, PROFILE_MACS_PER_TRY // macs))
    profiles: dict[str, LayerProfile] = {}
    for index, layer in enumerate(candidates, 1):
        ranks = rank_grid(layer.useful_ranks())
        log(f"rlc: [{index}/{len(candidates)}] {layer.node} ({layer.form}): {len(ranks)} ranks")
        single = layer_graph(graph, layer.node)
        profile = profiles.setdefault(
            layer.node, LayerProfile(layer.node, layer.original_macs, blob.stored(single), [])
        )
        for rank in ranks:
            weights = {layer.weights: layer.reconstruct(rank)}
            outputs = evaluator.outputs(weights, examples)
            factored = single.copy()
            layer.factor(factored, rank)
            profile.options.append(
                Option(
                    layer, rank, layer.macs(rank), blob.stored(factored), evaluator.error(outputs)
                )
            )
    return evaluator, list(profiles.values())
