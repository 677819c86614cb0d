"""Run a task's bundle on one input and say what came out: the answer (top classes, or
accept/reject of a claimed speaker), the measured latency, memory, MACs, the level's ranks
and the plan, from the bundle's manifest."""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from deepxc.demo import verification
from deepxc.demo.inputs import InputError, decode_wav
from deepxc.demo.tasks import Task
from deepxc.emit.bundle import read_manifest
from deepxc.runner import run_bundle, run_dataset

BENCH_RUNS = 5  # timed runs; the latency is their median
TOP = 5
EMULATED = "emulated (qemu): times are not the device's"

_templates: dict[tuple[str, int, str], np.ndarray] = {}  # (bundle, level, speaker)


def audio_windows(signal: np.ndarray, window: int, name: str) -> np.ndarray:
    """[N, window * 20] model inputs of an utterance (`verification.utterance_windows`)."""
    try:
        return verification.utterance_windows(signal, window)
    except verification.TooShort as error:
        raise InputError(f"{name}: {error}") from None


def classify_image(bundle: str, image: np.ndarray, level: int, log) -> tuple[dict, float]:
    spec, output = _input_and_output(bundle)
    outputs, latency = run_bundle(
        bundle, {spec["name"]: image.reshape(spec["shape"])}, bench=BENCH_RUNS, level=level
    )
    log(f"ran level {level}: median {latency:.3f} ms over {BENCH_RUNS} runs")
    return {"scores": softmax(outputs[output].reshape(-1)).tolist()}, latency


def classify_audio(bundle: str, windows: np.ndarray, level: int, log) -> tuple[dict, float]:
    """The softmax of the mean logits over the utterance's windows."""
    logits = _window_outputs(bundle, windows, level)
    latency = _window_latency(bundle, windows, level, log)
    scores = softmax(logits.astype(np.float64).mean(axis=0))
    return {"scores": scores.tolist(), "windows": len(windows)}, latency


def authenticate(
    bundle: str, task: Task, windows: np.ndarray, claim: str, level: int, log
) -> tuple[dict, float]:
    """Score the utterance against the claimed speaker's template (enrolled from the
    speaker's first `enroll` sample files); accept at score >= the task's threshold."""
    template = speaker_template(bundle, task, claim, level, log)
    embedding = verification.utterance_embedding(_window_outputs(bundle, windows, level))
    score = verification.score(template, embedding)
    latency = _window_latency(bundle, windows, level, log)
    return {
        "claim": claim,
        "score": score,
        "threshold": task.threshold,
        "accepted": bool(score >= task.threshold),
        "windows": len(windows),
    }, latency


def speaker_template(bundle: str, task: Task, speaker: str, level: int, log) -> np.ndarray:
    key = (bundle, level, speaker)
    if key not in _templates:
        files = task.speaker_files(speaker)[: task.enroll]
        if len(files) < task.enroll:
            raise InputError(f"speaker {speaker}: {len(files)} sample files, {task.enroll} enroll")
        log(f"enrolling {speaker} from {len(files)} files")
        per_file = []
        for path in files:
            with open(path, "rb") as file:
                signal = decode_wav(file.read(), path)
            per_file.append(audio_windows(signal, task.window, path))
        outputs = _window_outputs(bundle, np.concatenate(per_file), level)
        bounds = np.cumsum([len(w) for w in per_file])[:-1]
        embeddings = [verification.utterance_embedding(o) for o in np.split(outputs, bounds)]
        _templates[key] = verification.enroll(np.stack(embeddings))
    return _templates[key]


def facts(bundle: str, level: int) -> dict:
    """What the page shows beside the answer, from the manifest: memory, MACs, the
    level's ranks and its plan."""
    manifest = read_manifest(bundle)
    levels = manifest.get("levels") or [{}]
    entry = levels[level]
    sizes = manifest["sizes"]
    rlc = entry.get("rlc") or {}
    return {
        "target": manifest["target"],
        "emulated": EMULATED if manifest.get("runner") else "",
        "levels": [
            {"level": i, "macs": e.get("macs"), "budget": (e.get("rlc") or {}).get("budget")}
            for i, e in enumerate(levels)
        ],
        "macs": entry.get("macs", manifest["totals"].get("macs")),
        "macs_full": levels[0].get("macs", manifest["totals"].get("macs")),
        "memory": {
            "arena_bytes": entry.get("arena_bytes", sizes["arena_bytes"]),
            "weights_bytes": entry.get("weight_bytes", sizes["weights_bytes"]),
            "weights_blob_bytes": sizes["weights_bytes"],
            "code_bytes": sizes["code_bytes"],
        },
        "budget": rlc.get("budget", "uncompressed"),
        "estimated_accuracy": rlc.get("estimated_accuracy"),
        "ranks": [
            {
                k: layer[k]
                for k in ("name", "form", "rank", "full_rank", "macs_before", "macs_after")
            }
            for layer in rlc.get("layers", [])
        ],
        "plan": entry.get("plan"),
    }


def bundle_processors(bundle: str) -> set[str]:
    """The processors the bundle's partitions run on, every level's together."""
    return {partition.get("processor", "cpu") for partition in read_manifest(bundle)["partitions"]}


def _input_and_output(bundle: str) -> tuple[dict, str]:
    """The model's (first) input spec and the name of its first output, from one read of
    the manifest."""
    manifest = read_manifest(bundle)
    return manifest["inputs"][0], manifest["outputs"][0]["name"]


def _window_outputs(bundle: str, windows: np.ndarray, level: int) -> np.ndarray:
    """The model's output for each window [N, ...], all in one process."""
    spec, output = _input_and_output(bundle)
    if int(np.prod(spec["shape"])) != windows.shape[1]:
        raise InputError(
            f"the model takes {int(np.prod(spec['shape']))} values, a window holds "
            f"{windows.shape[1]}: check the task's 'window'"
        )
    stacked = windows.reshape(len(windows), *spec["shape"]).astype(np.float32)
    (outputs,) = run_dataset(bundle, {spec["name"]: stacked}, [level])
    return outputs[output].reshape(len(windows), -1)


def _window_latency(bundle: str, windows: np.ndarray, level: int, log) -> float:
    spec, _ = _input_and_output(bundle)
    first = windows[:1].reshape(spec["shape"]).astype(np.float32)
    _, latency = run_bundle(bundle, {spec["name"]: first}, bench=BENCH_RUNS, level=level)
    log(f"ran level {level} on {len(windows)} windows: median {latency:.3f} ms a window")
    return latency
