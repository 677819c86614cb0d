"""The remote partitions a bundle's manifest lists (its `remote` section)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from deepxc.emit.remote_context import DATATYPES as KSERVE_DATATYPES
from deepxc.errors import BundleError

MODEL_NAME = re.compile(r"[A-Za-z0-9_]+")
NOTHING_TO_SERVE = "nothing to serve: the plan puts no layer on the remote processor"
# KServe v2 datatype -> numpy dtype name: the names the bundle writes, read back
DATATYPES = {kserve: dtype for dtype, kserve in KSERVE_DATATYPES.items()}


@dataclass(frozen=True)
class TensorSpec:
    name: str  # input0, output0, ...
    datatype: str  # a KServe v2 name (FP32, ...)
    shape: tuple[int, ...]

    @property
    def dtype(self) -> str:
        return DATATYPES[self.datatype]


@dataclass(frozen=True)
class Partition:
    model: str  # the name the server serves it under
    version: str
    onnx_path: str  # absolute
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def remote_partitions(bundle: str) -> list[Partition]:
    """The remote partitions of `bundle`, their ONNX files checked to exist."""
    path = os.path.join(bundle, "manifest.json")
    if not os.path.isdir(bundle):
        raise BundleError(f"{bundle}: no such bundle directory")
    try:
        with open(path) as file:
            manifest = json.load(file)
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: not a deepxc bundle manifest ({exc})") from None
    remote = manifest.get("remote") if isinstance(manifest, dict) else None
    entries = remote.get("partitions") if isinstance(remote, dict) else None
    if not entries:
        raise BundleError(f"{bundle}: {NOTHING_TO_SERVE}")
    return [_partition(bundle, path, entry) for entry in entries]


def _partition(bundle: str, manifest_path: str, entry: dict) -> Partition:
    try:
        model = entry["model"]
        partition = Partition(
            model,
            str(entry.get("version", "1")),
            os.path.abspath(os.path.join(bundle, entry["onnx"])),
            tuple(_tensor(t) for t in entry["inputs"]),
            tuple(_tensor(t) for t in entry["outputs"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(
            f"{manifest_path}: a remote partition entry is malformed ({exc})"
        ) from None
    if not MODEL_NAME.fullmatch(model) or not partition.version.isdigit():
        raise BundleError(
            f"{manifest_path}: remote partition {model!r} version {partition.version!r}: a "
            "model name is letters, digits and _, a version a whole number"
        )
    if not os.path.isfile(partition.onnx_path):
        raise BundleError(f"{partition.onnx_path}: missing (remote partition {model})")
    return partition


def _tensor(entry: dict) -> TensorSpec:
    if entry["datatype"] not in DATATYPES:
        raise ValueError(f"tensor {entry['name']}: unknown datatype {entry['datatype']}")
    return TensorSpec(entry["name"], entry["datatype"], tuple(int(d) for d in entry["shape"]))
