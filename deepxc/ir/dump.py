"""Readable text form of the IR, for DEEPXC_DEBUG=2."""

from __future__ import annotations

from deepxc.ir.graph import Graph


def dump_graph(graph: Graph) -> str:
    lines = [f"graph {graph.name}"]
    for name in graph.inputs:
        lines.append(f"  input {name}: {_spec(graph, name)}")
    for node in graph.nodes():
        attrs = ", ".join(f"{k}={v}" for k, v in node.attrs.items() if not k.startswith("_"))
        ins = ", ".join(i if not graph.is_constant(i) else f"const {i}" for i in node.inputs)
        outs = ", ".join(f"{o}: {_spec(graph, o)}" for o in node.outputs if o)
        lines.append(f"  {node.name} = {node.op}({ins}) [{attrs}] -> {outs}")
    lines.append(f"  outputs {', '.join(graph.outputs)}")
    return "\n".join(lines)


def _spec(graph: Graph, name: str) -> str:
    spec = graph.tensors.get(name)
    return f"{spec.dtype}{list(spec.shape)}" if spec else "?"
