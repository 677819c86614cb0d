"""Element-wise ops: no attributes to normalise."""

from deepxc.ir import Graph, Node


def unary(node: Node, graph: Graph) -> Node:
    return node


def binary(node: Node, graph: Graph) -> Node:
    return node
