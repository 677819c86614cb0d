"""Remove Identity and (inference-mode) Dropout: their consumers read the input directly.

A node whose output is a model output stays, so outputs keep their names; it lowers to
no kernel.
"""

from __future__ import annotations

from deepxc.ir import Graph

IDENTITY_OPS = {"Identity", "Dropout"}


def run(graph: Graph) -> Graph:
    for node in graph.nodes():
        if node.op not in IDENTITY_OPS or node.outputs[0] in graph.outputs:
            continue
        graph.remove_node(node.name)
        graph.replace_uses(node.outputs[0], node.inputs[0])
    return graph
