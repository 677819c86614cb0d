"""Calibration inputs for RLC: a .npz of model inputs (and labels, if known).

The file holds one array per model input, named like the input, with examples stacked
on the leading (batch) axis; a model with one input may use any name for it. An optional
integer array `labels` gives each example's class. Without a file, RLC measures on
random inputs and can only report agreement with the uncompressed model.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

import numpy as np

from deepxc.errors import CompressionError, InputFileError
from deepxc.ir import Graph

RANDOM_EXAMPLES = 64


@dataclass
class Calibration:
    inputs: dict[str, np.ndarray]  # input name -> [examples, ...]
    labels: np.ndarray | None
    source: str  # the file, or "random inputs"

    @property
    def count(self) -> int:
        return len(next(iter(self.inputs.values())))


def load_calibration(path: str, graph: Graph) -> Calibration:
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):  # one .npy array: the examples of a one-input model
            arrays = {graph.inputs[0]: data} if len(graph.inputs) == 1 else {}
        else:
            with data:
                arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{path}: cannot read calibration data ({exc})") from None
    if not arrays:
        raise InputFileError(
            f"{path}: no arrays; expected an .npz with one array per model input "
            f"({', '.join(graph.inputs)}), examples on axis 0"
        )
    labels = arrays.pop("labels", None)
    if len(graph.inputs) == 1 and len(arrays) == 1:
        arrays = {graph.inputs[0]: next(iter(arrays.values()))}
    inputs = {}
    for name in graph.inputs:
        if name not in arrays:
            raise InputFileError(f"{path}: no array for model input '{name}'")
        inputs[name] = _examples(path, name, arrays[name], graph.spec(name).shape)
    counts = {len(a) for a in inputs.values()}
    if len(counts) != 1 or 0 in counts:
        raise InputFileError(f"{path}: inputs hold different or zero numbers of examples")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.dtype.kind not in "iu" or len(labels) != counts.pop():
            raise InputFileError(f"{path}: 'labels' must hold one integer class per example")
    return Calibration(inputs, labels, path)


def random_calibration(graph: Graph, seed: int = 0) -> Calibration:
    rng = np.random.default_rng(seed)
    inputs = {}
    for name in graph.inputs:
        spec = graph.spec(name)
        if not spec.dtype.startswith("float"):
            raise CompressionError(
                f"input '{name}' is {spec.dtype}: give --calibration with real examples"
            )
        shape = (RANDOM_EXAMPLES, *spec.shape[1:])
        inputs[name] = rng.standard_normal(shape).astype(spec.dtype)
    return Calibration(inputs, None, "random inputs")


def _examples(path: str, name: str, array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if array.ndim != len(shape) or tuple(array.shape[1:]) != tuple(shape[1:]):
        raise InputFileError(
            f"{path}: array '{name}' has shape {list(array.shape)}; model input '{name}' "
            f"is {list(shape)}, so examples stacked on axis 0 should be [N, "
            f"{', '.join(str(d) for d in shape[1:])}]"
        )
    return np.ascontiguousarray(array, dtype=np.float32)
