"""The remote processor: what a call to a KServe v2 server costs a bundle, beside running
the same partition locally and onnxruntime on the whole model.

    python benchmarks/remote.py [--runs 300] [--place PLACEMENT]

Builds the digits CNN for the host with its middle (conv2 to flatten, 7.1 of its 7.4
MMACs) on the remote processor, starts `deepxc serve` on it (Triton through PyTriton, on
127.0.0.1) and runs the bundle's driver three ways, each in one run:
- remote: DEEPX_REMOTE names the server; every call goes over HTTP (keep-alive, binary
  tensors) to Triton, whose Python backend runs the partition's host bundle;
- local: no server named, so the same bundle computes the partition itself;
- onnxruntime on the whole model (1 thread per session).
Per way: the median latency of one inference (the driver's --bench), and the throughput
in inferences/s with 1 and with 4 clients at once (processes of the driver, threads of
onnxruntime sessions). The request overhead is remote minus local.

Then the overlap: a model of two branches of three 3x3 convolutions each (32 channels,
32x32), one branch on the server, the other on the device's CPU (the server and the
device each pinned to a core of their own where taskset can), built twice: as usual
(the remote call on a thread of its own, the CPU's branch meanwhile) and with
-DDEEPX_REMOTE_NO_THREAD (the call where it starts, then the CPU's branch): the median
latency of each, and their ratio. The machine is shared: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from remote_runs import DIGITS, MIDDLE, build_remote, digits_examples  # noqa: E402
from serve_process import Server  # noqa: E402

from deepxc.pipeline import build_model  # noqa: E402
from deepxc.runner import remote_stats  # noqa: E402


def pinned(cpu: int) -> tuple[str, ...]:
    """taskset -c CPU where there are two CPUs and taskset: the device and the server on
    a core each, as on two machines (else nothing)."""
    if shutil.which("taskset") and len(os.sched_getaffinity(0)) >= 2:
        return ("taskset", "-c", str(sorted(os.sched_getaffinity(0))[cpu]))
    return ()


def driver(
    bundle: str, url: str | None, args: list[str], launcher: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DEEPX_REMOTE"}
    if url:
        env["DEEPX_REMOTE"] = url
    command = [*launcher, os.path.join(bundle, "model"), "-w", os.path.join(bundle, "weights.bin")]
    command += args
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return result


def median_ms(
    bundle: str, url: str | None, inputs: str, runs: int, launcher: tuple[str, ...] = ()
) -> tuple[float, dict]:
    out = driver(bundle, url, ["-i", inputs, "--bench", str(runs)], launcher).stdout
    line = next(x for x in out.splitlines() if x.startswith("median_ms="))
    return float(line.split("=")[1]), remote_stats(out)


def throughput(bundle: str, url: str | None, stacked: str, count: int, clients: int) -> float:
    """Inferences/s of `clients` driver processes at once, each running `count`."""
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        runs = [
            pool.submit(driver, bundle, url, ["-i", stacked, "--examples", str(count)])
            for _ in range(clients)
        ]
        for run in runs:
            stats = remote_stats(run.result().stdout)
            if url and stats["fallbacks"]:
                print(f"  note: {stats['fallbacks']} calls fell back ({stats['causes']})")
    return clients * count / (time.perf_counter() - began)


def onnxruntime_figures(examples: np.ndarray, runs: int) -> tuple[float, float, float]:
    """(median ms, inferences/s with 1 client, with 4), one thread per session."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = [ort.InferenceSession(str(DIGITS), options) for _ in range(4)]
    name = sessions[0].get_inputs()[0].name
    for _ in range(20):
        sessions[0].run(None, {name: examples[0]})
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        sessions[0].run(None, {name: examples[0]})
        times.append((time.perf_counter() - began) * 1e3)

    def work(session) -> None:
        for x in examples:
            session.run(None, {name: x})

    rates = []
    for clients in (1, 4):
        began = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(work, sessions[:clients]))
        rates.append(clients * len(examples) / (time.perf_counter() - began))
    return float(np.median(times)), rates[0], rates[1]


def two_branches(channels: int = 32, size: int = 32, depth: int = 3):
    """x -> a1 -> a2 -> a3 and x -> b1 -> b2 -> b3 (3x3 convolutions and ReLUs); y = a + b."""
    rng = np.random.default_rng(3)
    nodes, weights = [], []
    for branch in "ab":
        source = "x"
        for k in range(1, depth + 1):
            name = f"{branch}{k}"
            w = rng.standard_normal((channels, channels, 3, 3)).astype(np.float32) * 0.05
            weights.append(numpy_helper.from_array(w, f"{name}_w"))
            nodes.append(
                helper.make_node(
                    "Conv", [source, f"{name}_w"], [f"{name}_c"], name=name, pads=[1] * 4
                )
            )
            nodes.append(helper.make_node("Relu", [f"{name}_c"], [name], name=f"{name}_relu"))
            source = name
    nodes.append(helper.make_node("Add", [f"a{depth}", f"b{depth}"], ["y"], name="add"))
    shape = [1, channels, size, size]
    graph = helper.make_graph(
        nodes,
        "two_branches",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    remote = ",".join(f"a{k}=remote,a{k}_relu=remote" for k in range(1, depth + 1))
    return model, remote


def overlap(work: str, runs: int) -> None:
    """The two-branch model, threaded and not, against one server."""
    model, place = two_branches()
    bundles = {}
    for way, flags in [("threaded", ""), ("no thread", "-DDEEPX_REMOTE_NO_THREAD")]:
        os.environ["DEEPXC_EXTRA_CFLAGS"] = flags
        bundles[way] = os.path.join(work, way.replace(" ", "_"))
        build_model(model, "host", bundles[way], log=lambda _: None, place=place, threads=1)
    os.environ.pop("DEEPXC_EXTRA_CFLAGS")
    local = os.path.join(work, "local.npy")
    np.save(local, np.random.default_rng(0).standard_normal([1, 32, 32, 32]).astype(np.float32))
    server = Server(bundles["threaded"], work, os.path.join(work, "cache"), pinned(1))
    device = pinned(0)
    try:
        times = {}
        for way, bundle in bundles.items():
            times[way], stats = median_ms(bundle, server.http_url, local, runs, device)
            if stats["fallbacks"]:
                print(f"  note: {way}: {stats['fallbacks']} calls fell back")
        without_server = median_ms(bundles["threaded"], None, local, runs, device)[0]
    finally:
        server.stop()
    where = f" (device: {' '.join(device)}, server: the other core)" if device else ""
    print(f"\ntwo branches of 3 convolutions (32 ch, 32x32), one on the server{where}:")
    for way, ms in times.items():
        print(f"  {way:10} median {ms:.3f} ms")
    print(f"  all local  median {without_server:.3f} ms (no server: the fallback)")
    print(f"  threaded / no thread: {times['threaded'] / times['no thread']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="inferences per measurement")
    parser.add_argument("--place", default=MIDDLE, help="the layers on the remote")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="deepxc-remote-")
    bundle = os.path.join(work, "bundle")
    build_remote(bundle, place=args.place, threads=1)
    examples = digits_examples(args.runs, seed=0)
    one, stacked = os.path.join(work, "one.npy"), os.path.join(work, "stacked.npy")
    np.save(one, examples[0])
    np.save(stacked, examples)
    server = Server(bundle, work, os.path.join(work, "cache"))
    print(f"server ready in {server.start_s:.1f} s at {server.http_url}")
    try:
        rows = []
        for way, url in [("remote (Triton)", server.http_url), ("local fallback", None)]:
            ms, stats = median_ms(bundle, url, one, args.runs)
            if url and stats["fallbacks"]:
                print(f"  note: {stats['fallbacks']} of {stats['remote_calls']} fell back")
            rates = [throughput(bundle, url, stacked, args.runs, c) for c in (1, 4)]
            rows.append((way, ms, *rates))
    finally:
        server.stop()
    rows.append(("onnxruntime, whole model", *onnxruntime_figures(examples, args.runs)))
    print(f"\ndigits CNN, {args.runs} inferences per figure, remote layers: {args.place}")
    print(f"{'way':26} {'median ms':>10} {'inf/s 1 client':>15} {'inf/s 4 clients':>16}")
    for way, ms, one_client, four in rows:
        print(f"{way:26} {ms:10.3f} {one_client:15.0f} {four:16.0f}")
    remote, local, ours = rows
    print(
        f"\nrequest overhead: {remote[1] - local[1]:.3f} ms an inference "
        f"(remote/local latency {remote[1] / local[1]:.1f}x); throughput remote/local "
        f"{remote[2] / local[2]:.2f}x (1 client), {remote[3] / local[3]:.2f}x (4 clients); "
        f"remote/onnxruntime {remote[2] / ours[2]:.2f}x (1 client)"
    )

    overlap(work, args.runs)


if __name__ == "__main__":
    main()
