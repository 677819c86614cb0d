"""The compiler, stage by stage. Adding a pass is adding a line to a list."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Callable

import onnx

from deepxc.dad.apply_plan import apply_plan
from deepxc.dad.costs import load_costs
from deepxc.dad.network import network_profile
from deepxc.dad.plan_file import graph_fingerprint, plan_dict, read_plan
from deepxc.dad.planner import DecompositionPlan, PlanRequest, plan_graph
from deepxc.dad.problem import PlanError
from deepxc.emit.bundle import prepare_output_dir, staged_bundle_dir, write_bundle
from deepxc.emit.remote_context import DEFAULT_TIMEOUT_MS, wire_name
from deepxc.emit.symbols import bundle_names
from deepxc.emit.toolchain import build_spec, check_tools
from deepxc.ingest.passes import PASSES
from deepxc.ingest.reader import import_model, load_onnx
from deepxc.ir import Graph, verify
from deepxc.ir.dump import dump_graph
from deepxc.ir.order import in_order
from deepxc.ir.placement import (
    PlacementError,
    carry_placement,
    default_processor,
    parse_place,
)
from deepxc.ir.placement import (
    partitions as placement_runs,
)
from deepxc.ir.stats import model_summary
from deepxc.lower import tvm_version
from deepxc.lower.partition import lower_partition
from deepxc.lower.placed import lower_placed, settle_placement
from deepxc.provenance import ModelOrigin, build_provenance, file_sha256
from deepxc.remote_url import check_remote_url
from deepxc.targets import Target, load_target

Log = Callable[[str], None]
MAX_THREADS = 64  # threads a bundle may be built for


def debug_level() -> int:
    try:
        return int(os.environ.get("DEEPXC_DEBUG", "0"))
    except ValueError:
        return 0


def frontend(model: onnx.ModelProto, input_shapes=None, log: Log = print) -> Graph:
    """ONNX -> verified, simplified IR."""
    graph = import_model(model, input_shapes)
    verify(graph, after="ingest")
    _maybe_dump(graph, "ingest", log)
    for name, run in PASSES:
        graph = run(graph)
        verify(graph, after=name)  # cheap next to lowering; a broken pass fails here
        _maybe_dump(graph, name, log)
    return graph


def compress(
    graph: Graph,
    budgets: list,
    calibration: str | None,
    target: Target,
    log: Log = print,
    progress: Log | None = None,
):
    """RLC: one graph per run-time level, and the plan that chose them, its weights counted
    as `target`'s bundle stores them. The plan goes to `log`, and a line per layer as it is
    measured to `progress` (default: `log`)."""
    from deepxc.rlc.calibration import load_calibration, random_calibration
    from deepxc.rlc.plan import count_blob, level_graphs, plan_levels
    from deepxc.rlc.report import plan_lines

    if calibration:
        examples = load_calibration(calibration, graph)
    else:
        examples = random_calibration(graph)
        log(
            f"rlc: no --calibration: measuring on {examples.count} random inputs, "
            "agreement with the uncompressed model only"
        )
    blob = blob_layout(target)
    plan = plan_levels(graph, budgets, examples, progress or log, blob)
    if not plan.profiles:
        log("rlc: no layer to factor: no dense or 2-D convolution layer saves at any rank")
    graphs = level_graphs(graph, plan)
    for index, level_graph in enumerate(graphs):
        verify(level_graph, after=f"rlc level {index}")
    count_blob(plan, graphs, blob)
    for line in plan_lines(plan):
        log(line)
    return graphs, plan


def blob_layout(target: Target):
    """How `target`'s bundle stores weights (`deepxc.rlc.blob_bytes.BlobLayout`): each in
    its kernel's packed layout (as the lowering lays it out), 64-byte aligned, after the
    blob's header."""
    from deepxc.emit.memory_plan import align
    from deepxc.emit.weights import HEADER_BYTES
    from deepxc.lower.weight_bytes import weight_bytes
    from deepxc.rlc.blob_bytes import BlobLayout

    def sizes(graph: Graph) -> dict[str, tuple[int, int]]:
        laid_out = weight_bytes(graph, target.core)
        return {name: (align(stored), align(read)) for name, (stored, read) in laid_out.items()}

    return BlobLayout(sizes, HEADER_BYTES)


def rlc_level_info(plan) -> list[dict]:
    """Each level's RLC report, for its entry in manifest.json."""
    from deepxc.rlc.report import level_dict

    return [{"rlc": level_dict(plan, index)} for index in range(len(plan.levels))]


def build(
    model_path: str,
    target_name: str,
    out_dir: str,
    input_shapes=None,
    log: Log = print,
    threads: int | None = None,
    embed_weights: bool = False,
    profile: bool = False,
    budgets: list | None = None,
    calibration: str | None = None,
    api_name: str | None = None,
    emit_only: bool = False,
    command_line: list[str] | None = None,
    place: str | None = None,
    plan: str | None = None,
    plan_request: PlanRequest | None = None,
    remote: str | None = None,
    remote_timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> dict:
    """`deepxc build`: ONNX file -> compiled bundle directory. Returns the manifest.
    `target_name` is a known target's name or a target file's path; `command_line` (the
    CLI's sys.argv) is recorded in the manifest's provenance."""
    target = load_target(target_name)  # an unknown target fails before any work
    bundle_names(api_name)  # so does a bad --name
    log(f"ingest: {model_path}")
    model = load_onnx(model_path)
    name = os.path.splitext(os.path.basename(model_path))[0]
    return build_model(
        model,
        target,
        out_dir,
        input_shapes,
        log,
        name,
        threads,
        embed_weights,
        profile,
        budgets,
        calibration,
        api_name,
        emit_only,
        place=place,
        plan=plan,
        plan_request=plan_request,
        remote=remote,
        remote_timeout_ms=remote_timeout_ms,
        origin=ModelOrigin(
            model_path, file_sha256(model_path), command_line, "deepxc.pipeline.build"
        ),
    )


def build_model(
    model: onnx.ModelProto,
    target: Target | str,
    out_dir: str,
    input_shapes=None,
    log: Log = print,
    name: str | None = None,
    threads: int | None = None,
    embed_weights: bool = False,
    profile: bool = False,
    budgets: list | None = None,
    calibration: str | None = None,
    api_name: str | None = None,
    emit_only: bool = False,
    origin: ModelOrigin | None = None,
    place: str | None = None,
    plan: str | None = None,
    plan_request: PlanRequest | None = None,
    remote: str | None = None,
    remote_timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> dict:
    """Compile an in-memory ONNX model into a bundle directory. Returns the manifest.
    `threads` defaults to the target CPU's core count (at most MAX_THREADS);
    `embed_weights` links the weights blob into libmodel.a as a const array; `profile` times
    every kernel call. `budgets` (`deepxc.rlc.plan.Budget`, one per run-time level) asks for
    RLC, measured on the examples in the `calibration` .npz (random inputs without it).
    `api_name` prefixes every external C name of the bundle (`kws_init`, ...; default
    `deepx_`). `emit_only` writes the bundle's sources and build files without running the
    C toolchain. `origin` says where the model came from (default: this call, on the
    serialized model). `place` puts layers on the target's processors (`--place`: "gpu",
    or "LAYER=gpu,LAYER=cpu,..."; default: all on the CPU). `plan` places them by a
    decomposition plan instead: "auto" plans each level now (`plan_request` says how),
    else it names a plan file (`deepxc plan -o`), made for this model. Layers placed on
    "remote" are sent to the KServe v2 server `remote` names ("http://host:port"; none:
    the bundle computes them locally until DEEPX_REMOTE names one), with their local
    fallback compiled in; `remote_timeout_ms` bounds each call."""
    if remote:
        check_remote_url(remote)
    if remote_timeout_ms <= 0:
        raise PlanError(f"--remote-timeout-ms {remote_timeout_ms}: expected milliseconds > 0")
    if place and plan:
        raise PlanError("--place and --plan both place the layers: give one of them")
    if isinstance(target, str):
        target = load_target(target)
    names = bundle_names(api_name)
    options = {  # as given, for the provenance
        "target": target.name,
        "output": out_dir,
        "threads": threads,
        "name": api_name,
        "embed_weights": embed_weights,
        "profile": profile,
        "emit_only": emit_only,
        "input_shapes": input_shapes or None,
        "rlc_budgets": budgets or None,  # the CLI gives {} and [] for none
        "place": place or None,
        "plan": plan or None,
        "remote": remote or None,
        # what `--plan auto` was asked for (a plan file's choices are in the manifest)
        "plan_request": (
            dataclasses.asdict(plan_request or PlanRequest()) if plan == "auto" else None
        ),
    }
    threads = threads or min(target.cpu_cores, MAX_THREADS)
    if not emit_only:  # a missing compiler fails before any work
        check_tools(build_spec(target, [], threads > 1, embed_weights))
    started = time.monotonic()
    prepare_output_dir(out_dir)
    graph = frontend(model, input_shapes, log)
    placement = place_layers(graph, target, place, log) if place else None
    summary = model_summary(graph)
    totals = summary["totals"]
    log(f"ir: {len(graph.dag)} layers, {totals['macs']:,} MACs, {totals['params']:,} parameters")
    graphs, rlc = compress(graph, budgets, calibration, target, log) if budgets else ([graph], None)
    placed, decompositions = _placed_levels(
        graph, graphs, target, place, placement, plan, plan_request or PlanRequest(), log
    )
    if any(p and "gpu" in p.values() for _, p in placed):
        target = target.dynamically_linked()
    provenance = build_provenance(
        origin or ModelOrigin.in_memory(model.SerializeToString(), "deepxc.pipeline.build_model"),
        options,
        calibration,
        tvm_version(),
        native_code=target.tvm.get("mcpu") == "native",
    )
    built: dict = {}  # kernels compiled so far: a later level calls its twins
    with (
        tempfile.TemporaryDirectory(prefix="deepxc-") as workdir,
        staged_bundle_dir(out_dir) as staging,  # replaces out_dir once the bundle is complete
    ):
        partitions = []
        for index, (level_graph, level_placement) in enumerate(placed):
            common = {"log": log, "level": index, "built": built, "symbol_prefix": names.kernels}
            if level_placement is None:
                lowered = lower_partition(level_graph, target, workdir, threads, **common)
            else:
                first = sum(len(p.offloaded) + len(p.remote) for p in partitions)
                lowered = lower_placed(
                    level_graph,
                    target,
                    level_placement,
                    workdir,
                    threads,
                    first_partition=first,
                    model_name=wire_name(api_name or graph.name or name or "model"),
                    **common,
                )
            partitions.append(lowered)
        log(f"emit: bundle in {out_dir}")
        manifest = write_bundle(
            staging,
            partitions,
            target,
            name or graph.name,
            graph.outputs,
            [model_summary(level_graph) for level_graph in graphs],
            embed_weights,
            profile,
            _level_info(rlc, decompositions, len(graphs)),
            names,
            emit_only,
            provenance,
            remote or "",
            remote_timeout_ms,
        )
    if manifest["remote"] and not remote:
        log(
            "remote: no server named (--remote): the bundle computes the remote layers "
            "locally until DEEPX_REMOTE names one"
        )
    sizes = manifest["sizes"]
    code = "not compiled" if emit_only else f"code {sizes['code_bytes']:,} B"
    log(
        f"done in {time.monotonic() - started:.1f} s: {code}, "
        f"weights {sizes['weights_bytes']:,} B, arena {sizes['arena_bytes']:,} B"
    )
    if emit_only:
        log(f"emitted without compiling: build it with `make -C {out_dir}` (or its CMakeLists)")
    return manifest


def plan(
    model_path: str,
    target_name: str,
    request: PlanRequest,
    input_shapes=None,
    log: Log = print,
):
    """`deepxc plan`: the decomposition plan of an ONNX file on a target."""
    target = load_target(target_name)
    log(f"ingest: {model_path}")
    graph = frontend(load_onnx(model_path), input_shapes, log)
    return plan_graph_for(graph, target, request, log)


def plan_graph_for(graph: Graph, target: Target, request: PlanRequest, log: Log = print):
    """The plan of `graph` on `target` the request asks for (`deepxc.dad`)."""
    costs = load_costs(target, request.costs)
    network = request.network
    if isinstance(network, str):
        network = network_profile(network)
    return plan_graph(
        graph,
        costs,
        request.goal,
        graph_fingerprint(graph),
        network=network,
        slices=request.slices,
        time_limit_s=request.time_limit_s,
        log=log,
    )


def planned_layers(
    graph: Graph,
    target: Target,
    saved: DecompositionPlan | None,
    request: PlanRequest,
    log: Log = print,
):
    """`build --plan`: the plan (`saved`, read from a plan file; None: made now as
    `request` asks) applied to `graph`: the graph with its slices, each layer's
    processor, and the layers in the plan's order; and the plan."""
    decomposition = saved or plan_graph_for(graph, target, request, log)
    sliced, placement, order = apply_plan(graph, decomposition)
    if "gpu" in placement.values() and target.gpu is None:
        raise PlanError(f"the plan puts blocks on a GPU, and target {target.name} has none")
    placement = settle_placement(sliced, placement, log)
    log(
        f"plan: {len(decomposition.blocks)} blocks, predicted "
        f"{decomposition.latency_s * 1e3:.3f} ms ({decomposition.method}), on "
        + ", ".join(decomposition.processors())
    )
    return in_order(sliced, order), placement, decomposition


def _level_info(rlc, plans: dict, count: int) -> list[dict] | None:
    """Each level's entries of manifest.json beyond its kernels: its RLC report, and
    the decomposition plan it was built by (predicted times, to hold against a profile)."""
    if not rlc and not plans:
        return None
    info = rlc_level_info(rlc) if rlc else [{} for _ in range(count)]
    for index, decomposition in plans.items():
        info[index]["plan"] = plan_dict(decomposition)
    return info


def _placed_levels(
    graph: Graph,
    graphs: list[Graph],
    target: Target,
    place: str | None,
    placement: dict[str, str] | None,
    plan: str | None,
    request: PlanRequest,
    log: Log,
) -> tuple[list[tuple[Graph, dict[str, str] | None]], dict[int, DecompositionPlan]]:
    """Each level's graph as it is lowered (a plan may slice layers and order them) with
    its layers' processors (None: all on the CPU); and the plans made or read. `--place`
    carries to every level; `--plan auto` plans every level; a plan file (made for the
    model) applies to a level of the model's own graph and carries to compressed levels,
    a sliced layer following its first slice."""
    if place:
        default = default_processor(place)
        return [(g, carry_placement(g, placement, default)) for g in graphs], {}
    if not plan:
        return [(g, None) for g in graphs], {}
    processors = [p.name for p in target.processors] + ["remote"]
    saved = None if plan == "auto" else read_plan(plan, graph, processors, target.name)
    fingerprint = graph_fingerprint(graph)
    placed, plans = [], {}
    for index, level_graph in enumerate(graphs):
        if saved is None or graph_fingerprint(level_graph) == fingerprint:
            ordered, level_placement, decomposition = planned_layers(
                level_graph, target, saved, request, log
            )
            placed.append((ordered, level_placement))
            plans[index] = decomposition
        else:
            whole = saved.placement()
            for parts in saved.sliced().values():
                first = min(parts, key=lambda p: p.slice_index)
                whole.update(dict.fromkeys(first.layers, first.processor))
            carried = carry_placement(level_graph, whole, "cpu")
            placed.append((level_graph, settle_placement(level_graph, carried, log)))
    return placed, plans


def place_layers(graph: Graph, target: Target, place: str, log: Log = print) -> dict[str, str]:
    """`--place` on `graph`: a processor per layer, the layers the GPU cannot take moved
    back to the CPU (and said)."""
    processors = [p.name for p in target.processors] + ["remote"]
    placement = parse_place(place, graph, processors, f"target {target.name}")
    if "gpu" in placement.values() and target.gpu is None:
        raise PlacementError(f"--place {place}: target {target.name} has no GPU")
    placement = settle_placement(graph, placement, log)
    counts = {p: sum(1 for v in placement.values() if v == p) for p in processors}
    runs = placement_runs(graph, placement)
    log(
        "place: "
        + ", ".join(f"{n} layers on the {p}" for p, n in counts.items() if n)
        + f" ({len(runs)} partitions)"
    )
    return placement


def _maybe_dump(graph: Graph, stage: str, log: Log) -> None:
    if debug_level() >= 2:
        log(f"--- IR after {stage} ---\n{dump_graph(graph)}")
