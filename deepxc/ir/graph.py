"""The IR: a networkx DiGraph of operator nodes with typed tensors and constant weights.

Nodes keep ONNX operator names and attributes (with defaults filled in by ingest).
A node's inputs and outputs are tensor names; a tensor is produced by at most one node,
or is a graph input, or a constant held by the graph. Edges go from producer to consumer
and carry the names of the tensors that flow along them.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: "float32", "int64", ...

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str]  # "" marks an omitted optional input
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RankStore:
    """A low-rank factor kept at a larger rank than one graph uses: the constant is the
    leading `rank` slices of `array` along `axis`. Graphs built for several run-time
    levels share one store per factor, so the weights are laid out (and stored) once."""

    array: np.ndarray
    axis: int


class Graph:
    """A model: nodes in a DiGraph, tensor specs, constants, inputs and outputs."""

    def __init__(self, name: str = "model"):
        self.name = name
        self.dag = nx.DiGraph()
        self.tensors: dict[str, TensorSpec] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self._producer: dict[str, str] = {}
        self._names = itertools.count()
        # constant -> the array it is a leading slice of (see RankStore)
        self.rank_stores: dict[str, RankStore] = {}

    def copy(self) -> Graph:
        """An independent copy that shares the (never mutated) constant arrays."""
        other = Graph(self.name)
        other.dag = self.dag.copy()
        for name in other.dag.nodes:
            node = other.dag.nodes[name]["node"]
            other.dag.nodes[name]["node"] = Node(
                node.name, node.op, list(node.inputs), list(node.outputs), dict(node.attrs)
            )
        for edge in other.dag.edges:
            other.dag.edges[edge]["tensors"] = set(other.dag.edges[edge]["tensors"])
        other.tensors = dict(self.tensors)
        other.constants = dict(self.constants)
        other.inputs = list(self.inputs)
        other.outputs = list(self.outputs)
        other._producer = dict(self._producer)
        other._names = copy.copy(self._names)
        other.rank_stores = dict(self.rank_stores)
        return other

    # -- building -------------------------------------------------------------------
    def add_node(self, node: Node) -> Node:
        if node.name in self.dag:
            raise ValueError(f"duplicate node name {node.name!r}")
        self.dag.add_node(node.name, node=node)
        for out in node.outputs:
            if out:
                self._producer[out] = node.name
        for tensor in node.inputs:
            self._link(tensor, node.name)
        produced = set(node.outputs) - {""}
        for other in list(self.dag.nodes):
            for tensor in produced.intersection(self.node(other).inputs):
                self._link(tensor, other)
        return node

    def remove_node(self, name: str) -> None:
        node = self.node(name)
        for out in node.outputs:
            if self._producer.get(out) == name:
                del self._producer[out]
        self.dag.remove_node(name)

    def add_constant(self, name: str, value: np.ndarray) -> str:
        value = np.array(value, order="C")  # ascontiguousarray would make 0-d 1-d
        self.constants[name] = value
        self.tensors[name] = TensorSpec(tuple(int(d) for d in value.shape), value.dtype.name)
        return name

    def fresh_name(self, prefix: str) -> str:
        while True:
            name = f"{prefix}_{next(self._names)}"
            if name not in self.tensors and name not in self.dag:
                return name

    def replace_uses(self, old: str, new: str) -> None:
        """Make every consumer of tensor `old` (and the graph outputs) read `new`."""
        for consumer in self.consumers(old):
            consumer.inputs = [new if t == old else t for t in consumer.inputs]
            self._relink_inputs(consumer)
        self.outputs = [new if t == old else t for t in self.outputs]

    def set_inputs(self, node: Node, inputs: list[str]) -> None:
        node.inputs = list(inputs)
        self._relink_inputs(node)

    def drop_unused_constants(self) -> None:
        used = {t for n in self.nodes() for t in n.inputs} | set(self.outputs)
        for name in [c for c in self.constants if c not in used]:
            del self.constants[name]
            del self.tensors[name]
            self.rank_stores.pop(name, None)

    # -- queries --------------------------------------------------------------------
    def node(self, name: str) -> Node:
        return self.dag.nodes[name]["node"]

    def nodes(self) -> list[Node]:
        """All nodes in a deterministic topological order."""
        position = {n: i for i, n in enumerate(self.dag.nodes)}
        order = nx.lexicographical_topological_sort(self.dag, key=position.__getitem__)
        return [self.node(n) for n in order]

    def producer(self, tensor: str) -> Node | None:
        name = self._producer.get(tensor)
        return self.node(name) if name is not None else None

    def consumers(self, tensor: str) -> list[Node]:
        return [self.node(n) for n in self._consumer_names(tensor)]

    def is_constant(self, tensor: str) -> bool:
        return tensor in self.constants

    def spec(self, tensor: str) -> TensorSpec:
        return self.tensors[tensor]

    # -- internals ------------------------------------------------------------------
    def _consumer_names(self, tensor: str) -> list[str]:
        src = self._producer.get(tensor)
        candidates = self.dag.successors(src) if src is not None else self.dag.nodes
        return [n for n in candidates if tensor in self.node(n).inputs]

    def _link(self, tensor: str, consumer: str) -> None:
        src = self._producer.get(tensor)
        if src is None or src == consumer:
            return
        if self.dag.has_edge(src, consumer):
            self.dag.edges[src, consumer]["tensors"].add(tensor)
        else:
            self.dag.add_edge(src, consumer, tensors={tensor})

    def _relink_inputs(self, node: Node) -> None:
        for src in list(self.dag.predecessors(node.name)):
            self.dag.remove_edge(src, node.name)
        for tensor in node.inputs:
            self._link(tensor, node.name)
