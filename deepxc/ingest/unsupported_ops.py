"""Refuse a model whose nodes use ops deepxc does not compile, naming all of them at once
(stopping at the first would have the user fix one op per try)."""

from __future__ import annotations

import onnx

from deepxc.errors import UnsupportedOps
from deepxc.ingest.importers import IMPORTERS
from deepxc.ingest.passes.fold_constants import build_time_nodes

NODES_NAMED = 3  # per op: the rest are counted


def check_ops(model: onnx.ModelProto, source: str) -> None:
    """Raise UnsupportedOps listing every node, by op, that no importer takes. `source`
    names the model in the message (its file). A node of shape arithmetic that folds at
    build time (a Floor or Range of known values) needs no importer."""
    nodes_by_op: dict[str, list[str]] = {}
    build_time = build_time_nodes(model.graph)
    for index, node in enumerate(model.graph.node):
        if node.domain in ("", "ai.onnx") and (node.op_type in IMPORTERS or index in build_time):
            continue
        op = repr(node.op_type) if not str(node.op_type).isidentifier() else node.op_type
        if node.domain not in ("", "ai.onnx"):
            op = f"{node.domain}.{op}"
        nodes_by_op.setdefault(str(op), []).append(node.name or f"{node.op_type}_{index}")
    if not nodes_by_op:
        return
    count = sum(len(names) for names in nodes_by_op.values())
    nodes = "1 node uses an op" if count == 1 else f"{count} nodes use ops"
    listed = ", ".join(_op_nodes(op, nodes_by_op[op]) for op in sorted(nodes_by_op))
    raise UnsupportedOps(
        f"{source}: {nodes} deepxc does not support: {listed}; `deepxc ops` lists the supported ops"
    )


def _op_nodes(op: str, names: list[str]) -> str:
    quoted = ", ".join(f"'{name}'" for name in names[:NODES_NAMED])
    more = f" and {len(names) - NODES_NAMED} more" if len(names) > NODES_NAMED else ""
    return f"{op} ({'node' if len(names) == 1 else 'nodes'} {quoted}{more})"
