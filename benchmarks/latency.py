"""Latency and memory, side by side: deepxc bundle vs onnxruntime vs TVM's own build.

    python benchmarks/latency.py [--models squeezenet tiny_cnn ...] [--repeat N]
                                 [--threads 1 2] [--layers K] [--no-tvm]

Batch 1, the same thread count for all three, median of N timed runs after a warm-up
(at most 3 for TVM's untuned build);
one table per thread count (default: 1, then 2). Each row gives the ratios to
onnxruntime, the build time, and the bundle's memory (arena + weights) against the
growth of onnxruntime's resident memory when it loads and runs the model. --layers K
also prints each model's K slowest kernel calls, timed by a profiling build of the
bundle. Compare ratios, not absolute times: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from zoo import realistic_model  # noqa: E402

from deepxc.pipeline import build_model  # noqa: E402
from deepxc.runner import profile_bundle, profile_lines, run_bundle  # noqa: E402

ZOO = [
    "squeezenet",
    "shufflenet",
    "bvlc_alexnet",
    "inception_v1",
    "inception_v2",
    "densenet121",
    "resnet50",
    "zfnet512",
    "vgg19",
]
EXAMPLES = {"tiny_cnn": os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")}


def load(name: str) -> onnx.ModelProto:
    return onnx.load(EXAMPLES[name]) if name in EXAMPLES else realistic_model(name)


def inputs_of(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    initializers = {i.name for i in model.graph.initializer}
    return {
        v.name: rng.standard_normal([d.dim_value for d in v.type.tensor_type.shape.dim]).astype(
            np.float32
        )
        for v in model.graph.input
        if v.name not in initializers
    }


def median_ms(run, repeat: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def time_onnxruntime(model: onnx.ModelProto, inputs, repeat: int, threads: int) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return median_ms(lambda: session.run(None, inputs), repeat)


ORT_RSS_PROBE = """
import sys, numpy as np, onnx, onnxruntime as ort
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) * 1024
model = onnx.load(sys.argv[1])
feeds = {k: v for k, v in np.load(sys.argv[2]).items()}
blob = model.SerializeToString(); del model
before = rss()
options = ort.SessionOptions(); options.intra_op_num_threads = 1
options.log_severity_level = 3
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
session = ort.InferenceSession(blob, options, providers=['CPUExecutionProvider'])
del blob
session.run(None, feeds)
print(rss() - before)
"""


def onnxruntime_rss_increase(model: onnx.ModelProto, inputs, workdir: str) -> int:
    """Resident-memory growth of a fresh process creating a session and running once."""
    model_path = os.path.join(workdir, "model.onnx")
    inputs_path = os.path.join(workdir, "inputs.npz")
    onnx.save(model, model_path)
    np.savez(inputs_path, **inputs)
    result = subprocess.run(
        [sys.executable, "-c", ORT_RSS_PROBE, model_path, inputs_path],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip().splitlines()[-1])


TVM_REPEAT = 3  # TVM's untuned build is tens of times slower: a few runs tell enough

TVM_PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, onnx
from latency import tvm_default_ms
feeds = dict(np.load(sys.argv[3]).items())
print(tvm_default_ms(onnx.load(sys.argv[2]), feeds, int(sys.argv[4]), int(sys.argv[5])))
"""


def time_tvm_default(model: onnx.ModelProto, inputs, repeat: int, threads: int, workdir: str):
    """TVM's own build, timed in a fresh process: its thread pool keeps spinning after a
    run and would slow down whatever is timed next on this process's cores."""
    model_path = os.path.join(workdir, "model.onnx")
    inputs_path = os.path.join(workdir, "inputs.npz")
    onnx.save(model, model_path)
    np.savez(inputs_path, **inputs)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            TVM_PROBE,
            os.path.dirname(os.path.abspath(__file__)),
            model_path,
            inputs_path,
            str(repeat),
            str(threads),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def tvm_default_ms(model: onnx.ModelProto, inputs, repeat: int, threads: int) -> float:
    """TVM's own path: its ONNX frontend and default Relax build, run by its VM."""
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    module = from_onnx(model, keep_params_in_input=False)
    target = tvm.target.Target({"kind": "llvm", "mcpu": tvm.target.codegen.llvm_get_system_cpu()})
    executable = tvm.compile(module, target=target)
    tvm.get_global_func("runtime.config_threadpool")(1, threads)  # 1: big cores first
    vm = relax.VirtualMachine(executable, tvm.cpu())
    arguments = [tvm.runtime.tensor(inputs[v.name]) for v in model.graph.input if v.name in inputs]
    return median_ms(lambda: vm["main"](*arguments), repeat)


def time_deepxc(
    model: onnx.ModelProto, inputs, repeat: int, bundle: str, threads: int
) -> tuple[float, dict]:
    start = time.perf_counter()
    manifest = build_model(model, "host", bundle, log=lambda m: None, threads=threads)
    build_s = time.perf_counter() - start
    _, median = run_bundle(bundle, inputs, bench=repeat)
    manifest["build_s"] = build_s
    return median, manifest


def print_slowest_layers(model: onnx.ModelProto, inputs, threads: int, count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="deepxc-profile-") as tmp:
        build_model(model, "host", tmp, log=lambda m: None, threads=threads, profile=True)
        _, _, calls = profile_bundle(tmp, inputs, bench=2)
    for line in profile_lines(calls, count):
        print(f"    {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(EXAMPLES) + ZOO)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2], help="thread counts, one table each"
    )
    parser.add_argument(
        "--layers",
        type=int,
        default=0,
        metavar="K",
        help="print the K slowest kernel calls of each model",
    )
    parser.add_argument("--no-tvm", action="store_true", help="skip TVM's own build")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()
    rows = []
    for threads in args.threads:
        rows += table(args, threads)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=2)
    return 0


def table(args, threads: int) -> list[dict]:
    print(f"threads: {threads}")
    header = (
        f"{'model':14} {'deepxc ms':>10} {'ort ms':>9} {'tvm ms':>9} {'dx/ort':>7} "
        f"{'tvm/ort':>8} {'build s':>8} {'dx MiB':>8} {'ort MiB':>8} {'mem ratio':>9}"
    )
    print(header)
    rows = []
    for name in args.models:
        model = load(name)
        inputs = inputs_of(model)
        with tempfile.TemporaryDirectory(prefix="deepxc-bench-") as tmp:
            deepxc_ms, manifest = time_deepxc(
                model, inputs, args.repeat, os.path.join(tmp, "b"), threads
            )
            ort_ms = time_onnxruntime(model, inputs, args.repeat, threads)
            tvm_ms = (
                float("nan")
                if args.no_tvm
                else time_tvm_default(model, inputs, min(args.repeat, TVM_REPEAT), threads, tmp)
            )
            ort_rss = onnxruntime_rss_increase(model, inputs, tmp)
        sizes = manifest["sizes"]
        bundle_bytes = sizes["arena_bytes"] + sizes["weights_bytes"]
        row = {
            "model": name,
            "threads": threads,
            "deepxc_ms": deepxc_ms,
            "onnxruntime_ms": ort_ms,
            "tvm_ms": tvm_ms,
            "build_s": manifest["build_s"],
            "bundle_bytes": bundle_bytes,
            "onnxruntime_rss_bytes": ort_rss,
        }
        rows.append(row)
        print(
            f"{name:14} {deepxc_ms:10.2f} {ort_ms:9.2f} {tvm_ms:9.2f} {deepxc_ms / ort_ms:7.2f} "
            f"{tvm_ms / ort_ms:8.2f} {manifest['build_s']:8.1f} {bundle_bytes / 2**20:8.1f} "
            f"{ort_rss / 2**20:8.1f} {bundle_bytes / max(ort_rss, 1):9.2f}",
            flush=True,
        )
        if args.layers:
            print_slowest_layers(model, inputs, threads, args.layers)
    zoo = [r for r in rows if r["model"] in ZOO]
    for label, group in (("all models", rows), ("the zoo", zoo)):
        if not group:
            continue
        ratios = [r["deepxc_ms"] / r["onnxruntime_ms"] for r in group]
        worst = max(group, key=lambda r: r["deepxc_ms"] / r["onnxruntime_ms"])
        print(
            f"deepxc/onnxruntime with {threads} thread{'s' if threads > 1 else ''}, {label}: "
            f"geometric mean {statistics.geometric_mean(ratios):.2f}, "
            f"worst {max(ratios):.2f} ({worst['model']})",
            flush=True,
        )
    print(flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main())
