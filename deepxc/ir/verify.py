"""Structural checks of the IR, run after ingest and after every pass."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from deepxc.errors import InvalidGraph, SizeLimitError
from deepxc.ir.graph import Graph, TensorSpec

# Every tensor has fewer than 2^31 elements and 2^31 bytes, and the weights together fewer
# than 2^31 bytes. TVM indexes a buffer with 32-bit integers, so a larger tensor overflows
# its index arithmetic; and the 32-bit targets (armv7: tegra-k1, snapdragon-400) address
# at most 2 GiB in one object (a signed 32-bit offset), which the weights blob is.
SIZE_LIMIT = 2**31
LIMIT_REASON = (
    "deepxc's limit is fewer than 2^31 elements and 2 GiB per tensor, and 2 GiB of weights "
    "(32-bit indices in the kernels, 32-bit targets)"
)


def verify(graph: Graph, after: str = "ingest") -> None:
    """Raise InvalidGraph naming the first broken rule; `after` names the stage that ran."""

    def fail(message: str) -> None:
        raise InvalidGraph(f"{message} (after {after})")

    if not nx.is_directed_acyclic_graph(graph.dag):
        cycle = nx.find_cycle(graph.dag)
        fail(f"graph has a cycle through nodes {' -> '.join(edge[0] for edge in cycle)}")

    available = set(graph.inputs) | set(graph.constants)
    for name in available:
        _check_spec(graph, name, fail)
    for name in graph.inputs:
        check_tensor_size(name, graph.tensors[name], "model input")
    for node in graph.nodes():
        for tensor in node.inputs:
            if tensor and tensor not in available:
                fail(f"node '{node.name}' ({node.op}) reads '{tensor}', which no node produces")
        for tensor in node.outputs:
            if not tensor:
                continue
            if tensor in available:
                fail(f"tensor '{tensor}' is produced twice (by node '{node.name}')")
            _check_spec(graph, tensor, fail)
            check_tensor_size(tensor, graph.tensors[tensor], f"node '{node.name}' ({node.op})")
            available.add(tensor)
    for tensor in graph.outputs:
        if tensor not in available:
            fail(f"graph output '{tensor}' is never produced")
    for name, value in graph.constants.items():
        spec = graph.tensors[name]
        if tuple(value.shape) != spec.shape or value.dtype.name != spec.dtype:
            fail(f"constant '{name}' does not match its spec {spec}")
    check_weights_size(graph)


def check_tensor_size(tensor: str, spec: TensorSpec, where: str) -> None:
    """Raise SizeLimitError if the tensor is over the limit; `where` names its producer."""
    if any(d <= 0 for d in spec.shape):
        return  # an empty or invalid shape, which the shape checks judge
    elements = math.prod(spec.shape)
    nbytes = elements * np.dtype(spec.dtype).itemsize
    if elements >= SIZE_LIMIT or nbytes >= SIZE_LIMIT:
        raise SizeLimitError(
            f"{where}: tensor '{tensor}' of shape {list(spec.shape)} ({spec.dtype}) has "
            f"{elements:,} elements, {nbytes:,} bytes; {LIMIT_REASON}"
        )


def check_weights_size(graph: Graph) -> None:
    sizes = {name: np.asarray(value).nbytes for name, value in graph.constants.items()}
    total = sum(sizes.values())
    if total >= SIZE_LIMIT:
        largest = max(sizes, key=sizes.__getitem__)
        raise SizeLimitError(
            f"the weights take {total:,} bytes (the largest, '{largest}', {sizes[largest]:,}); "
            f"{LIMIT_REASON}"
        )


def _check_spec(graph: Graph, tensor: str, fail) -> None:
    spec = graph.tensors.get(tensor)
    if spec is None:
        fail(f"tensor '{tensor}' has no known shape")
        return
    if any((not isinstance(d, int)) or d <= 0 for d in spec.shape):
        if graph.is_constant(tensor) and all(isinstance(d, int) for d in spec.shape):
            return  # empty constants (e.g. an unused ROI input) are legal
        fail(f"tensor '{tensor}' has an invalid shape {list(spec.shape)}: dimensions must be > 0")
