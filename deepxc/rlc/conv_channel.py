"""Conv -> channel-SVD pair: a kh x kw convolution to r channels, then a 1x1 one.

With K of shape [Cout, Cin, kh, kw] viewed as M = K.reshape(Cout, Cin kh kw):

    h = conv(x, A)        A = B_r.reshape(r, Cin, kh, kw): the layer's strides and pads
    y = conv(h, B) (+ c)  B = A_r.reshape(Cout, r, 1, 1): 1x1, the layer's bias

Per output pixel this costs r (Cin kh kw + Cout) multiply-adds instead of
Cin kh kw Cout. The rank axis is A's first and B's second.
"""

from __future__ import annotations

import numpy as np

from deepxc.ir import Graph, Node, TensorSpec
from deepxc.rlc.conv_shared import ConvLowRank, conv_node


class ChannelSVD(ConvLowRank):
    form = "channel"

    def to_matrix(self, weights: np.ndarray) -> np.ndarray:
        return weights.reshape(weights.shape[0], -1)

    def from_matrix(self, matrix: np.ndarray) -> np.ndarray:
        return matrix.reshape(self.kernel_shape)

    def factor_weights(self, a, b):
        out_channels, in_channels, kh, kw = self.kernel_shape
        first = b.reshape(-1, in_channels, kh, kw)
        second = a.reshape(out_channels, -1, 1, 1)
        return (first, 0), (second, 1)

    def factor_layers(self, graph: Graph, node: Node, weights: list[str], rank: int) -> list[Node]:
        batch, _, height, width = self.out_shape
        hidden = f"{node.name}_rlc_h"
        graph.tensors[hidden] = TensorSpec((batch, rank, height, width), "float32")
        first = conv_node(
            node,
            f"{node.name}_rlc",
            [node.inputs[0], weights[0]],
            hidden,
            kernel_shape=list(self.kernel_shape[2:]),
        )
        second = conv_node(
            node,
            node.name,
            [hidden, weights[1], *node.inputs[2:]],
            node.outputs[0],
            kernel_shape=[1, 1],
            strides=[1, 1],
            pads=[0, 0, 0, 0],
            dilations=[1, 1],
        )
        return [first, second]

    def macs(self, rank: int) -> int:
        pixels = int(np.prod(self.out_shape)) // self.out_shape[1]
        return pixels * self.params(rank)
