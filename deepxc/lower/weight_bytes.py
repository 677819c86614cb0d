"""How many bytes a graph's weights take in the blob, laid out as its kernels want them
(packed in whole register tiles), found without compiling: the Relax program is built
(milliseconds) and its weight parameters and build-time layouts are counted."""

from __future__ import annotations

from deepxc.ir import Graph
from deepxc.lower.relax_builder import build_relax
from deepxc.targets import Core


def weight_bytes(graph: Graph, core: Core) -> dict[str, tuple[int, int]]:
    """Each weight the lowered graph stores -> (its bytes, the bytes of it its kernel
    reads). They differ only for a factor stored at a larger rank than the graph uses."""
    program = build_relax(graph, core)
    sizes = {name: (int(graph.constants[name].nbytes),) * 2 for name in program.weights}
    sizes.update(program.layout_bytes)
    return sizes
