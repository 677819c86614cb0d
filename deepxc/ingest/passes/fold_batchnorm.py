"""Fold an inference BatchNormalization into the Conv or Gemm that feeds it.

y = (conv(x, W) + b - mean) * scale / sqrt(var + eps) + B
  = conv(x, W * s) + (b - mean) * s + B,     s = scale / sqrt(var + eps)
per output channel. Applies when the BN statistics and the layer's weights are constants
and the BN is the layer's only consumer.
"""

from __future__ import annotations

import numpy as np

from deepxc.ir import Graph, Node


def run(graph: Graph) -> Graph:
    for bn in graph.nodes():
        if bn.op != "BatchNormalization":
            continue
        layer = graph.producer(bn.inputs[0])
        if layer is None or not _foldable(graph, layer, bn):
            continue
        scale, bias, mean, var = (graph.constants[t].astype(np.float64) for t in bn.inputs[1:5])
        factor = scale / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
        weight = graph.constants[layer.inputs[1]].astype(np.float64)
        channels = weight.shape[0] if layer.op == "Conv" else factor.size
        old_bias = (
            graph.constants[layer.inputs[2]].astype(np.float64)
            if len(layer.inputs) > 2 and layer.inputs[2]
            else np.zeros(channels)
        )
        if layer.op == "Conv":
            weight = weight * factor.reshape((-1,) + (1,) * (weight.ndim - 1))
        elif layer.attrs.get("transB", 0):
            weight = weight * factor[:, None]
        else:
            weight = weight * factor[None, :]
        new_bias = (old_bias - mean) * factor + bias
        w_name = graph.add_constant(
            graph.fresh_name(f"{layer.name}_w_bn"), weight.astype(np.float32)
        )
        b_name = graph.add_constant(
            graph.fresh_name(f"{layer.name}_b_bn"), new_bias.astype(np.float32)
        )
        graph.remove_node(bn.name)
        graph.remove_node(layer.name)
        layer.inputs = [layer.inputs[0], w_name, b_name]
        del graph.tensors[layer.outputs[0]]
        layer.outputs = [bn.outputs[0]]
        graph.add_node(layer)
    graph.drop_unused_constants()
    return graph


def _foldable(graph: Graph, layer: Node, bn: Node) -> bool:
    if layer.op not in ("Conv", "Gemm") or len(graph.consumers(layer.outputs[0])) != 1:
        return False
    if layer.outputs[0] in graph.outputs:
        return False
    if not all(graph.is_constant(t) for t in bn.inputs[1:5]):
        return False
    if not graph.is_constant(layer.inputs[1]):
        return False
    if len(layer.inputs) > 2 and layer.inputs[2] and not graph.is_constant(layer.inputs[2]):
        return False
    if layer.op == "Gemm":
        attrs = layer.attrs
        if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            return False
        if attrs.get("transA", 0) or len(graph.spec(bn.inputs[0]).shape) != 2:
            return False
        if len(layer.inputs) > 2 and layer.inputs[2]:
            bias_shape = graph.spec(layer.inputs[2]).shape
            if int(np.prod(bias_shape)) not in (1, graph.spec(bn.inputs[1]).size):
                return False
    return True
