"""What the templates and the manifest need of the remote partitions: per partition its
model name and version on the server, and each input and output tensor with its wire
name, KServe v2 datatype, shape and place in its level's arena."""

from __future__ import annotations

import re
from dataclasses import dataclass

from deepxc.artifacts import LoweredPartition, RemoteTensor
from deepxc.emit.memory_plan import MemoryPlan
from deepxc.errors import BundleError

VERSION = "1"  # the partitions of one bundle are one version of their models
DEFAULT_TIMEOUT_MS = 2000
# KServe v2 tensor datatypes by numpy dtype name
DATATYPES = {
    "float32": "FP32",
    "float64": "FP64",
    "float16": "FP16",
    "int64": "INT64",
    "int32": "INT32",
    "int16": "INT16",
    "int8": "INT8",
    "uint8": "UINT8",
    "bool": "BOOL",
}


@dataclass
class RemoteTensorContext:
    name: str
    datatype: str
    ndim: int
    shape: str  # C initializer of int64_t[8]
    offset: int  # in the arena of the partition's level
    nbytes: int


@dataclass
class RemotePartitionContext:
    symbol: str  # the function its call names in the host's call list
    model: str
    version: str
    level: int
    layers: list[str]
    inputs: list[RemoteTensorContext]
    outputs: list[RemoteTensorContext]


@dataclass
class RemoteContext:
    partitions: list[RemotePartitionContext]  # the C table, in the bundle's order
    url: str  # the server the bundle calls unless DEEPX_REMOTE says otherwise ("": none)
    timeout_ms: int

    def table_index(self, symbol: str) -> int:
        return next(i for i, p in enumerate(self.partitions) if p.symbol == symbol)


def datatype(dtype: str) -> str:
    if dtype not in DATATYPES:
        raise BundleError(f"a remote partition cannot send {dtype} tensors")
    return DATATYPES[dtype]


def remote_context(
    levels: list[LoweredPartition], plans: list[MemoryPlan], url: str, timeout_ms: int
) -> RemoteContext | None:
    """The remote partitions of every level, or None when the bundle has none."""
    partitions = []
    for level, plan in zip(levels, plans):
        for symbol, part in level.remote.items():
            call = next(c for c in level.calls if c.kernel == symbol and not c.wait)

            count = len(part.inputs)
            offsets = [plan.offsets[buffer] for buffer in call.args]
            partitions.append(
                RemotePartitionContext(
                    symbol,
                    part.model,
                    VERSION,
                    level.level,
                    part.layers,
                    [_tensor(end, at) for end, at in zip(part.inputs, offsets[:count])],
                    [_tensor(end, at) for end, at in zip(part.outputs, offsets[count:])],
                )
            )
    if not partitions:
        return None
    return RemoteContext(partitions, url or "", timeout_ms)


def _tensor(end: RemoteTensor, offset: int) -> RemoteTensorContext:
    if len(end.spec.shape) > 8:
        raise BundleError(f"remote tensor {end.tensor}: more than 8 dimensions")
    shape = "{" + ", ".join(str(d) for d in end.spec.shape) + "}"
    return RemoteTensorContext(
        end.name,
        datatype(end.spec.dtype),
        len(end.spec.shape),
        shape if end.spec.shape else "{0}",
        offset,
        end.spec.nbytes,
    )


def remote_record(levels: list[LoweredPartition], ctx: RemoteContext | None) -> dict | None:
    """The manifest's `remote` section (what `deepxc serve` and `export-remote` read)."""
    if ctx is None:
        return None
    parts = {symbol: part for level in levels for symbol, part in level.remote.items()}

    def tensor(end: RemoteTensor) -> dict:
        return {
            "name": end.name,
            "tensor": end.tensor,
            "datatype": datatype(end.spec.dtype),
            "shape": list(end.spec.shape),
        }

    return {
        "url": ctx.url or None,
        "timeout_ms": ctx.timeout_ms,
        "partitions": [
            {
                "model": p.model,
                "version": p.version,
                "level": p.level,
                "index": parts[p.symbol].index,
                "layers": p.layers,
                "onnx": onnx_file(p.model),
                "inputs": [tensor(t) for t in parts[p.symbol].inputs],
                "outputs": [tensor(t) for t in parts[p.symbol].outputs],
            }
            for p in ctx.partitions
        ],
    }


def onnx_file(model: str) -> str:
    return f"remote/{model}.onnx"


def wire_name(name: str) -> str:
    """`name` as a model name on the server: letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name) or "model"
