"""Run a compiled bundle: write inputs as .npy, run its executable, read outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile

import numpy as np

from deepxc.emit.bundle import read_manifest
from deepxc.errors import InputFileError, RunError


def random_inputs(manifest: dict, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        t["name"]: rng.standard_normal(t["shape"]).astype(t["dtype"]) for t in manifest["inputs"]
    }


def load_inputs(path: str, manifest: dict) -> dict[str, np.ndarray]:
    """The arrays of an .npz file, by name; a single .npy array is taken as the input of a
    one-input model."""
    if os.path.isdir(path):
        raise InputFileError(f"{path}: is a directory, expected an .npz file")
    if not os.path.isfile(path):
        raise InputFileError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise InputFileError(f"{path}: the file is empty, expected an .npz archive")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            return {_only_input(path, manifest): data}
        with data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{path}: not a readable .npz file ({exc})") from None


def _only_input(path: str, manifest: dict) -> str:
    names = [t["name"] for t in manifest["inputs"]]
    if len(names) != 1:
        raise InputFileError(
            f"{path}: one .npy array, but the model takes {len(names)} inputs "
            f"({', '.join(names)}): give an .npz with an array named after each"
        )
    return names[0]


def save_outputs(path: str, outputs: dict[str, np.ndarray]) -> None:
    """Write the outputs as an .npz at exactly `path` (numpy would append .npz)."""
    if os.path.isdir(path):
        raise InputFileError(f"-o {path}: is a directory, expected an .npz file name")
    try:
        with open(path, "wb") as file:
            np.savez(file, **outputs)
    except OSError as exc:
        raise InputFileError(f"-o {path}: cannot write ({exc.strerror})") from None


def check_inputs(manifest: dict, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Order the arrays as the bundle expects, refusing missing, extra or mismatched ones."""
    expected = {t["name"]: t for t in manifest["inputs"]}
    extra = sorted(set(inputs) - set(expected))
    if extra:
        raise RunError(
            f"inputs file has arrays the model does not take: {', '.join(extra)} "
            f"(model inputs: {', '.join(expected)})"
        )
    ordered = []
    for name, spec in expected.items():
        if name not in inputs:
            raise RunError(f"inputs file lacks model input '{name}'")
        array = np.asarray(inputs[name])
        if list(array.shape) != spec["shape"]:
            raise RunError(
                f"input '{name}' has shape {list(array.shape)}, model wants {spec['shape']}"
            )
        if array.dtype != np.dtype(spec["dtype"]):
            raise RunError(f"input '{name}' has dtype {array.dtype}, model wants {spec['dtype']}")
        ordered.append(np.array(array, order="C"))  # keeps 0-d arrays 0-d
    return ordered


def run_bundle(
    bundle: str, inputs: dict[str, np.ndarray] | None = None, bench: int = 0, level: int = 0
) -> tuple[dict[str, np.ndarray], float | None]:
    """Run once (and `bench` timed times) at compression level `level`; return the
    outputs and the median in ms."""
    runs, stdout = _execute(bundle, inputs, ["--bench", str(bench)] if bench else [], [level])
    return runs[0], _median_ms(stdout)


def run_levels(
    bundle: str, levels: list[int], inputs: dict[str, np.ndarray] | None = None
) -> list[dict[str, np.ndarray]]:
    """Run the levels in turn, in one process on the same inputs (switching with
    deepx_set_level); return the outputs of each run, in the order of `levels`."""
    runs, _ = _execute(bundle, inputs, [], levels)
    return runs


def run_examples(
    bundle: str, examples: dict[str, np.ndarray], level: int = 0
) -> dict[str, np.ndarray]:
    """Run the bundle on each example in turn and stack the outputs: `examples` holds
    each input's examples along axis 0, one model batch each (as in a calibration or
    test .npz)."""
    manifest = read_manifest(bundle)
    batch = {t["name"]: t["shape"][0] if t["shape"] else 1 for t in manifest["inputs"]}
    counts = {len(array) // batch.get(name, 1) for name, array in examples.items()}
    if len(counts) != 1:
        raise RunError("the inputs hold different numbers of examples")
    results: dict[str, list[np.ndarray]] = {}
    for index in range(counts.pop()):
        one = {
            name: array[index * batch[name] : (index + 1) * batch[name]]
            for name, array in examples.items()
            if name in batch
        }
        outputs, _ = run_bundle(bundle, one, level=level)
        for name, value in outputs.items():
            results.setdefault(name, []).append(value)
    return {name: np.concatenate(values) for name, values in results.items()}


def profile_bundle(
    bundle: str, inputs: dict[str, np.ndarray] | None = None, bench: int = 0, level: int = 0
) -> tuple[dict[str, np.ndarray], float | None, list[dict]]:
    """Like run_bundle, for a bundle built with --profile; also returns each kernel call
    of the level (as the manifest lists them) with its mean time ("ms") over all the
    runs, warm-up included."""
    manifest = read_manifest(bundle)
    if not manifest.get("profile"):
        raise RunError(f"{bundle}: not a profiling build (rebuild with --profile)")
    extra = (["--bench", str(bench)] if bench else []) + ["--profile"]
    runs, stdout = _execute(bundle, inputs, extra, [level])
    times = {}
    for line in stdout.splitlines():
        if line.startswith("profile_ms "):
            _, index, ms = line.split()
            times[int(index)] = float(ms)
    listed = manifest["levels"][level]["kernel_calls"] if level else manifest["kernel_calls"]
    calls = [{**call, "ms": times.get(i, 0.0)} for i, call in enumerate(listed)]
    return runs[0], _median_ms(stdout), calls


def level_count(manifest: dict) -> int:
    """How many runtime compression levels the bundle holds (1 before levels existed)."""
    return len(manifest.get("levels", [])) or 1


def check_level(bundle: str, manifest: dict, level: int) -> None:
    count = level_count(manifest)
    if not 0 <= level < count:
        raise RunError(
            f"{bundle}: no compression level {level}; this bundle has levels 0..{count - 1}"
        )


def profile_lines(calls: list[dict], limit: int | None = None) -> list[str]:
    """The slowest kernel calls first: time, share of the total, kernel and layers."""
    total = sum(call["ms"] for call in calls) or 1.0
    ranked = sorted(calls, key=lambda c: -c["ms"])[:limit]
    return [
        f"{c['ms']:10.3f} {c['ms'] / total:6.1%}  {c['kernel']} ({', '.join(c['layers']) or '-'})"
        for c in ranked
    ]


def _median_ms(stdout: str) -> float | None:
    for line in stdout.splitlines():
        if line.startswith("median_ms="):
            return float(line.split("=", 1)[1])
    return None


def _execute(
    bundle: str, inputs: dict[str, np.ndarray] | None, extra: list[str], levels: list[int]
) -> tuple[list[dict[str, np.ndarray]], str]:
    """Run the bundle's executable once per level in `levels` (then any --bench runs);
    return the outputs of each level's run and the program's stdout."""
    manifest = read_manifest(bundle)
    for level in levels:
        check_level(bundle, manifest, level)
    executable = os.path.join(bundle, "model")
    if not os.path.isfile(executable):
        if manifest.get("compiled") is False:
            raise RunError(
                f"{bundle}: built with --emit-only, so not compiled: build it first "
                f"(make -C {bundle})"
            )
        raise RunError(f"{bundle}: bundle has no compiled executable 'model'")
    runner = manifest.get("runner", [])
    if runner and shutil.which(runner[0]) is None:
        raise RunError(
            f"{bundle}: built for {manifest['target']}; running it here needs '{runner[0]}' "
            "(Debian package qemu-user), which is not installed"
        )
    arrays = check_inputs(manifest, inputs if inputs is not None else random_inputs(manifest))
    with tempfile.TemporaryDirectory(prefix="deepxc-run-") as tmp:
        command = [*runner, os.path.abspath(executable)]
        command += ["-w", os.path.abspath(os.path.join(bundle, "weights.bin"))]
        for index, array in enumerate(arrays):
            path = os.path.join(tmp, f"in{index}.npy")
            np.save(path, array)
            command += ["-i", path]
        names = [t["name"] for t in manifest["outputs"]]
        out_paths = [
            [os.path.join(tmp, f"out{run}_{i}.npy") for i in range(len(names))]
            for run in range(len(levels))
        ]
        for path in (path for paths in out_paths for path in paths):
            command += ["-o", path]
        if levels != [0]:  # bundles older than levels have no --level option
            command += ["--level", ",".join(str(level) for level in levels)]
        command += extra
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()
            raise RunError(
                f"{bundle}: model exited with {result.returncode}: "
                f"{message[-1] if message else 'no message'}"
            )
        runs = [{name: np.load(p) for name, p in zip(names, paths)} for paths in out_paths]
    return runs, result.stdout
