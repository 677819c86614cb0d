"""Write a bundle directory: runtime sources, weights blob, build files, manifest."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jinja2

from deepxc.artifacts import KernelCall, LoweredPartition
from deepxc.emit.context import BundleContext, LevelContext, build_context
from deepxc.emit.gpu_context import gpu_partitions
from deepxc.emit.memory_plan import MemoryPlan, plan_memory, plan_record
from deepxc.emit.remote_context import DEFAULT_TIMEOUT_MS, onnx_file, remote_record
from deepxc.emit.replace_dir import make_staging_dir, replace_dir, staging_parent
from deepxc.emit.symbols import BundleNames, bundle_names
from deepxc.emit.toolchain import (
    BuildSpec,
    build_spec,
    check_tools,
    code_bytes,
    compile_runtime,
    link_bundle,
    redefine_options,
    rename_symbols,
    runtime_objects,
)
from deepxc.emit.weights import HEADER_BYTES, merge_weights, pack_weights, read_bytes
from deepxc.errors import BundleError
from deepxc.targets import Target

TEMPLATES_DIR = Path(
    os.environ.get("DEEPXC_TEMPLATES_DIR", Path(__file__).resolve().parents[1] / "templates")
)
BUNDLE_FORMAT = "deepxc-bundle-1"
RENDERED = ["model.h", "model.c", "main.c", "Makefile", "CMakeLists.txt"]


# What a bundle held before its manifest listed its files ("files"): all deepxc's own.
UNLISTED_BUNDLE_FILES = [*RENDERED, "parallel.c", "weights.S", "weights.bin", "*.o"]
UNLISTED_BUNDLE_FILES += ["libmodel.a", "model", "manifest.json"]


def prepare_output_dir(path: str) -> str:
    """Check that a bundle can replace `path`, before any work; return the real path
    (symlinks resolved: a bundle is built beside the directory a symlink names).

    The path must be new, an empty directory or an earlier bundle holding only the files
    deepxc wrote (the bundle is replaced as a whole): user files are never deleted."""
    if not path:
        raise BundleError("-o '': the bundle directory must be a path")
    final = os.path.realpath(path)
    if os.path.exists(final) and not os.path.isdir(final):
        raise BundleError(f"{path}: exists and is not a directory")
    if os.path.isdir(final):
        if os.path.commonpath([os.getcwd(), final]) == final:
            raise BundleError(
                f"{path}: is the current directory or holds it, and a build replaces the "
                "bundle directory as a whole: run deepxc from outside it"
            )
        try:
            entries = os.listdir(final)
        except OSError as error:
            raise BundleError(f"{path}: cannot read the directory ({error.strerror})") from None
        manifest = read_manifest(final, quiet=True) if entries else {}
        if manifest is None:
            raise BundleError(
                f"{path}: directory exists, is not empty and is not a deepxc bundle; "
                "choose another -o or remove it yourself"
            )
        owned = manifest.get("files", UNLISTED_BUNDLE_FILES) + manifest.get("make_outputs", [])
        foreign = sorted(e for e in entries if not any(fnmatch.fnmatch(e, p) for p in owned))
        if foreign:
            raise BundleError(
                f"{path}: the bundle holds '{foreign[0]}', which deepxc did not write; a "
                "rebuild replaces the whole directory: move it out or choose another -o"
            )
    try:  # the build's first step: a new directory beside the bundle
        os.rmdir(make_staging_dir(final))
    except OSError as error:
        where = staging_parent(final)
        raise BundleError(
            f"{path}: cannot create a directory in {where} ({error.strerror})"
        ) from None
    return final


@contextmanager
def staged_bundle_dir(path: str) -> Iterator[str]:
    """A new directory to write the bundle into; it replaces `path` when the block ends
    without an error, and is removed otherwise, leaving `path` as it was."""
    final = prepare_output_dir(path)
    try:
        staging = make_staging_dir(final)
    except OSError as error:
        raise BundleError(f"{path}: cannot create a directory beside it ({error})") from None
    try:
        yield staging
        try:
            replace_dir(staging, final)
        except OSError as error:
            raise BundleError(f"{path}: cannot put the new bundle in place ({error})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def is_bundle(path: str) -> bool:
    return read_manifest(path, quiet=True) is not None


def read_manifest(path: str, quiet: bool = False) -> dict | None:
    manifest = os.path.join(path, "manifest.json")
    try:
        with open(manifest) as file:
            data = json.load(file)
        if data.get("format") == BUNDLE_FORMAT:
            return data
    except (OSError, ValueError, AttributeError):
        pass
    if quiet:
        return None
    raise BundleError(f"{path}: not a deepxc bundle (no valid manifest.json)")


def write_bundle(
    directory: str,
    levels: list[LoweredPartition],
    target: Target,
    model_name: str,
    model_outputs: list[str],
    summaries: list[dict],
    embed_weights: bool = False,
    profile: bool = False,
    level_info: list[dict] | None = None,
    names: BundleNames | None = None,
    emit_only: bool = False,
    provenance: dict | None = None,
    remote_url: str = "",
    remote_timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> dict:
    """Render and compile the bundle; return the manifest written.

    `levels` are the runtime compression levels, level 0 first,
    each lowered with `lower_partition(..., level=k)`; a single-level bundle is `[partition]`.
    They share one weights blob and one arena. `summaries` holds each level's per-layer
    table (`deepxc.ir.stats.model_summary` of its graph); `level_info`, if given, adds
    entries to each level's record in the manifest. `names` gives the bundle's C names
    (`bundle_names(--name)`); the kernels must have been lowered with its kernel prefix.
    `provenance` (`deepxc.provenance.build_provenance`) is recorded as it is.
    `remote_url` names the server of the remote partitions (`--remote`; "": none until
    DEEPX_REMOTE or deepx_set_remote says) and `remote_timeout_ms` how long a call may take.

    `emit_only` writes the sources and build files without running the C toolchain: the
    bundle's Makefile or CMakeLists.txt then also renames the kernels' symbols, and the code
    size is not measured.

    `directory` is created if missing; a build writes into a new one from
    `staged_bundle_dir`, so that the manifest's file list is exactly what deepxc wrote."""
    names = names or bundle_names()
    _check_levels(levels, summaries, level_info)
    os.makedirs(directory, exist_ok=True)
    plans = [plan_memory(partition) for partition in levels]
    gpu_weights = [part.weights for part in gpu_partitions(levels).values()]
    blob, offsets = pack_weights(
        merge_weights([partition.weights for partition in levels] + gpu_weights)
    )
    checksum = int.from_bytes(blob[16:24], "little")
    ctx = build_context(
        levels,
        plans,
        offsets,
        len(blob),
        checksum,
        model_name,
        target.name,
        model_outputs,
        summaries,
        level_info,
        remote_url,
        remote_timeout_ms,
    )
    ctx.embed_weights = embed_weights
    ctx.profile = profile
    ctx.api, ctx.macro, ctx.backend = names.api, names.macro, names.backend
    ctx.library, ctx.driver, ctx.driver_option = names.library, names.driver, names.driver_option
    compiled = [partition.object_path for partition in levels if partition.object_path]
    compiled += [
        part.fallback_object
        for partition in levels
        for part in partition.remote.values()
        if part.fallback_object
    ]
    kernel_objects = [os.path.basename(path) for path in compiled]
    threaded = ctx.multithreaded or ctx.remote is not None  # a remote call's thread
    spec = build_spec(target, kernel_objects, threaded, embed_weights)
    for path, name in zip(compiled, kernel_objects):
        shutil.copyfile(path, os.path.join(directory, name))
    if emit_only:
        spec.symbol_renames = redefine_options(names.backend_renames())
        ctx.code_bytes = None
    else:
        check_tools(spec)
        rename_symbols(directory, spec, names.backend_renames())
    Path(directory, "weights.bin").write_bytes(blob)
    sources = {symbol: part.source for symbol, part in gpu_partitions(levels).items()}
    for part in ctx.gpu.partitions if ctx.gpu else []:
        Path(directory, part.file).write_text(sources[part.symbol])
    for partition in levels:
        for part in partition.remote.values():
            path = Path(directory, onnx_file(part.model))
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(part.onnx)
    rendered = RENDERED + [s for s in spec.runtime_sources if s != "model.c"]
    _render(directory, rendered, ctx, spec)
    if not emit_only:
        objects = compile_runtime(directory, spec)
        ctx.code_bytes = code_bytes(directory, spec, objects)
        _render(directory, ["model.h"], ctx, spec)  # now with the measured code size
        link_bundle(directory, spec, objects)
    base = levels[0]
    summary = summaries[0]
    manifest = {
        "format": BUNDLE_FORMAT,
        "deepxc_version": ctx.version,
        "model": model_name,
        "name": names.api,
        "target": target.name,
        "target_description": target.description,
        "target_file": target.file or None,
        "runner": target.runner,
        "toolchain": {"cc": spec.cc, "cflags": spec.cflags, "ldflags": spec.ldflags},
        "inputs": [_io(base, n, n) for n in base.inputs],
        "outputs": [_io(base, n, b) for n, b in zip(model_outputs, base.outputs)],
        "sizes": {
            "code_bytes": ctx.code_bytes,
            "arena_bytes": ctx.arena_bytes,
            "workspace_bytes": max(plan.workspace_bytes for plan in plans),
            "weights_bytes": len(blob),
            "weights_header_bytes": HEADER_BYTES,
            "gpu_arena_bytes": ctx.gpu.arena_bytes if ctx.gpu else 0,
        },
        "weights_checksum": f"{checksum:016x}",
        "compiled": not emit_only,
        "threads": base.threads,
        "weights_embedded": embed_weights,
        "profile": profile,
        "partitions": [
            {"processor": base.processor, "kernels": sum(len(p.kernels) for p in levels)},
            *_gpu_records(levels, ctx),
        ],
        "totals": summary["totals"],
        "layers": summary["layers"],
        "kernel_calls": _kernel_calls(base),
        "gpu_launch_profile": _launch_profile(ctx, ctx.levels[0]),
        "remote": remote_record(levels, ctx.remote),
        "levels": [
            {
                **_level_record(partition, plan, level_summary, info),
                "gpu_launch_profile": _launch_profile(ctx, level),
            }
            for partition, plan, level_summary, info, level in zip(
                levels, plans, summaries, level_info or [{}] * len(levels), ctx.levels
            )
        ],
        "files": sorted([*os.listdir(directory), "manifest.json"]),
        "make_outputs": _make_outputs(spec) if emit_only else [],
        "provenance": provenance,
    }
    Path(directory, "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _gpu_records(levels: list[LoweredPartition], ctx: BundleContext) -> list[dict]:
    """Each GPU partition: the level and layers it computes, its kernels' API and source
    file, its launches and the device memory of its own buffers (weights, inputs,
    outputs; the tensors between its kernels lie in the device arena)."""
    parts = gpu_partitions(levels)
    return [
        {
            "processor": "gpu",
            "api": ctx.gpu.api,
            "function": part.symbol,
            "level": part.level,
            "layers": parts[part.symbol].layers,
            "source": part.file,
            "launches": len(part.launches),
            "device_bytes": part.device_bytes,
        }
        for part in (ctx.gpu.partitions if ctx.gpu else [])
    ]


def _make_outputs(spec: BuildSpec) -> list[str]:
    """What `make` writes into an emitted bundle (deepxc's own files, replaced by a rebuild)."""
    return sorted([*runtime_objects(spec), "main.o", "libmodel.a", "model"])


def _check_levels(
    levels: list[LoweredPartition], summaries: list[dict], level_info: list[dict] | None
) -> None:
    """Levels are numbered 0, 1, ... in list order and all take the same inputs, give the
    same outputs and run on as many threads: the runtime swaps one for another."""
    if not levels or len(summaries) != len(levels):
        raise BundleError(f"{len(levels)} levels but {len(summaries)} summaries")
    if level_info is not None and len(level_info) != len(levels):
        raise BundleError(f"{len(levels)} levels but {len(level_info)} level_info entries")
    expected = _interface(levels[0])
    for index, partition in enumerate(levels):
        if partition.level != index:
            raise BundleError(
                f"level {index} was lowered as level {partition.level} "
                f"(lower it with lower_partition(..., level={index}))"
            )
        if _interface(partition) != expected:
            raise BundleError(f"level {index} differs from level 0 in inputs, outputs or threads")


def _interface(partition: LoweredPartition) -> tuple:
    specs = [partition.buffers[name].spec for name in partition.inputs + partition.outputs]
    return partition.inputs, specs, partition.threads, partition.processor


def _kernel_calls(partition: LoweredPartition) -> list[dict]:
    """The calls in order; `step` tells a CPU kernel ("kernel") from the start of a
    partition on another processor ("launch"), the wait for it ("wait") and a remote
    partition's call ("remote"), whose local fallback's kernels say `fallback_of`."""
    return [
        {"kernel": c.kernel, "layers": c.layers, "args": c.args, "step": _step(c)}
        | ({"fallback_of": c.fallback_of} if c.fallback_of else {})
        for c in partition.calls
    ]


def _launch_profile(ctx: BundleContext, level: LevelContext) -> list[dict]:
    """Where a profiling build times each launch of the level's GPU partitions: its line
    among the level's profile lines (after one per call), its partition, kernel and layers."""
    rows = []
    for part in ctx.gpu.partitions if ctx.gpu else []:
        if part.level != level.index:
            continue
        for offset, launch in enumerate(part.launches):
            slot = part.profile_slot - level.profile_first + offset
            rows.append(
                {
                    "slot": slot,
                    "partition": part.symbol,
                    "kernel": launch.kernel,
                    "layers": launch.layers,
                }
            )
    return rows


def _step(call: KernelCall) -> str:
    if call.processor == "cpu":
        return "kernel"
    if call.wait:
        return "wait"
    return "remote" if call.processor == "remote" else "launch"


def _level_record(partition: LoweredPartition, plan: MemoryPlan, summary: dict, info: dict) -> dict:
    """A level's entry in the manifest: its cost, the weight bytes it reads of the blob,
    its calls, the arena it needs."""
    return {
        "level": partition.level,
        "macs": summary["totals"]["macs"],
        "params": summary["totals"]["params"],
        "weight_bytes": read_bytes(partition.weights, partition.weight_reads),
        "kernel_calls": _kernel_calls(partition),
        "arena_bytes": plan.arena_bytes,
        "workspace_bytes": plan.workspace_bytes,
        "arena_plan": plan_record(plan),
        **info,
    }


def _render(directory: str, names: list[str], ctx: BundleContext, spec: BuildSpec) -> None:
    missing = [n for n in names if not (TEMPLATES_DIR / f"{n}.j2").is_file()]
    if missing:
        raise BundleError(
            f"template {missing[0]}.j2 missing from {TEMPLATES_DIR}: the installation is "
            "incomplete, reinstall deepxc or fix DEEPXC_TEMPLATES_DIR"
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    for name in names:
        text = env.get_template(f"{name}.j2").render(ctx=ctx, build=spec)
        Path(directory, name).write_text(text)


def _io(partition: LoweredPartition, name: str, buffer: str) -> dict:
    spec = partition.buffers[buffer].spec
    return {"name": name, "shape": list(spec.shape), "dtype": spec.dtype}
