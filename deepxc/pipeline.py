"""The compiler, stage by stage. Adding a pass is adding a line to a list."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable

import onnx

from deepxc.emit.bundle import prepare_output_dir, write_bundle
from deepxc.ingest.passes import PASSES
from deepxc.ingest.reader import import_model, load_onnx
from deepxc.ir import Graph, verify
from deepxc.ir.dump import dump_graph
from deepxc.ir.stats import model_summary
from deepxc.lower.partition import lower_partition
from deepxc.targets import Target, load_target

Log = Callable[[str], None]


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


def build(
    model_path: str,
    target_name: str,
    out_dir: str,
    input_shapes=None,
    log: Log = print,
    threads: int | None = None,
    embed_weights: bool = False,
    profile: bool = False,
) -> dict:
    """`deepxc build`: ONNX file -> compiled bundle directory. Returns the manifest."""
    target = load_target(target_name)  # an unknown target fails before any work
    log(f"ingest: {model_path}")
    model = load_onnx(model_path)
    name = os.path.splitext(os.path.basename(model_path))[0]
    return build_model(
        model, target, out_dir, input_shapes, log, name, threads, embed_weights, profile
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
) -> dict:
    """Compile an in-memory ONNX model into a bundle directory. Returns the manifest.
    `threads` defaults to the target CPU's core count; `embed_weights` links the weights
    blob into libmodel.a as a const array; `profile` times every kernel call."""
    if isinstance(target, str):
        target = load_target(target)
    threads = threads or target.cpu_cores
    started = time.monotonic()
    prepare_output_dir(out_dir)
    graph = frontend(model, input_shapes, log)
    summary = model_summary(graph)
    totals = summary["totals"]
    log(f"ir: {len(graph.dag)} layers, {totals['macs']:,} MACs, {totals['params']:,} parameters")
    with tempfile.TemporaryDirectory(prefix="deepxc-") as workdir:
        partition = lower_partition(graph, target, workdir, threads, log=log)
        log(f"emit: bundle in {out_dir}")
        manifest = write_bundle(
            out_dir,
            partition,
            target,
            name or graph.name,
            graph.outputs,
            summary,
            embed_weights,
            profile,
        )
    sizes = manifest["sizes"]
    log(
        f"done in {time.monotonic() - started:.1f} s: code {sizes['code_bytes']:,} B, "
        f"weights {sizes['weights_bytes']:,} B, arena {sizes['arena_bytes']:,} B"
    )
    return manifest


def _maybe_dump(graph: Graph, stage: str, log: Log) -> None:
    if debug_level() >= 2:
        log(f"--- IR after {stage} ---\n{dump_graph(graph)}")
