"""The planning problem of a model on a target: its unit blocks with the time and energy
the cost model predicts on each processor that may run them, the tensors between them,
and the links between the processors.

The model's inputs and outputs are blocks too ("io", zero time, pinned to the cpu, which
holds the caller's buffers): `input:<tensor>` feeds the blocks that read a model input and
`output:<tensor>` takes a model output, so moving them across processors is priced as any
other edge."""

from __future__ import annotations

from deepxc.dad.costs import CostModel
from deepxc.dad.network import NetworkProfile
from deepxc.dad.problem import Block, Edge, Problem
from deepxc.dad.unit_block import UnitBlock
from deepxc.errors import DeepxcError
from deepxc.ir.graph import Graph
from deepxc.ir.placement import gpu_refusal

IO_PROCESSOR = "cpu"


def problem_of(
    blocks: list[UnitBlock],
    edges: list[tuple[str, str, int]],
    model_inputs: dict[str, list[str]],
    model_outputs: dict[str, list[str]],
    costs: CostModel,
    network: str | NetworkProfile | None = None,
    refused: dict[str, set[str]] | None = None,
    tensor_bytes: dict[str, int] | None = None,
) -> Problem:
    """The problem of `blocks` (in a topological order) and the `edges` (src, dst, nbytes)
    between them. `model_inputs`: each model input tensor and the blocks that read it;
    `model_outputs`: each model output tensor and the block that makes it. `network`: the
    remote server is a processor too, reached over it. `refused`: the processors a block
    may not run on ({"conv1": {"gpu"}}); a slice is refused what its group is.
    `tensor_bytes`: the size of the model's inputs and outputs; without it a tensor's size
    is the bytes_in (bytes_out) of a block that reads (makes) that tensor alone."""
    if network is not None:
        costs = costs.with_network(network)
    refused = refused or {}
    sizes = dict(tensor_bytes or {})
    by_name = {block.name: block for block in blocks}
    processors = costs.processors()
    names = [p.name for p in processors]

    def io_block(name: str) -> Block:
        return Block(name, [], {IO_PROCESSOR: 0.0}, {IO_PROCESSOR: 0.0}, kind="io")

    problem_blocks, problem_edges = [], []
    for tensor, readers in model_inputs.items():
        problem_blocks.append(io_block(f"input:{tensor}"))
        for reader in readers:
            nbytes = _io_bytes(tensor, sizes, _block(by_name, reader), "inputs", "bytes_in")
            problem_edges.append(Edge(f"input:{tensor}", reader, nbytes))
    for block in blocks:
        allowed = [p for p in names if p not in _refused(block, refused)]
        if not allowed:
            raise DeepxcError(
                f"block {block.name}: every processor is refused ({', '.join(names)})"
            )
        problem_blocks.append(
            Block(
                name=block.name,
                layers=list(block.layers),
                time_s={p: costs.time_s(block, p) for p in allowed},
                energy_j={p: costs.energy_j(block, p) for p in allowed},
                memory_bytes=float(block.weight_bytes + block.bytes_out),
                macs=block.macs,
                kind=block.kind,
                slice_of=block.slice_of,
                slice_index=block.slice_index,
                slices=block.slices,
            )
        )
    for src, dst, nbytes in edges:
        for end in (src, dst):
            _block(by_name, end)
        problem_edges.append(Edge(src, dst, float(nbytes)))
    for tensor, makers in model_outputs.items():
        problem_blocks.append(io_block(f"output:{tensor}"))
        for maker in makers:
            nbytes = _io_bytes(tensor, sizes, _block(by_name, maker), "outputs", "bytes_out")
            problem_edges.append(Edge(maker, f"output:{tensor}", nbytes))
    return Problem(processors, problem_blocks, problem_edges, costs.links())


def gpu_refused(graph: Graph, blocks: list[UnitBlock], gpus=("gpu",)) -> dict[str, set[str]]:
    """The blocks holding a layer the GPU path cannot take (deepxc.ir.placement.
    gpu_refusal), each refused the processors `gpus`. A slice's copy of a layer
    ("conv1@0", deepxc.ir.slice_channels) is judged as the layer it copies."""
    refused = {}
    for block in blocks:
        layers = [_in_graph(graph, layer) for layer in block.layers]
        if any(layer and gpu_refusal(graph, layer) for layer in layers):
            refused[block.name] = set(gpus)
    return refused


def _in_graph(graph: Graph, layer: str) -> str | None:
    for name in (layer, layer.rpartition("@")[0]):
        if name and name in graph.dag:
            return name
    return None


def _refused(block: UnitBlock, refused: dict[str, set[str]]) -> set[str]:
    return refused.get(block.name, set()) | refused.get(block.slice_of, set())


def _block(by_name: dict[str, UnitBlock], name: str) -> UnitBlock:
    if name not in by_name:
        raise DeepxcError(f"the planning problem names block '{name}', which is not a block")
    return by_name[name]


def _io_bytes(tensor: str, sizes: dict, block: UnitBlock, side: str, field: str) -> float:
    if tensor in sizes:
        return float(sizes[tensor])
    if len(getattr(block, side)) == 1:
        return float(getattr(block, field))
    raise DeepxcError(
        f"model {side[:-1]} '{tensor}': its size is needed (block {block.name} has "
        f"{len(getattr(block, side))} {side}); give tensor_bytes"
    )
