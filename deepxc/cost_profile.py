"""`deepxc profile`: measure a target's cost constants on this machine.

For each processor, one ONNX model holds micro-benchmarks of every kernel class (conv,
depthwise, dense, pool, elementwise) at several sizes as independent branches, so one
profiling build covers them all; its bundle is run a few times and each kernel call's
median time, with the call's MACs and bytes, goes to `deepxc.dad.fit`. On the GPU the
branches make partitions (a tiny CPU layer after each keeps them apart): most one branch,
and per class 1 to 4 copies of a tiny independent branch, so that the fit can tell a
partition's own overhead (mapping, flush, wait: the CPU<->GPU link's latency, half on the
way in and half on the way out) from each kernel's launch. A pool's MAC term is its
window reads (`deepxc.dad.blocks.pool_ops`)."""

from __future__ import annotations

import datetime
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from deepxc.dad.blocks import pool_ops
from deepxc.dad.fit import ClassFit, LinkFit, Measurement, fit_costs
from deepxc.errors import RunError, TargetError
from deepxc.ir import Graph
from deepxc.ir.stats import layer_macs
from deepxc.targets import Target, load_target

Log = Callable[[str], None]
KINDS = ("conv", "depthwise", "dense", "pool", "elementwise")
GLUE_INPUT = "glue_in"
OPSET = 17
# A link whose fit has no per-byte term (pocl maps the CPU's memory: nothing is copied) is
# written with this bandwidth, as a link's rate must be > 0: a MB then takes 1 ns.
FREE_LINK_GBYTES_PER_S = 1e6


@dataclass
class Sample:
    """One micro-benchmark: a branch of the profiling model, its layers named `name`_*."""

    name: str
    kind: str
    nodes: list = field(default_factory=list)
    inputs: list = field(default_factory=list)  # ValueInfoProto
    outputs: list = field(default_factory=list)
    initializers: list = field(default_factory=list)


def _value(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def _weight(name: str, shape, rng) -> onnx.TensorProto:
    scale = 1.0 / np.sqrt(max(int(np.prod(shape[1:])), 1))
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def conv(
    name: str,
    channels: int,
    size: int,
    out_channels: int = 0,
    kernel: int = 3,
    rng=None,
    group: int = 1,
):
    """A `kernel`x`kernel` convolution of a [1, channels, size, size] input, in `group`
    groups (`depthwise`: one per channel)."""
    rng = rng or np.random.default_rng(0)
    out_channels = out_channels or channels
    pad = kernel // 2
    return Sample(
        name,
        "depthwise" if group > 1 and group == channels else "conv",
        [
            helper.make_node(
                "Conv",
                [f"{name}_x", f"{name}_w"],
                [f"{name}_y"],
                name=f"{name}_conv",
                pads=[pad] * 4,
                group=group,
            )
        ],
        [_value(f"{name}_x", [1, channels, size, size])],
        [_value(f"{name}_y", [1, out_channels, size, size])],
        [_weight(f"{name}_w", [out_channels, channels // group, kernel, kernel], rng)],
    )


def depthwise(name: str, channels: int, size: int, rng=None):
    """A 3x3 depthwise convolution of a [1, channels, size, size] input."""
    return conv(name, channels, size, rng=rng, group=channels)


def dense(name: str, rows: int, inner: int, outer: int, rng=None):
    """[rows, inner] x [inner, outer]."""
    rng = rng or np.random.default_rng(0)
    return Sample(
        name,
        "dense",
        [
            helper.make_node(
                "Gemm", [f"{name}_x", f"{name}_w"], [f"{name}_y"], name=f"{name}_fc", transB=1
            )
        ],
        [_value(f"{name}_x", [rows, inner])],
        [_value(f"{name}_y", [rows, outer])],
        [_weight(f"{name}_w", [outer, inner], rng)],
    )


def pool(name: str, channels: int, size: int, kernel: int = 2, stride: int = 2, op="MaxPool"):
    out = (size - kernel) // stride + 1
    return Sample(
        name,
        "pool",
        [
            helper.make_node(
                op,
                [f"{name}_x"],
                [f"{name}_y"],
                name=f"{name}_pool",
                kernel_shape=[kernel] * 2,
                strides=[stride] * 2,
            )
        ],
        [_value(f"{name}_x", [1, channels, size, size])],
        [_value(f"{name}_y", [1, channels, out, out])],
    )


def elementwise(name: str, elements: int, form: str = "relu", rng=None):
    """Relu of one input ("relu"), the sum of two inputs ("add"), or of an input and a
    constant ("bias", whose constant stays where the kernel runs)."""
    rng = rng or np.random.default_rng(0)
    shape = [1, elements]
    x, y = f"{name}_x", f"{name}_y"
    inputs, initializers = [_value(x, shape)], []
    if form == "relu":
        node = helper.make_node("Relu", [x], [y], name=f"{name}_relu")
    elif form == "add":
        inputs.append(_value(f"{name}_x2", shape))
        node = helper.make_node("Add", [x, f"{name}_x2"], [y], name=f"{name}_add")
    else:
        initializers.append(_weight(f"{name}_b", shape, rng))
        node = helper.make_node("Add", [x, f"{name}_b"], [y], name=f"{name}_add")
    return Sample(name, "elementwise", [node], inputs, [_value(y, shape)], initializers)


def samples(quick: bool = False) -> list[Sample]:
    """The micro-benchmarks: 4-6 sizes a class (4 with `quick`), from ~0.1 to ~60 MMACs
    and from tens of KB to a few MB."""
    rng = np.random.default_rng(0)
    made = [
        conv("conv_a", 8, 16, rng=rng),  # 0.15 MMACs
        conv("conv_b", 16, 24, rng=rng),  # 1.3
        conv("conv_c", 64, 28, kernel=1, rng=rng),  # 3.2, 1x1: many bytes a MAC
        conv("conv_d", 32, 28, rng=rng),  # 7.2
        conv("conv_e", 48, 32, rng=rng),  # 21
        conv("conv_f", 64, 40, rng=rng),  # 59
        depthwise("dw_a", 16, 32, rng=rng),  # 0.15 MMACs, 128 KB
        depthwise("dw_b", 32, 56, rng=rng),  # 0.9, 0.8 MB
        depthwise("dw_c", 64, 56, rng=rng),  # 1.8, 1.6 MB
        depthwise("dw_d", 128, 56, rng=rng),  # 3.6, 3.2 MB
        depthwise("dw_e", 64, 112, rng=rng),  # 7.2, 6.4 MB
        dense("fc_a", 1, 256, 256, rng=rng),  # 0.07 MMACs
        dense("fc_b", 1, 1024, 1024, rng=rng),  # 1.0, 4 MB of weights
        dense("fc_c", 16, 512, 512, rng=rng),  # 4.2
        dense("fc_d", 4, 2048, 1024, rng=rng),  # 8.4
        dense("fc_e", 64, 1024, 512, rng=rng),  # 34
        pool("pool_a", 16, 32),  # 80 KB
        pool("pool_b", 32, 64, 3, 1),  # 1 MB, 3x3 window
        pool("pool_c", 64, 64, op="AveragePool"),  # 1.3 MB
        pool("pool_d", 64, 128),  # 5 MB
        elementwise("ew_a", 4096, "relu"),  # 32 KB
        elementwise("ew_b", 65536, "add", rng=rng),  # 768 KB
        elementwise("ew_c", 131072, "bias", rng=rng),  # 1.5 MB
        elementwise("ew_d", 262144, "relu"),  # 2 MB
        elementwise("ew_e", 524288, "add", rng=rng),  # 6 MB
        elementwise("ew_f", 32768, "bias", rng=rng),  # 384 KB
    ]
    if quick:
        keep = {"conv_a", "conv_c", "conv_d", "conv_e", "dw_a", "dw_b", "dw_c", "dw_d"}
        keep |= {"fc_a", "fc_b", "fc_c", "fc_d", "pool_a", "pool_b", "pool_c", "pool_d"}
        keep |= {"ew_a", "ew_b", "ew_c", "ew_d"}
        made = [s for s in made if s.name in keep]
    return made


# per class, a tiny sample (a few KB: mostly its launch) whose copies share a GPU
# partition, 1 to 4 at a time
SMALL = {
    "conv": lambda name: conv(name, 4, 8),
    "depthwise": lambda name: depthwise(name, 8, 8),
    "dense": lambda name: dense(name, 1, 64, 32),
    "pool": lambda name: pool(name, 8, 8),
    "elementwise": lambda name: elementwise(name, 256, "relu"),
}
SHARED = (1, 2, 3, 4)
WARM_UP = "gpu_warm_up"


def partition_groups(parts: list[Sample]) -> list[list[Sample]]:
    """The GPU's partitions: each sample alone, then per class its tiny sample's copies
    in partitions of 1 to 4 (named `<class>_x<count><letter>`)."""
    groups = [[sample] for sample in parts]
    for kind in dict.fromkeys(s.kind for s in parts):
        for count in SHARED:
            groups.append([SMALL[kind](f"{kind}_x{count}{'abcd'[i]}") for i in range(count)])
    return groups


def profiling_model(groups: list[list[Sample]], glue: bool = False) -> onnx.ModelProto:
    """The samples as independent branches of one model, in order, after a small
    convolution on the CPU (the first parallel call of a run wakes the threads, which
    can take milliseconds on a busy machine: no sample's cost); with `glue`, a tiny layer
    after each group of samples (on the CPU when the samples go to the GPU: it ends each
    partition)."""
    lead = conv("glue_lead", 8, 16)
    nodes, inputs, outputs = list(lead.nodes), list(lead.inputs), list(lead.outputs)
    initializers = list(lead.initializers)
    if glue:
        inputs.append(_value(GLUE_INPUT, [1, 8]))
    for group in groups:
        for sample in group:
            nodes += sample.nodes
            inputs += sample.inputs
            outputs += sample.outputs
            initializers += sample.initializers
        if glue:
            name = f"glue_{group[0].name}"
            nodes.append(helper.make_node("Relu", [GLUE_INPUT], [name], name=name))
            outputs.append(_value(name, [1, 8]))
    graph = helper.make_graph(nodes, "cost_profile", inputs, outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def owner(layer: str, parts: list[Sample]) -> Sample | None:
    """The sample a layer of the profiling model belongs to (None: the glue)."""
    return next((s for s in parts if layer.startswith(f"{s.name}_")), None)


def layer_work(graph: Graph, layers: list[str]) -> tuple[int, int, list[str]]:
    """The MACs of `layers` (a pool's: its window reads), the bytes they read and write
    (inputs, weights and outputs) and the tensors that enter or leave them from other
    layers (not constants)."""
    nodes = [graph.node(name) for name in layers]
    made = {t for n in nodes for t in n.outputs}
    read = {t for n in nodes for t in n.inputs if t}
    macs = sum(layer_macs(graph, n) + pool_ops(graph, n) for n in nodes)
    nbytes = sum(_nbytes(graph, t) for t in read | made)
    crossing = [t for t in read if t not in made and not graph.is_constant(t)]
    crossing += [t for t in made if t in graph.outputs or t not in read]
    return macs, nbytes, crossing


def _nbytes(graph: Graph, tensor: str) -> int:
    spec = graph.spec(tensor)
    return int(spec.nbytes)


@dataclass
class ProcessorProfile:
    processor: str
    fits: dict[str, ClassFit]
    link: LinkFit | None
    measurements: list[Measurement]
    seconds: float  # building and running


def measure(
    target: Target,
    processor: str,
    parts: list[Sample],
    repeats: int,
    bench: int,
    threads: int | None,
    workdir: str,
    log: Log,
) -> list[Measurement]:
    """Build the samples' model for `processor` with profiling, run it `repeats` times
    (`bench` timed runs each) and return the median time of each sample's call (on the
    GPU: of each partition's, `partition_groups`) with its work."""
    from deepxc.pipeline import build_model, frontend
    from deepxc.runner import profile_bundle

    on_gpu = processor != "cpu"
    groups = [[sample] for sample in parts]
    if on_gpu:  # a first partition wakes the device's threads: not measured
        groups = [[SMALL["elementwise"](WARM_UP)]] + partition_groups(parts)
    everything = [sample for group in groups for sample in group]
    group_of = {sample.name: index for index, group in enumerate(groups) for sample in group}
    model = profiling_model(groups, glue=on_gpu)
    graph = frontend(model, log=lambda _: None)
    place = None
    if on_gpu:
        layers = [n.name for n in graph.nodes() if owner(n.name, everything)]
        place = ",".join(f"{name}={processor}" for name in layers)
    bundle = os.path.join(workdir, processor)
    log(f"profile: building {len(everything)} samples for the {processor} of {target.name}")
    manifest = build_model(
        model,
        target,
        bundle,
        log=lambda _: None,
        name=f"cost_profile_{processor}",
        threads=threads,
        profile=True,
        place=place,
    )
    partitions = {  # the GPU partitions' calls, by function name
        p["function"]: p for p in manifest.get("partitions", []) if p["processor"] != "cpu"
    }
    times: dict[int, list[float]] = {}
    calls_of: dict[int, list[dict]] = {}
    for run in range(repeats):
        log(f"profile: running the {processor} samples ({run + 1}/{repeats})")
        try:
            _, _, calls = profile_bundle(bundle, bench=bench)
        except RunError as error:
            if on_gpu and "no GPU" in str(error):
                raise RunError(
                    f"target {target.name}: no {_api(target)} device was found on this machine "
                    f"(the profiling bundle's runtime says: {str(error).split(': ', 2)[-1]})"
                ) from None
            raise
        per_group: dict[int, float] = {}
        for call in calls:
            sample = next(
                filter(None, (owner(layer, everything) for layer in call["layers"])), None
            )
            runs_on = (
                partitions[call["kernel"]]["processor"] if call["kernel"] in partitions else "cpu"
            )
            if sample is None or runs_on != processor:
                continue
            group = group_of[sample.name]
            per_group[group] = per_group.get(group, 0.0) + call["ms"] * 1e-3
            if run == 0:
                calls_of.setdefault(group, []).append(call)
        for group, seconds in per_group.items():
            times.setdefault(group, []).append(seconds)
    measurements = []
    for index, group in enumerate(groups):
        if index not in times or group[0].name == WARM_UP:
            continue  # fused away or not timed: nothing to learn from it
        layers = [n.name for n in graph.nodes() if owner(n.name, group)]
        macs, nbytes, crossing = layer_work(graph, layers)
        calls = calls_of[index]
        if on_gpu:  # a partition's calls: its launch and the wait for it
            functions = dict.fromkeys(c["kernel"] for c in calls)
            kernels = sum(partitions[f].get("launches", 1) for f in functions)
            transfer_bytes = sum(_nbytes(graph, t) for t in crossing)
            count = len(functions)
        else:
            kernels, count, transfer_bytes = len(calls), 0, 0
        median = float(np.median(times[index]))
        if median <= 0:
            continue
        measurements.append(
            Measurement(group[0].kind, macs, nbytes, median, kernels, count, transfer_bytes)
        )
    return measurements


def _api(target: Target) -> str:
    api = (target.gpu.api if target.gpu is not None else "") or "GPU"
    return {"cuda": "CUDA", "opencl": "OpenCL"}.get(api, api)


def profile_target(
    target_name: str,
    threads: int | None = None,
    quick: bool = False,
    log: Log = print,
) -> tuple[Target, list[ProcessorProfile]]:
    """Measure and fit every processor of the target (the GPU first: a missing device
    fails before the long CPU run)."""
    target = load_target(target_name)
    processors = [p.name for p in target.processors]
    if "cpu" not in processors:
        raise TargetError(f"target {target.name} has no cpu processor to profile from")
    emulator = target.runner or (target.gpu and target.dynamically_linked().runner)
    if emulator:
        raise TargetError(
            f"target {target.name}: its bundles run under {emulator[0]} here, and emulated "
            "times are no costs: profile on the device itself (with a deepxc install there)"
        )
    order = [p for p in processors if p != "cpu"] + ["cpu"]
    parts = samples(quick)
    repeats, bench = (5, 2) if quick else (9, 10)
    profiles = []
    with tempfile.TemporaryDirectory(prefix="deepxc-profile-") as workdir:
        for processor in order:
            started = time.monotonic()
            measured = measure(target, processor, parts, repeats, bench, threads, workdir, log)
            fits, link = fit_costs(measured)
            profiles.append(
                ProcessorProfile(processor, fits, link, measured, time.monotonic() - started)
            )
    profiles.sort(key=lambda p: processors.index(p.processor))
    return target, profiles


def machine_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or the platform's description."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def default_costs_path(target: str) -> str:
    """$XDG_CACHE_HOME/deepxc/costs/<target>.toml (~/.cache/... without XDG_CACHE_HOME)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "deepxc", "costs", f"{target}.toml")


def costs_toml(target: Target, profiles: list[ProcessorProfile], threads: int | None) -> str:
    """The costs file: the target, the machine, when, then each processor's constants per
    kernel class and the links fitted."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    lines = [
        f"target = {_string(target.name)}",
        f"machine = {_string(machine_name())}",
        f"measured = {_string(now.isoformat())}",
        f"# CPU kernels on {threads or target.cpu_cores} threads",
    ]
    for profile in profiles:
        for kind in KINDS:
            fit = profile.fits.get(kind)
            if fit is None:
                continue
            lines += [
                "",
                f"[{profile.processor}.cost.{kind}]",
                f"gmacs_per_s = {_number(fit.gmacs_per_s)}",
                f"gbytes_per_s = {_number(fit.gbytes_per_s)}",
                f"launch_us = {_number(fit.launch_us)}",
                f"rms_rel_error = {_number(fit.rms_rel_error)}",
                f"samples = {fit.samples}",
            ]
    for profile in profiles:
        if profile.link is not None:
            lines += [
                "",
                f"[links.cpu-{profile.processor}]",
                f"latency_us = {_number(profile.link.latency_us)}"
                "  # each way: half a partition's own overhead",
                f"gbytes_per_s = {_number(profile.link.gbytes_per_s)}"
                if profile.link.gbytes_per_s
                else f"gbytes_per_s = {_number(FREE_LINK_GBYTES_PER_S)}  # no per-byte cost seen",
            ]
    return "\n".join(lines) + "\n"


def _string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _number(value: float) -> str:
    return repr(float(f"{float(value):.6g}"))  # a TOML float: 12.5, 0.0, 1e-05


def table_lines(profiles: list[ProcessorProfile]) -> list[str]:
    """The fitted constants, a line per processor and class (and link)."""
    lines = [
        f"{'class':12} {'processor':9} {'GMAC/s':>9} {'GB/s':>9} {'launch us':>10} "
        f"{'rms err':>8} {'samples':>7}"
    ]
    for profile in profiles:
        for kind in KINDS:
            fit = profile.fits.get(kind)
            if fit is not None:
                lines.append(
                    f"{kind:12} {profile.processor:9} {fit.gmacs_per_s:9.2f} "
                    f"{fit.gbytes_per_s:9.2f} {fit.launch_us:10.1f} {fit.rms_rel_error:8.1%} "
                    f"{fit.samples:7d}"
                )
    for profile in profiles:
        if profile.link is not None:
            link = profile.link
            lines.append(
                f"{'link':12} {'cpu-' + profile.processor:9} {'':9} {link.gbytes_per_s:9.2f} "
                f"{link.latency_us:10.1f}"
            )
    return lines
