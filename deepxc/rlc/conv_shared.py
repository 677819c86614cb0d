"""Questions the two convolution rewrites ask of a Conv node."""

from __future__ import annotations

from deepxc.ir import Graph, Node


def factorable_conv(graph: Graph, node: Node) -> bool:
    """A float 2-D convolution, one group, constant weights: what the conv rewrites take."""
    return (
        node.op == "Conv"
        and len(node.attrs.get("kernel_shape", ())) == 2
        and node.attrs.get("group", 1) == 1
        and graph.is_constant(node.inputs[1])
        and not graph.is_constant(node.inputs[0])
        and graph.spec(node.inputs[1]).dtype == "float32"
    )


def conv_node(node: Node, name: str, inputs: list[str], output: str, **attrs) -> Node:
    """A Conv with every attribute the importer fills, taking `attrs` over `node`'s."""
    merged = {key: node.attrs[key] for key in ("strides", "pads", "dilations", "_opset")}
    merged.update(group=1, auto_pad="NOTSET", **attrs)
    return Node(name, "Conv", inputs, [output], merged)
