"""The files of `deepxc run`: inputs (-i), a data set (--dataset) and outputs (-o).

Arrays must be float32 as the model wants; other float arrays (float64, as numpy makes by
default, and float16) are converted, with a note, when every value fits in float32.
Integer arrays are refused: an image of 0..255 bytes usually needs the scaling the model
was trained with, which deepxc cannot guess.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deepxc.errors import InputFileError, RunError
from deepxc.runner import stack_examples

Log = Callable[[str], None]
DEFAULT_LABELS = "labels"


@dataclass
class Dataset:
    examples: dict[str, np.ndarray]  # per model input, [N, *its shape]
    count: int
    labels: np.ndarray | None  # integer classes, or None when the file has none
    labels_name: str


def load_inputs(path: str, manifest: dict, log: Log) -> dict[str, np.ndarray]:
    """The model's inputs from an .npz of arrays named after them, or from one .npy
    array for a one-input model; float arrays are converted to float32 (with a note)."""
    data = _read_arrays(path, "-i")
    if isinstance(data, np.ndarray):
        data = {_only_input(path, manifest): data}
    inputs = _by_input(path, data, manifest, log)
    for spec in manifest["inputs"]:
        _check_shape(path, spec["name"], inputs[spec["name"]], spec["shape"])
    return inputs


def load_dataset(path: str, manifest: dict, labels_name: str | None, log: Log) -> Dataset:
    """Examples on axis 0 of arrays named after the model's inputs (or one array for a
    one-input model: an .npy, or the only array of an .npz besides the labels), and the
    integer labels under `labels_name` (default 'labels') if the file has them."""
    data = _read_arrays(path, "--dataset")
    names = [t["name"] for t in manifest["inputs"]]
    wanted_labels = labels_name or DEFAULT_LABELS
    labels = None
    if isinstance(data, np.ndarray):
        if labels_name:
            raise RunError(f"--labels {labels_name}: {path} is one .npy array, without labels")
        data = {_only_input(path, manifest): data}
    else:
        data = dict(data)
        labels = data.pop(wanted_labels, None)
        if labels is None and labels_name:
            raise RunError(f"{path}: no array '{labels_name}' (it holds {_listing(data)})")
        if len(names) == 1 and names[0] not in data and len(data) == 1:
            (only,) = data
            log(f"{path}: array '{only}' taken as the model input '{names[0]}'")
            data = {names[0]: data[only]}
    arrays = _by_input(
        path, data, manifest, log, f"; the labels are '{wanted_labels}' (--labels NAME)"
    )
    examples = {}
    for spec in manifest["inputs"]:
        try:
            examples[spec["name"]] = stack_examples(
                spec["name"], arrays[spec["name"]], spec["shape"]
            )
        except RunError as error:
            raise RunError(f"{path}: {error}") from None
    counts = {name: len(array) for name, array in examples.items()}
    if len(set(counts.values())) > 1:
        sizes = ", ".join(f"'{name}' {count}" for name, count in counts.items())
        raise RunError(f"{path}: the inputs hold different numbers of examples ({sizes})")
    count = next(iter(counts.values()), 0)
    if count == 0:
        raise RunError(f"{path}: no examples (axis 0 is empty)")
    if labels is not None:
        labels = _check_labels(path, wanted_labels, labels, count, manifest)
    return Dataset(examples, count, labels, wanted_labels)


def check_outputs_path(path: str, manifest: dict) -> None:
    """Refuse, before anything runs, an -o that could not be written as asked: `.npz`
    holds every output by name, `.npy` the output of a one-output model; the folder
    must exist."""
    flag = f"-o {path}"
    if os.path.isdir(path):
        raise InputFileError(f"{flag}: is a directory, expected an .npz or .npy file name")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise InputFileError(f"{flag}: folder {folder} does not exist (create it first)")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npy":
        names = [t["name"] for t in manifest["outputs"]]
        if len(names) != 1:
            raise InputFileError(
                f"{flag}: one .npy file cannot hold the model's {len(names)} outputs "
                f"({', '.join(names)}): name the file .npz"
            )
    elif suffix != ".npz":
        raise InputFileError(
            f"{flag}: name the file .npz (every output by name) or .npy (the output of a "
            "one-output model)"
        )


def save_outputs(path: str, outputs: dict[str, np.ndarray]) -> None:
    """Write the outputs at exactly `path` (see check_outputs_path for the forms)."""
    try:
        with open(path, "wb") as file:
            if path.lower().endswith(".npy"):
                (array,) = outputs.values()
                np.save(file, array)
            else:
                np.savez(file, **outputs)
    except OSError as exc:
        raise InputFileError(f"-o {path}: cannot write ({exc.strerror})") from None


def _read_arrays(path: str, flag: str) -> np.ndarray | dict[str, np.ndarray]:
    """An .npy file's array, or an .npz file's arrays by name."""
    if os.path.isdir(path):
        raise InputFileError(f"{flag} {path}: is a directory, expected an .npz or .npy file")
    if not os.path.isfile(path):
        raise InputFileError(f"{flag} {path}: no such file")
    if os.path.getsize(path) == 0:
        raise InputFileError(f"{flag} {path}: the file is empty, expected an .npz or .npy file")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            return data
        with data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{flag} {path}: not a readable .npz or .npy file ({exc})") from None


def _by_input(
    path: str, data: dict[str, np.ndarray], manifest: dict, log: Log, stray_hint: str = ""
) -> dict[str, np.ndarray]:
    """The arrays named after the model inputs, as float32; a missing or stray one is
    refused."""
    names = [t["name"] for t in manifest["inputs"]]
    extra = sorted(set(data) - set(names))
    if extra:
        raise RunError(
            f"{path}: arrays the model does not take: {', '.join(extra)} "
            f"(model inputs: {', '.join(names)}){stray_hint}"
        )
    for name in names:
        if name not in data:
            raise RunError(f"{path}: lacks model input '{name}' (it holds {_listing(data)})")
    return {name: _as_float32(path, name, data[name], log) for name in names}


def _only_input(path: str, manifest: dict) -> str:
    names = [t["name"] for t in manifest["inputs"]]
    if len(names) != 1:
        raise InputFileError(
            f"{path}: one .npy array, but the model takes {len(names)} inputs "
            f"({', '.join(names)}): give an .npz with an array named after each"
        )
    return names[0]


def _listing(data: dict) -> str:
    return ", ".join(f"'{name}'" for name in data) or "no arrays"


def _as_float32(path: str, name: str, array: np.ndarray, log: Log) -> np.ndarray:
    if array.dtype == np.float32:
        return array
    if array.dtype.kind != "f":
        raise RunError(
            f"{path}: input '{name}' is {array.dtype}, the model wants float32 "
            "(convert it with the scaling the model was trained on)"
        )
    with np.errstate(over="ignore"):
        converted = array.astype(np.float32)
    if array.dtype.itemsize > 4:
        overflow = np.isinf(converted) & np.isfinite(array)
        if overflow.any():
            raise RunError(
                f"{path}: input '{name}' is {array.dtype} with values beyond float32's range "
                f"(e.g. {array[overflow].flat[0]:g}); the model wants float32"
            )
    if array.dtype.itemsize != 4:
        log(f"{path}: input '{name}' converted from {array.dtype} to float32")
    return converted


def _check_shape(path: str, name: str, array: np.ndarray, shape: list[int]) -> None:
    given = list(array.shape)
    if given == shape:
        return
    hint = ""
    if [1, *given] == shape:
        hint = "; add the batch axis (x[None])"
    elif shape and given[1:] == shape[1:] and given and given[0] > shape[0]:
        hint = f"; for {given[0]} examples on axis 0 use --dataset"
    raise RunError(
        f"{path}: input '{name}' has shape {given}, the model wants {shape} float32{hint}"
    )


def _check_labels(
    path: str, name: str, labels: np.ndarray, count: int, manifest: dict
) -> np.ndarray:
    """One integer class per example (or per row of a batch of the first output)."""
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise RunError(
            f"{path}: '{name}' is {labels.dtype} of shape {list(labels.shape)}; labels are "
            "integer classes, one per example"
        )
    output = manifest["outputs"][0]["shape"]
    rows = {count, count * output[0]} if output else {count}
    if len(labels) not in rows:
        raise RunError(
            f"{path}: '{name}' holds {len(labels)} labels for {count} examples "
            f"({' or '.join(map(str, sorted(rows)))} expected)"
        )
    return labels
