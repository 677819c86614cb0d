"""Constant becomes a graph constant; ops that only produce constants are folded later."""

from __future__ import annotations

import numpy as np

from deepxc.errors import UnsupportedOp
from deepxc.ir import Graph, Node

_VALUE_ATTRS = {
    "value_float": np.float32,
    "value_int": np.int64,
    "value_floats": np.float32,
    "value_ints": np.int64,
}


def constant(node: Node, graph: Graph) -> None:
    if "value" in node.attrs:
        value = np.asarray(node.attrs["value"])
    else:
        for name, dtype in _VALUE_ATTRS.items():
            if name in node.attrs:
                value = np.asarray(node.attrs[name], dtype=dtype)
                break
        else:
            raise UnsupportedOp(node.name, node.op, "only numeric tensor values are supported")
    graph.add_constant(node.outputs[0], value)
    return None
