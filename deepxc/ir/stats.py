"""Per-layer statistics: output shape, parameters, multiply-accumulates."""

from __future__ import annotations

import numpy as np

from deepxc.ir.graph import Graph, Node


def layer_macs(graph: Graph, node: Node) -> int:
    """Multiply-accumulates of one layer (0 for layers without a reduction)."""
    if not node.outputs or node.outputs[0] not in graph.tensors:
        return 0
    out = graph.spec(node.outputs[0])
    if node.op == "Conv":
        weight = graph.spec(node.inputs[1]).shape
        return out.size * int(np.prod(weight[1:]))
    if node.op in ("Gemm", "MatMul"):
        a = graph.spec(node.inputs[0]).shape
        transposed = node.op == "Gemm" and node.attrs.get("transA", 0)
        reduce = a[0] if transposed else a[-1]
        return out.size * int(reduce)
    return 0


def layer_params(graph: Graph, node: Node) -> int:
    return sum(graph.spec(t).size for t in node.inputs if t and graph.is_constant(t))


def model_summary(graph: Graph) -> dict:
    layers = []
    for node in graph.nodes():
        shape = list(graph.spec(node.outputs[0]).shape) if node.outputs[0] in graph.tensors else []
        layers.append(
            {
                "name": node.name,
                "op": node.op,
                "output_shape": shape,
                # the activations it reads (not its weights), for scripts placing layers
                "input_shapes": [
                    list(graph.spec(t).shape)
                    for t in node.inputs
                    if t and t in graph.tensors and not graph.is_constant(t)
                ],
                "params": layer_params(graph, node),
                "macs": layer_macs(graph, node),
            }
        )
    totals = {
        "layers": len(layers),
        "params": sum(layer["params"] for layer in layers),
        "macs": sum(layer["macs"] for layer in layers),
    }
    return {"layers": layers, "totals": totals}
