"""Conv -> spatial-SVD pair (Jaderberg et al. 2014): a kh x 1 convolution to r channels,
then a 1 x kw one.

With K of shape [Cout, Cin, kh, kw] viewed as M[(Cin, kh), (Cout, kw)]:

    h = conv(x, A)        A[r, Cin, kh, 1] from A_r: the vertical stride, pads, dilation
    y = conv(h, B) (+ c)  B[Cout, r, 1, kw] from B_r: the horizontal ones, the bias

h has the layer's output rows and the input's columns. Per output pixel this costs about
r (Cin kh + Cout kw) multiply-adds instead of Cin kh Cout kw. The rank axis is A's first
and B's second.
"""

from __future__ import annotations

import numpy as np

from deepxc.ir import Graph, Node, TensorSpec
from deepxc.rlc.conv_shared import ConvLowRank, conv_node, factorable_conv


class SpatialSVD(ConvLowRank):
    form = "spatial"

    def to_matrix(self, weights: np.ndarray) -> np.ndarray:
        out_channels, in_channels, kh, kw = weights.shape
        return weights.transpose(1, 2, 0, 3).reshape(in_channels * kh, out_channels * kw)

    @staticmethod
    def applies(graph: Graph, node: Node) -> bool:
        # a 1-wide or 1-high kernel has nothing to split
        return factorable_conv(graph, node) and min(graph.spec(node.inputs[1]).shape[2:]) > 1

    def from_matrix(self, matrix: np.ndarray) -> np.ndarray:
        out_channels, in_channels, kh, kw = self.kernel_shape
        return matrix.reshape(in_channels, kh, out_channels, kw).transpose(2, 0, 1, 3)

    def factor_weights(self, a, b):
        out_channels, in_channels, kh, kw = self.kernel_shape
        first = a.T.reshape(-1, in_channels, kh, 1)
        second = b.reshape(-1, out_channels, 1, kw).transpose(1, 0, 2, 3)
        return (np.ascontiguousarray(first), 0), (np.ascontiguousarray(second), 1)

    def factor_layers(self, graph: Graph, node: Node, weights: list[str], rank: int) -> list[Node]:
        batch, _, height, _ = self.out_shape
        (sh, sw), (dh, dw) = node.attrs["strides"], node.attrs["dilations"]
        top, left, bottom, right = node.attrs["pads"]
        hidden = f"{node.name}_rlc_h"
        graph.tensors[hidden] = TensorSpec((batch, rank, height, self.in_width), "float32")
        first = conv_node(
            node,
            f"{node.name}_rlc",
            [node.inputs[0], weights[0]],
            hidden,
            kernel_shape=[self.kernel_shape[2], 1],
            strides=[sh, 1],
            dilations=[dh, 1],
            pads=[top, 0, bottom, 0],
        )
        second = conv_node(
            node,
            node.name,
            [hidden, weights[1], *node.inputs[2:]],
            node.outputs[0],
            kernel_shape=[1, self.kernel_shape[3]],
            strides=[1, sw],
            dilations=[1, dw],
            pads=[0, left, 0, right],
        )
        return [first, second]

    def macs(self, rank: int) -> int:
        batch, out_channels, height, width = self.out_shape
        _, in_channels, kh, kw = self.kernel_shape
        vertical = batch * height * self.in_width * rank * in_channels * kh
        return vertical + batch * height * width * out_channels * rank * kw
