"""What a plan makes of the model's graph before lowering: every sliced layer group cut
into its channel slices, a processor for every layer, and the order the runtime calls
them in (the plan's start times), so that work on different processors overlaps."""

from __future__ import annotations

import networkx as nx

from deepxc.dad.planner import DecompositionPlan
from deepxc.ir.graph import Graph
from deepxc.ir.slice_channels import slice_output_channels


def apply_plan(graph: Graph, plan: DecompositionPlan) -> tuple[Graph, dict[str, str], list[str]]:
    """The graph with the plan's slices, each layer's processor, and the layers in the
    order of the plan's start times (a topological order)."""
    placement = plan.placement()
    when: dict[str, float] = {}
    for block in plan.blocks:
        if not block.slice_of:
            when.update(dict.fromkeys(block.layers, block.start_s))
    for parts in plan.sliced().values():
        parts = sorted(parts, key=lambda p: p.slice_index)
        graph, groups, concat = slice_output_channels(
            graph, parts[0].layers, [p.channels for p in parts]
        )
        for part, layers in zip(parts, groups):
            placement.update(dict.fromkeys(layers, part.processor))
            when.update(dict.fromkeys(layers, part.start_s))
        placement[concat] = "cpu"
        when[concat] = max(p.finish_s for p in parts)
    for node in graph.nodes():
        placement.setdefault(node.name, "cpu")
    position = {node.name: i for i, node in enumerate(graph.nodes())}
    order = list(
        nx.lexicographical_topological_sort(
            graph.dag,
            # at one start time the other processors' work first: it is launched, then
            # runs while the CPU computes
            key=lambda name: (when.get(name, 0.0), placement[name] == "cpu", position[name]),
        )
    )
    return graph, placement, order
