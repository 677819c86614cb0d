"""What the three low-rank rewrites have in common.

Each rewrite views a layer's weights as a matrix M (how depends on the rewrite), takes
its SVD M = U diag(s) Vt once, and at rank r replaces the layer by two layers whose
weights are the factors

    A_r = U[:, :r] * sqrt(s[:r])        B_r = sqrt(s[:r])[:, None] * Vt[:r]

(the singular values split evenly, so both factors have the same scale). A_r B_r is the
best rank-r approximation of M. Every factor is stored with the rank along one axis and
the singular vectors in order, so the rank-r factors are the leading r slices of the
rank-R ones: graphs built for several run-time levels share one stored array per factor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from deepxc.ir import Graph, Node, RankStore
from deepxc.ir.stats import layer_macs


class LowRank(ABC):
    """One layer and one way of factoring it. Subclasses say how the layer's weights map
    to the matrix M and back, how the factors become layers, and what they cost."""

    form: str  # "dense", "channel" or "spatial"

    def __init__(self, graph: Graph, node: Node, matrix: np.ndarray):
        self.node = node.name
        self.weights = node.inputs[1]
        u, s, vt = np.linalg.svd(matrix.astype(np.float64), full_matrices=False)
        self.u, self.s, self.vt = u, s, vt
        self.original_macs = layer_macs(graph, node)
        self.original_params = int(graph.spec(self.weights).size)

    @property
    def full_rank(self) -> int:
        return len(self.s)

    def factors(self, rank: int) -> tuple[np.ndarray, np.ndarray]:
        """(A_r, B_r): [rows of M, rank] and [rank, columns of M], float32."""
        self._check(rank)
        root = np.sqrt(self.s[:rank])
        return (
            (self.u[:, :rank] * root).astype(np.float32),
            (root[:, None] * self.vt[:rank]).astype(np.float32),
        )

    def reconstruct(self, rank: int) -> np.ndarray:
        """The layer's weights (in the graph's layout) at rank `rank`: what the factored
        pair computes, as one tensor for the unfactored layer."""
        self._check(rank)
        matrix = (self.u[:, :rank] * self.s[:rank]) @ self.vt[:rank]
        return self.from_matrix(matrix).astype(np.float32)

    def saves(self, rank: int) -> bool:
        """Whether rank `rank` costs fewer multiply-adds and fewer weights than the layer."""
        return self.macs(rank) < self.original_macs and self.params(rank) < self.original_params

    def useful_ranks(self) -> range:
        """Ranks that save both MACs and weights (maybe none)."""
        top = 0
        while top < self.full_rank and self.saves(top + 1):
            top += 1
        return range(1, top + 1)

    def factor(self, graph: Graph, rank: int, stored_rank: int | None = None) -> None:
        """Replace the layer by its rank-`rank` factor pair, in place. With `stored_rank`,
        the factors' constants are recorded as leading slices of the rank-`stored_rank`
        factors (`Graph.rank_stores`), for a bundle that holds several levels."""
        stored_rank = stored_rank or rank
        self._check(stored_rank)
        if rank > stored_rank:
            raise ValueError(f"{self.node}: rank {rank} above the stored rank {stored_rank}")
        node = graph.node(self.node)
        full = self.factor_weights(*self.factors(stored_rank))
        names = [f"{self.node}_rlc_{self.form}_{part}" for part in ("a", "b")]
        for name, (array, axis) in zip(names, full):
            if name in graph.tensors:
                raise ValueError(f"{self.node}: tensor {name!r} already exists")
            graph.add_constant(name, np.take(array, range(rank), axis=axis))
            if stored_rank > rank:
                graph.rank_stores[name] = RankStore(array, axis)
        graph.remove_node(self.node)
        for layer in self.factor_layers(graph, node, names, rank):
            graph.add_node(layer)
        graph.drop_unused_constants()

    # -- what each rewrite defines ----------------------------------------------------
    @abstractmethod
    def from_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """M -> the layer's weights, the inverse of how the subclass built M."""

    @abstractmethod
    def factor_weights(
        self, a: np.ndarray, b: np.ndarray
    ) -> tuple[tuple[np.ndarray, int], tuple[np.ndarray, int]]:
        """The two layers' weight constants from A and B, each with its rank axis."""

    @abstractmethod
    def factor_layers(self, graph: Graph, node: Node, weights: list[str], rank: int) -> list[Node]:
        """The two nodes that replace `node` (the second keeps its name and outputs);
        adds the tensor between them to the graph."""

    @abstractmethod
    def macs(self, rank: int) -> int:
        """Multiply-adds of the factor pair at rank `rank`."""

    def params(self, rank: int) -> int:
        return rank * (self.u.shape[0] + self.vt.shape[1])

    def _check(self, rank: int) -> None:
        if not 1 <= rank <= self.full_rank:
            raise ValueError(f"{self.node}: rank {rank} outside 1..{self.full_rank}")
