"""RLC levels on the trained examples: MACs, weight bytes, held-out accuracy, latency.

    python benchmarks/rlc_levels.py [--examples digits speakers] [--target host]
                                    [--levels 1.0,0.3,0.15,0.08] [--by both]
                                    [--repeat 200] [--limit N] [--threads 1]

Builds one bundle per example with every level (`deepxc build --rlc-levels ...
--calibration calibration.npz`), then for each level runs the bundle itself on the
held-out test split (all levels in one run of the bundle, as `deepxc run --dataset
--level all` does) and reports its accuracy next to the
estimate from the calibration split. On the host it also times each level (median of
--repeat runs) and gives the ratios to level 0 and to onnxruntime running the
uncompressed model; on an ARM target the bundle runs under qemu-user and only accuracy
is measured (--limit caps the examples there). Compare ratios, not times.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from latency import time_onnxruntime  # noqa: E402

from deepxc.pipeline import build_model  # noqa: E402
from deepxc.rlc.plan import Budget  # noqa: E402
from deepxc.runner import run_bundle, run_dataset  # noqa: E402


def budgets(levels: list[float], by: str) -> list[Budget]:
    return [
        Budget(
            macs=f if by in ("macs", "both") else None,
            weights=f if by in ("weights", "both") else None,
        )
        for f in levels
    ]


def example_table(name: str, args) -> None:
    folder = os.path.join(ROOT, "examples", name)
    model = onnx.load(os.path.join(folder, "model.onnx"))
    test = np.load(os.path.join(folder, "test.npz"))
    inputs, labels = test["input"], test["labels"]
    limit = args.limit or len(labels)
    inputs, labels = inputs[:limit], labels[:limit]
    with tempfile.TemporaryDirectory(prefix="deepxc-rlc-") as bundle:
        manifest = build_model(
            model,
            args.target,
            bundle,
            log=lambda m: None,
            threads=args.threads,
            budgets=budgets(args.levels, args.by),
            calibration=os.path.join(folder, "calibration.npz"),
        )
        levels = manifest["levels"]
        base = levels[0]
        timed = not manifest.get("runner")  # native: timings mean something
        ort_ms = None
        if timed:
            ort_ms = time_onnxruntime(model, {"input": inputs[:1]}, args.repeat, args.threads)
        print(
            f"\n{name} on {args.target}: {len(labels)} held-out examples, weights.bin "
            f"{manifest['sizes']['weights_bytes']:,} B for {len(levels)} levels"
            + (f", onnxruntime {ort_ms:.4f} ms" if timed else "")
        )
        header = (
            f"{'level':>5} {'budget':<28} {'MACs':>10} {'x':>6} {'weight B':>10} {'x':>6} "
            f"{'est. acc':>8} {'test acc':>8} {'loss':>7}"
        )
        if timed:
            header += f" {'ms':>8} {'/lvl0':>6} {'/ort':>6}"
        print(header)
        reference_accuracy = None
        level0_ms = None
        runs = run_dataset(bundle, {"input": inputs}, [entry["level"] for entry in levels])
        for entry, run in zip(levels, runs):
            level = entry["level"]
            outputs = run["logits"]
            accuracy = float(np.mean(outputs.argmax(axis=1) == labels))
            reference_accuracy = accuracy if reference_accuracy is None else reference_accuracy
            rlc = entry.get("rlc", entry)
            macs, weight_bytes = rlc["macs"], rlc["weight_bytes"]
            estimate = rlc.get("estimated_accuracy", rlc.get("estimated_agreement", 0.0))
            line = (
                f"{level:>5} {rlc['budget']:<28} {macs:>10,} {base_macs(base) / macs:>5.2f}x "
                f"{weight_bytes:>10,} {base_bytes(base) / weight_bytes:>5.2f}x "
                f"{estimate:>8.2%} {accuracy:>8.2%} {reference_accuracy - accuracy:>+7.2%}"
            )
            if timed:
                _, ms = run_bundle(bundle, {"input": inputs[:1]}, bench=args.repeat, level=level)
                level0_ms = ms if level0_ms is None else level0_ms
                line += f" {ms:>8.4f} {ms / level0_ms:>6.2f} {ms / ort_ms:>6.2f}"
            print(line, flush=True)


def base_macs(entry: dict) -> int:
    return entry.get("rlc", entry)["macs"]


def base_bytes(entry: dict) -> int:
    return entry.get("rlc", entry)["weight_bytes"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="+", default=["digits", "speakers"])
    parser.add_argument("--target", default="host")
    parser.add_argument(
        "--levels", type=lambda t: [float(v) for v in t.split(",")], default=[1.0, 0.3, 0.15, 0.08]
    )
    parser.add_argument("--by", choices=("macs", "weights", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--limit", type=int, default=0, help="test examples (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    for name in args.examples:
        example_table(name, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
