"""Run a compiled bundle: write inputs as .npy, run its executable, read outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

from deepxc.emit.bundle import read_manifest
from deepxc.errors import RunError


def random_inputs(manifest: dict, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        t["name"]: rng.standard_normal(t["shape"]).astype(t["dtype"]) for t in manifest["inputs"]
    }


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
    bundle: str, inputs: dict[str, np.ndarray] | None = None, bench: int = 0
) -> tuple[dict[str, np.ndarray], float | None]:
    """Run once (and `bench` timed times); return the outputs and the median in ms."""
    outputs, stdout = _execute(bundle, inputs, ["--bench", str(bench)] if bench else [])
    return outputs, _median_ms(stdout)


def profile_bundle(
    bundle: str, inputs: dict[str, np.ndarray] | None = None, bench: int = 0
) -> tuple[dict[str, np.ndarray], float | None, list[dict]]:
    """Like run_bundle, for a bundle built with --profile; also returns each kernel call
    of the manifest with its mean time ("ms") over all the runs, warm-up included."""
    manifest = read_manifest(bundle)
    if not manifest.get("profile"):
        raise RunError(f"{bundle}: not a profiling build (rebuild with --profile)")
    extra = (["--bench", str(bench)] if bench else []) + ["--profile"]
    outputs, stdout = _execute(bundle, inputs, extra)
    times = {}
    for line in stdout.splitlines():
        if line.startswith("profile_ms "):
            _, index, ms = line.split()
            times[int(index)] = float(ms)
    calls = [{**call, "ms": times.get(i, 0.0)} for i, call in enumerate(manifest["kernel_calls"])]
    return outputs, _median_ms(stdout), calls


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
    bundle: str, inputs: dict[str, np.ndarray] | None, extra: list[str]
) -> tuple[dict[str, np.ndarray], str]:
    manifest = read_manifest(bundle)
    executable = os.path.join(bundle, "model")
    if not os.path.isfile(executable):
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
        out_paths = [os.path.join(tmp, f"out{i}.npy") for i in range(len(manifest["outputs"]))]
        for path in out_paths:
            command += ["-o", path]
        command += extra
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()
            raise RunError(
                f"{bundle}: model exited with {result.returncode}: "
                f"{message[-1] if message else 'no message'}"
            )
        outputs = {t["name"]: np.load(p) for t, p in zip(manifest["outputs"], out_paths)}
    return outputs, result.stdout
