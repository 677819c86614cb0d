"""Equal error rate of the speaker-embedding model on held-out trials, compiled by deepxc.

    python examples/speaker_auth/evaluate.py [--levels 1.0,0.5,...] [--qemu-speakers N]

1. Builds a host bundle with runtime compression levels (RLC, calibrated on
   calibration.npz) and runs every trial window through it at every level, in one
   process (deepxc.runner.run_dataset).
2. Checks level 0 (uncompressed) against onnxruntime on the ONNX model.
3. Per level: utterance embeddings, enrollment templates, genuine and impostor scores of
   the held-out speakers (none seen in training), the EER and its threshold, the MACs.
4. Builds the same model for snapdragon-400 and runs the trials of a few speakers under
   qemu; at every level, the accept/reject decisions must equal the host's at the host's
   threshold.

The last line is `EER=x.xx%`: the uncompressed model's EER on the host bundle.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from trials import Scores, load, score_trials  # noqa: E402

from deepxc.emit.bundle import read_manifest  # noqa: E402
from deepxc.runner import run_dataset  # noqa: E402

LEVELS = "1.0,0.5,0.3,0.2,0.1"
QEMU_SPEAKERS = 4
TARGET_EER = 0.05
MAX_LOSS_PP = 1.0
MIN_SAVING = 3.0


def build(target: str, levels: str, out: str) -> dict:
    """`deepxc build` of model.onnx with RLC levels; its output goes to stdout."""
    command = [sys.executable, "-m", "deepxc.cli.main", "build", os.path.join(HERE, "model.onnx")]
    command += ["--target", target, "--rlc-levels", levels, "-o", out]
    command += ["--calibration", os.path.join(HERE, "calibration.npz")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"deepxc build --target {target} failed: {result.stderr.strip()}")
    print(f"built the {target} bundle in {time.perf_counter() - start:.0f} s: {out}", flush=True)
    return read_manifest(out)


def level_macs(manifest: dict) -> list[int]:
    levels = manifest.get("levels")
    return [level["macs"] for level in levels] if levels else [manifest["totals"]["macs"]]


def onnx_embeddings(windows: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(
        os.path.join(HERE, "model.onnx"), providers=["CPUExecutionProvider"]
    )
    return np.concatenate([session.run(None, {"input": w[None]})[0] for w in windows])


def progress(name: str):
    def report(level: str, done: int, total: int) -> None:
        print(f"  {name} {level}: {done}/{total} windows", flush=True)

    return report


def operating_threshold(scores: Scores, threshold: float) -> float:
    """Halfway between the EER threshold and the next lower score: the same decisions on
    every trial, none of them on the edge."""
    below = scores.matrix[scores.matrix < threshold]
    return (threshold + below.max()) / 2 if len(below) else threshold - 1e-3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=LEVELS, help=f"RLC levels (default {LEVELS})")
    parser.add_argument("--qemu-speakers", type=int, default=QEMU_SPEAKERS)
    parser.add_argument("--keep", help="build the bundles in this folder and keep them")
    args = parser.parse_args()

    trials = load(os.path.join(HERE, "trials.npz"))
    windows, ids = trials["input"], (trials["speaker"], trials["utterance"], trials["enroll"])
    print(
        f"trials: {len(trials['names'])} held-out speakers, {int(ids[1].max()) + 1} "
        f"utterances, {len(windows)} windows",
        flush=True,
    )
    reference = onnx_embeddings(windows)
    ort_eer, _ = score_trials(reference, *ids).eer()
    print(f"onnxruntime: EER {ort_eer:.2%}", flush=True)

    with tempfile.TemporaryDirectory(prefix="speaker-auth-") as tmp:
        folder = args.keep or tmp
        host = os.path.join(folder, "host")
        manifest = build("host", args.levels, host)
        macs = level_macs(manifest)
        levels = list(range(len(macs)))
        runs = run_dataset(host, {"input": windows}, levels, progress("host"))
        embeddings = [run["embedding"] for run in runs]
        gap = np.abs(embeddings[0] - reference).max() / np.abs(reference).max()
        print(f"host level 0 vs onnxruntime: max difference {gap:.1e} of the largest value")

        results = []
        print(f"{'level':>5} {'budget':>14} {'MACs':>10} {'saving':>7} {'EER':>7} {'threshold':>9}")
        budgets = args.levels.split(",")
        for level, output in enumerate(embeddings):
            scores = score_trials(output, *ids)
            eer, threshold = scores.eer()
            results.append((scores, eer, threshold))
            saving = macs[0] / macs[level]
            print(
                f"{level:5d} {'MACs <= ' + budgets[level]:>14} {macs[level]:10,d} "
                f"{saving:6.2f}x {eer:7.2%} {threshold:9.4f}",
                flush=True,
            )
        base = results[0][1]
        good = [
            level
            for level in levels
            if macs[0] / macs[level] >= MIN_SAVING and results[level][1] - base <= MAX_LOSS_PP / 100
        ]
        if good:
            best = max(good, key=lambda level: macs[0] / macs[level])
            print(
                f"level {best}: {macs[0] / macs[best]:.2f}x fewer MACs, EER "
                f"{results[best][1]:.2%} ({(results[best][1] - base) * 100:+.2f} pp)"
            )
        else:
            print(f"no level has >= {MIN_SAVING:g}x fewer MACs within {MAX_LOSS_PP:g} pp")

        count = min(args.qemu_speakers, len(trials["names"]))  # spread over the list
        chosen = sorted({int(i) for i in np.linspace(0, len(trials["names"]) - 1, count).round()})
        keep = np.isin(ids[0], chosen)
        subset = (ids[0][keep], ids[1][keep], ids[2][keep])
        arm = os.path.join(folder, "snapdragon-400")
        build("snapdragon-400", args.levels, arm)
        names = ", ".join(str(trials["names"][s]) for s in chosen)
        print(f"snapdragon-400 under qemu: {names}; {int(keep.sum())} windows")
        arm_runs = run_dataset(arm, {"input": windows[keep]}, levels, progress("qemu"))
        same = True
        for level, run in enumerate(arm_runs):
            host_scores = score_trials(embeddings[level][keep], *subset, speakers=chosen)
            arm_scores = score_trials(run["embedding"], *subset, speakers=chosen)
            threshold = operating_threshold(results[level][0], results[level][2])
            host_accept = host_scores.matrix >= threshold
            arm_accept = arm_scores.matrix >= threshold
            differ = int(np.sum(host_accept != arm_accept))
            same &= differ == 0
            print(
                f"  level {level}: {host_accept.size} decisions, {differ} differ; max score "
                f"difference {np.abs(host_scores.matrix - arm_scores.matrix).max():.1e}"
            )
        print("qemu decisions equal the host's" if same else "qemu decisions DIFFER")

    ok = base <= TARGET_EER and bool(good) and same
    print(f"targets {'met' if ok else 'NOT met'}: EER <= {TARGET_EER:.0%}, a level with")
    print(f"  >= {MIN_SAVING:g}x fewer MACs within {MAX_LOSS_PP:g} pp, same decisions under qemu")
    print(f"EER={base:.2%}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
