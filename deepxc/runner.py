"""Run a compiled bundle: write inputs as .npy, run its executable, read outputs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable

import numpy as np

from deepxc.emit.bundle import read_manifest
from deepxc.errors import RunError, first_line

Progress = Callable[[str, int, int], None]  # ("level=K" or "bench", done, total)
PROGRESS_SECONDS = 3.0  # how often a long run reports progress
MAX_LEVEL_RUNS = 16  # levels the driver runs in one process
PROFILE_LINE = re.compile(r"^profile_ms (\d+) ([0-9.eE+-]+)$", re.M)  # the driver's --profile


def random_inputs(manifest: dict, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        t["name"]: rng.standard_normal(t["shape"]).astype(t["dtype"]) for t in manifest["inputs"]
    }


def check_inputs(
    manifest: dict, inputs: dict[str, np.ndarray], examples: int = 0
) -> list[np.ndarray]:
    """Order the arrays as the bundle expects, refusing missing, extra or mismatched ones;
    with `examples`, each array holds that many inputs stacked on a new first axis."""
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
        shape = [examples, *spec["shape"]] if examples else spec["shape"]
        if list(array.shape) != shape:
            raise RunError(f"input '{name}' has shape {list(array.shape)}, model wants {shape}")
        if array.dtype != np.dtype(spec["dtype"]):
            raise RunError(f"input '{name}' has dtype {array.dtype}, model wants {spec['dtype']}")
        ordered.append(np.array(array, order="C"))  # keeps 0-d arrays 0-d
    return ordered


def run_bundle(
    bundle: str,
    inputs: dict[str, np.ndarray] | None = None,
    bench: int = 0,
    level: int = 0,
    progress: Progress | None = None,
) -> tuple[dict[str, np.ndarray], float | None]:
    """Run once (and `bench` timed times) at compression level `level`; return the
    outputs and the median in ms. `progress` hears how many timed runs are done."""
    runs, stdout = _execute(
        bundle, inputs, ["--bench", str(bench)] if bench else [], [level], progress=progress
    )
    return runs[0], _median_ms(stdout)


def run_remote(
    bundle: str,
    inputs: dict[str, np.ndarray] | None = None,
    examples: int = 0,
    bench: int = 0,
) -> tuple[dict[str, np.ndarray], dict | None, float | None]:
    """Run a bundle with remote partitions once (or on `examples` stacked inputs, one
    inference each, in one process; then `bench` timed runs); return the outputs, how the
    remote calls went (`remote_stats`) and the median ms."""
    extra = ["--examples", str(examples)] if examples else []
    extra += ["--bench", str(bench)] if bench else []
    runs, stdout = _execute(bundle, inputs, extra, [0], examples=examples)
    return runs[0], remote_stats(stdout), _median_ms(stdout)


def remote_stats(stdout: str) -> dict | None:
    """What the driver of a bundle with remote partitions printed of them: remote_calls,
    remote_ok, fallbacks, and `causes` {cause: count}; None for other bundles."""
    stats: dict | None = None
    for line in stdout.splitlines():
        if line.startswith("remote_calls="):
            stats = {key: int(value) for key, value in (f.split("=") for f in line.split())}
            stats["causes"] = {}
        elif line.startswith("fallback ") and stats is not None:
            cause, _, count = line.split(" ", 1)[1].partition("=")
            stats["causes"][cause] = int(count)
    return stats


def run_levels(
    bundle: str, levels: list[int], inputs: dict[str, np.ndarray] | None = None
) -> list[dict[str, np.ndarray]]:
    """Run the levels in turn, in one process on the same inputs (switching with
    deepx_set_level); return the outputs of each run, in the order of `levels`."""
    runs, _ = _execute(bundle, inputs, [], levels)
    return runs


def stack_examples(name: str, array: np.ndarray, shape: list[int]) -> np.ndarray:
    """The examples of one input as [N, *shape]. `array` holds them on axis 0: either
    stacked on a new axis ([N, *shape]) or one model batch after the other ([N * batch,
    *shape[1:]], as a calibration or test .npz holds them)."""
    shape = list(shape)
    if list(array.shape[1:]) == shape:
        return array
    if shape and array.ndim == len(shape) and list(array.shape[1:]) == shape[1:]:
        if array.shape[0] % shape[0] == 0:
            try:
                return array.reshape(-1, *shape)
            except ValueError as exc:  # numpy's arrays have at most 64 dimensions
                raise RunError(
                    f"input '{name}': its {len(shape)} dimensions and the examples axis are "
                    f"more than numpy holds ({first_line(exc)})"
                ) from None
    forms = [["N", *shape]]
    if shape:
        forms.append(["N" if shape[0] == 1 else f"N*{shape[0]}", *shape[1:]])
    wanted = " or ".join("[" + ", ".join(map(str, form)) + "]" for form in forms)
    raise RunError(
        f"input '{name}': examples of shape {list(array.shape)}, expected {wanted} "
        "(N examples on axis 0)"
    )


def run_dataset(
    bundle: str,
    examples: dict[str, np.ndarray],
    levels: list[int],
    progress: Progress | None = None,
) -> list[dict[str, np.ndarray]]:
    """Run every example at each level in `levels`, all in one process; return each
    level's outputs with the examples on axis 0 the way `examples` holds them (see
    stack_examples), so output i is the output of example i. `progress` hears how many
    examples of a level are done, every PROGRESS_SECONDS or so."""
    manifest = read_manifest(bundle)
    stacks = {
        t["name"]: stack_examples(t["name"], examples[t["name"]], t["shape"])
        for t in manifest["inputs"]
        if t["name"] in examples
    }
    counts = {len(stack) for stack in stacks.values()}
    if len(counts) > 1:
        sizes = ", ".join(f"{name}: {len(stack)}" for name, stack in stacks.items())
        raise RunError(f"the inputs hold different numbers of examples ({sizes})")
    count = counts.pop() if counts else 1
    if count == 0:
        raise RunError("the inputs hold no examples")
    runs = []
    for first in range(0, len(levels), MAX_LEVEL_RUNS):
        runs += _execute(
            bundle,
            stacks,
            ["--examples", str(count)],
            levels[first : first + MAX_LEVEL_RUNS],
            examples=count,
            progress=progress,
        )[0]
    return [
        {
            t["name"]: run[t["name"]].reshape(-1, *t["shape"][1:]) if t["shape"] else run[t["name"]]
            for t in manifest["outputs"]
        }
        for run in runs
    ]


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
    times = dict(profile_times(stdout))
    listed = manifest["levels"][level]["kernel_calls"] if level else manifest["kernel_calls"]
    calls = [{**call, "ms": times.get(i, 0.0)} for i, call in enumerate(listed)]
    return runs[0], _median_ms(stdout), calls


def profile_times(text: str) -> list[tuple[int, float]]:
    """The `profile_ms CALL MS` lines the driver prints with --profile (on this machine or
    on the device): (kernel call, mean ms), in the order printed."""
    return [(int(call), float(ms)) for call, ms in PROFILE_LINE.findall(text)]


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
    bundle: str,
    inputs: dict[str, np.ndarray] | None,
    extra: list[str],
    levels: list[int],
    examples: int = 0,
    progress: Progress | None = None,
) -> tuple[list[dict[str, np.ndarray]], str]:
    """Run the bundle's executable once per level in `levels` (on each of `examples`
    stacked inputs, if any; then any --bench runs); return the outputs of each level and
    the program's stdout. Progress lines of the driver go to `progress` as they come."""
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
    if inputs is None:
        inputs = random_inputs(manifest)
    arrays = check_inputs(manifest, inputs, examples)
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
        if progress is not None:
            command += ["--progress", str(round(PROGRESS_SECONDS * 1000))]
        command += extra
        returncode, stdout, messages = _communicate(command, tmp, progress)
        if returncode != 0:
            messages = messages or stdout.strip().splitlines() or ["no message"]
            message = messages[-1].removeprefix("error: ")  # RunError is printed as one
            raise RunError(f"{bundle}: model exited with {returncode}: {message}")
        runs = [{name: np.load(p) for name, p in zip(names, paths)} for paths in out_paths]
    return runs, stdout


def _communicate(
    command: list[str], tmp: str, progress: Progress | None
) -> tuple[int, str, list[str]]:
    """Run `command`, handing its progress lines to `progress` while it runs; return its
    exit status, its stdout and its other stderr lines (stdout goes to a file, so a long
    profile listing cannot fill a pipe while stderr is read)."""
    stdout_path = os.path.join(tmp, "stdout.txt")
    messages = []
    with open(stdout_path, "w") as stdout:
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True)
        for line in process.stderr:
            fields = line.split()
            if progress is not None and len(fields) == 3 and fields[0] == "progress":
                done, _, total = fields[2].partition("/")
                progress(fields[1], int(done), int(total))
            elif line.strip():
                messages.append(line.strip())
        returncode = process.wait()
    with open(stdout_path) as stdout:
        return returncode, stdout.read(), messages
