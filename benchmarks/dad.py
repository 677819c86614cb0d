"""Decomposition plans, predicted against measured, per model.

    python benchmarks/dad.py [--target host-opencl] [--models tiny_cnn digits squeezenet ...]
                             [--costs FILE] [--repeat N] [--blocks]

For each model three bundles are built for the target: by `--plan auto` (the plan the
cost model and the solver choose), everything on the CPU, and everything the GPU takes on
the GPU. Each runs N times after a warm-up (the bundle's own --bench, median), and each
row gives the plan's predicted latency, the measured one and measured/predicted, and
whether its output matches onnxruntime (max |deepxc - onnxruntime| / max |onnxruntime|).
The cost model's constants come from `--costs FILE` or from the file `deepxc profile
--target TARGET` wrote on this machine (~/.cache/deepxc/costs/TARGET.toml); without one
the benchmark says how to make it. The goal: measured within 25% of predicted.

On host-opencl the GPU is pocl, which runs its kernels on the CPU's own cores: the target
file puts it in the CPU's serial group, so the planner never overlaps the two, and the
prediction of a mixed plan is the sum of its blocks' times, as pocl sharing the cores
makes it. Compare ratios: the machine is shared.

`--blocks` also builds each plan as a profiling bundle and prints, per kernel call, the
measured time beside the predicted time of the plan's blocks it runs (a CPU kernel is
one block; a GPU partition's launch runs all of its blocks, its wait none).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import onnx
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from gpu import relative_error  # noqa: E402
from support import quiet, random_inputs, reference_outputs  # noqa: E402
from zoo import realistic_model  # noqa: E402

from deepxc.dad.costs import load_costs  # noqa: E402
from deepxc.dad.planner import PlanRequest  # noqa: E402
from deepxc.errors import DeepxcError  # noqa: E402
from deepxc.pipeline import build_model, frontend, plan_graph_for  # noqa: E402
from deepxc.provenance import cpu_model  # noqa: E402
from deepxc.runner import profile_bundle, run_bundle  # noqa: E402
from deepxc.targets import load_target  # noqa: E402

MODELS = ["tiny_cnn", "digits", "squeezenet", "shufflenet", "resnet50", "inception_v1"]


def load(name: str) -> onnx.ModelProto:
    path = os.path.join(ROOT, "examples", name, "model.onnx")
    return onnx.load(path) if os.path.exists(path) else realistic_model(name)


def measure(model, target, inputs, expected, repeat, work, **how):
    """(relative error, median ms) of `model` built for `target` as `how` says."""
    bundle = os.path.join(work, "bundle")
    build_model(model, target, bundle, log=quiet, **how)
    outputs, median = run_bundle(bundle, inputs, bench=repeat)
    return relative_error(outputs, expected), median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="host-opencl")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--costs", help="a costs file (default: the one `deepxc profile` wrote)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--blocks", action="store_true", help="predicted vs measured per call")
    args = parser.parse_args()
    ort.set_default_logger_severity(3)
    target = load_target(args.target)
    try:
        costs = load_costs(target, args.costs)
    except DeepxcError as error:
        sys.exit(f"{error}")
    if costs.source.startswith("target file") and not args.costs:
        sys.exit(
            f"no measured costs for {args.target} on this machine ({costs.source}): run "
            f"`deepxc profile --target {args.target}` first, or pass --costs FILE"
        )
    print(f"CPU: {cpu_model() or 'unknown'}; target {args.target}; costs: {costs.source}")
    print(f"median of {args.repeat} runs; error: max |deepxc - onnxruntime| / max |onnxruntime|")
    print(
        f"{'model':<13} {'bundle':<10} {'predicted ms':>12} {'measured ms':>12} "
        f"{'meas/pred':>9} {'error':>8}  plan",
        flush=True,
    )
    request = PlanRequest(costs=args.costs)
    for name in args.models:
        model = load(name)
        inputs = random_inputs(model)
        expected = reference_outputs(model, inputs)
        plan = plan_graph_for(frontend(model, log=quiet), target, request, log=quiet)
        rows = [("plan", plan.latency_s, {"plan": "auto", "plan_request": request}, _what(plan))]
        rows.append(("all cpu", plan.baselines["all_cpu"].latency_s, {}, "no plan"))
        if "all_gpu" in plan.baselines:
            rows.append(("all gpu", plan.baselines["all_gpu"].latency_s, {"place": "gpu"}, ""))
        for label, predicted, how, what in rows:
            with tempfile.TemporaryDirectory(prefix="deepxc-dad-bench-") as work:
                try:
                    error, measured = measure(
                        model, target, inputs, expected, args.repeat, work, **how
                    )
                except DeepxcError as failure:
                    print(f"{name:<13} {label:<10} {failure}", flush=True)
                    continue
            ratio = measured / (predicted * 1e3)
            print(
                f"{name:<13} {label:<10} {predicted * 1e3:>12.3f} {measured:>12.3f} "
                f"{ratio:>9.2f} {error:>8.1e}  {what}",
                flush=True,
            )
        if args.blocks:
            with tempfile.TemporaryDirectory(prefix="deepxc-dad-bench-") as work:
                print_blocks(name, model, target, request, inputs, args.repeat, work)


def print_blocks(name, model, target, request, inputs, repeat, work) -> None:
    """Per kernel call of the plan's profiling build: measured ms, and the predicted ms
    of the plan's blocks it runs."""
    bundle = os.path.join(work, "profiled")
    build_model(model, target, bundle, log=quiet, profile=True, plan="auto", plan_request=request)
    _, _, calls = profile_bundle(bundle, inputs, bench=repeat)
    with open(os.path.join(bundle, "manifest.json")) as handle:
        plan = json.load(handle)["levels"][0]["plan"]
    owner = {}
    for block in plan["blocks"]:
        copies = (
            [f"{layer}@{block['slice']['index']}" for layer in block["layers"]]
            if block["slice"]
            else []
        )
        for layer in block["layers"] + copies:
            owner.setdefault(layer, []).append(block)
    print(f"{name}: per call of the plan's profiling build")
    print(f"  {'call':<40} {'predicted ms':>12} {'measured ms':>12}")
    for call in calls:
        if call.get("step") == "wait":
            continue
        blocks = {b["name"]: b for layer in call["layers"] for b in owner.get(layer, [])}
        predicted = sum(b["end_ms"] - b["start_ms"] for b in blocks.values())
        label = f"{call['kernel'][:24]} ({', '.join(blocks) or '-'})"[:40]
        print(f"  {label:<40} {predicted:>12.3f} {call['ms']:>12.3f}")


def _what(plan) -> str:
    counts: dict[str, int] = {}
    for block in plan.blocks:
        counts[block.processor] = counts.get(block.processor, 0) + 1
    parts = ", ".join(f"{n} on {p}" for p, n in sorted(counts.items()))
    sliced = len(plan.sliced())
    return parts + (f", {sliced} layers sliced" if sliced else "") + f" ({plan.method})"


if __name__ == "__main__":
    main()
