"""Which processor computes each layer, and the partitions that follow from it.

A placement maps every IR layer to a processor name of the target ("cpu", "gpu"). Its
partitions are the maximal runs of layers on one processor in the graph's topological
order: such a run is convex (every path between two of its layers stays inside it), so a
partition reads only tensors made before it and the runtime runs the partitions in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from deepxc.errors import DeepxcError
from deepxc.ir.graph import Graph, Node
from deepxc.ir.order import in_order
from deepxc.ir.partition_graph import partition_graph

PARTITION_OP = "DevicePartition"  # a partition on another processor, in its host's graph


class PlacementError(DeepxcError):
    pass


@dataclass
class Partition:
    processor: str
    layers: list[str]  # IR node names, in the model's order


def parse_place(
    text: str, graph: Graph, processors: list[str], target: str = "this target"
) -> dict[str, str]:
    """`--place`: a processor for the whole model ("gpu") or LAYER=PROC pairs separated
    by commas, a bare PROC first setting the default of the layers not named
    ("gpu,fc=cpu"). Unnamed layers stay on "cpu"."""
    layers = [node.name for node in graph.nodes()]
    placement = dict.fromkeys(layers, "cpu")
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, processor = item.rpartition("=")
        if processor not in processors:
            raise PlacementError(
                f"--place {item}: no processor '{processor}' on {target} "
                f"(it has {', '.join(processors)})"
            )
        if not name:
            placement = dict.fromkeys(layers, processor)
        elif name in placement:
            placement[name] = processor
        else:
            raise PlacementError(
                f"--place {item}: the model has no layer '{name}' "
                "(deepxc inspect MODEL lists the layer names)"
            )
    return placement


def default_processor(text: str) -> str:
    """The processor a `--place` text gives the layers it does not name."""
    bare = [item.strip() for item in text.split(",") if item.strip() and "=" not in item]
    return bare[-1] if bare else "cpu"


def carry_placement(graph: Graph, placement: dict[str, str], default: str) -> dict[str, str]:
    """`placement` (made on the model's graph) for another graph of the model, an RLC
    level's: a layer RLC factored (its parts named after it, `conv1_u`...) goes where the
    layer went; a layer it does not know, to `default`."""
    carried = {}
    for node in graph.nodes():
        if node.name in placement:
            carried[node.name] = placement[node.name]
            continue
        owners = [name for name in placement if node.name.startswith(name)]
        carried[node.name] = placement[max(owners, key=len)] if owners else default
    return carried


def partitions(graph: Graph, placement: dict[str, str]) -> list[Partition]:
    """The runs of `placement`, in the model's order."""
    runs: list[Partition] = []
    for node in graph.nodes():
        processor = placement.get(node.name, "cpu")
        if runs and runs[-1].processor == processor:
            runs[-1].layers.append(node.name)
        else:
            runs.append(Partition(processor, [node.name]))
    return runs


def collapse(
    graph: Graph, runs: list[Partition], host: str = "cpu", first: int = 0
) -> tuple[Graph, list[Graph]]:
    """`graph` with every partition not on `host` replaced by one node (op PARTITION_OP,
    attrs: its index and processor, the layers it computes) reading the tensors that cross
    into it and making those that leave it; and each such partition as a graph of its own
    (`partition_graph`), in order. Partitions are numbered from `first`. The collapsed
    graph keeps the runs' order: each partition's node stands where its layers stood."""
    collapsed = graph.copy()
    subgraphs = []
    order = []
    for run in runs:
        if run.processor == host:
            order += run.layers
            continue
        sub = partition_graph(graph, run.layers)
        index = first + len(subgraphs)
        subgraphs.append(sub)
        for name in run.layers:
            collapsed.remove_node(name)
        order.append(f"{run.processor}_partition{index}")
        collapsed.add_node(
            Node(
                order[-1],
                PARTITION_OP,
                list(sub.inputs),
                list(sub.outputs),
                {"index": index, "processor": run.processor, "layers": list(run.layers)},
            )
        )
    collapsed.drop_unused_constants()
    return in_order(collapsed, order), subgraphs


def gpu_refusal(graph: Graph, layer: str) -> str | None:
    """Why the GPU path cannot take `layer`, or None: its kernels compute on 32-bit
    floats (an embedded-profile OpenCL device may have no 64-bit integers). Constant
    inputs of other types (pads, axes, indices) are read at build time."""
    node = graph.node(layer)
    for tensor in [*node.inputs, *node.outputs]:
        if tensor and not graph.is_constant(tensor) and graph.spec(tensor).dtype != "float32":
            return f"tensor '{tensor}' is {graph.spec(tensor).dtype}, the GPU path takes float32"
    return None
