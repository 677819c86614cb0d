"""RLC, runtime layer compression: low-rank rewrites of weight-heavy layers."""

from __future__ import annotations

from deepxc.ir import Graph
from deepxc.rlc.conv_channel import ChannelSVD
from deepxc.rlc.conv_spatial import SpatialSVD
from deepxc.rlc.dense_svd import DenseSVD
from deepxc.rlc.lowrank import LowRank

FORMS = (DenseSVD, ChannelSVD, SpatialSVD)


def decompositions(graph: Graph) -> list[LowRank]:
    """Every way of factoring every layer that can save something, in graph order."""
    found = []
    for node in graph.nodes():
        for form in FORMS:
            if form.applies(graph, node):
                candidate = form(graph, node)
                if candidate.useful_ranks():
                    found.append(candidate)
    return found
