"""Write a bundle directory: runtime sources, weights blob, build files, manifest."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jinja2

from deepxc.artifacts import LoweredPartition
from deepxc.emit.context import BundleContext, LayerRow, build_context
from deepxc.emit.memory_plan import plan_memory
from deepxc.emit.toolchain import BuildSpec, build_spec, code_bytes, compile_runtime, link_bundle
from deepxc.emit.weights import pack_weights
from deepxc.errors import BundleError
from deepxc.targets import Target

TEMPLATES_DIR = Path(
    os.environ.get("DEEPXC_TEMPLATES_DIR", Path(__file__).resolve().parents[2] / "templates")
)
BUNDLE_FORMAT = "deepxc-bundle-1"
RENDERED = ["model.h", "model.c", "main.c", "Makefile", "CMakeLists.txt"]


def prepare_output_dir(path: str) -> None:
    """Create `path`, or accept it if it is empty or an earlier bundle; never delete user files."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise BundleError(f"{path}: exists and is not a directory")
    if os.path.isdir(path) and os.listdir(path) and not is_bundle(path):
        raise BundleError(
            f"{path}: directory exists, is not empty and is not a deepxc bundle; "
            "choose another -o or remove it yourself"
        )
    os.makedirs(path, exist_ok=True)


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
    partition: LoweredPartition,
    target: Target,
    model_name: str,
    model_outputs: list[str],
    summary: dict,
    embed_weights: bool = False,
    profile: bool = False,
) -> dict:
    """Render and compile the bundle; return the manifest written. `summary` is the
    per-layer table of `deepxc.ir.stats.model_summary`."""
    plan = plan_memory(partition)
    blob, offsets = pack_weights(partition.weights)
    checksum = int.from_bytes(blob[16:24], "little")
    ctx = build_context(
        partition, plan, offsets, len(blob), checksum, model_name, target.name, model_outputs
    )
    ctx.embed_weights = embed_weights
    ctx.profile = profile
    ctx.layers = [LayerRow(row["name"], row["op"], row["macs"]) for row in summary["layers"]]
    ctx.total_macs = summary["totals"]["macs"]
    kernel_object = os.path.basename(partition.object_path)
    shutil.copyfile(partition.object_path, os.path.join(directory, kernel_object))
    spec = build_spec(target, [kernel_object], ctx.multithreaded, embed_weights)
    Path(directory, "weights.bin").write_bytes(blob)
    rendered = RENDERED + [s for s in spec.runtime_sources if s != "model.c"]
    _render(directory, rendered, ctx, spec)
    objects = compile_runtime(directory, spec)
    ctx.code_bytes = code_bytes(directory, spec, objects)
    _render(directory, ["model.h"], ctx, spec)  # now with the measured code size
    link_bundle(directory, spec, objects)
    manifest = {
        "format": BUNDLE_FORMAT,
        "deepxc_version": ctx.version,
        "model": model_name,
        "target": target.name,
        "runner": target.runner,
        "toolchain": {"cc": spec.cc, "cflags": spec.cflags, "ldflags": spec.ldflags},
        "inputs": [_io(partition, n, n) for n in partition.inputs],
        "outputs": [_io(partition, n, b) for n, b in zip(model_outputs, partition.outputs)],
        "sizes": {
            "code_bytes": ctx.code_bytes,
            "arena_bytes": plan.arena_bytes,
            "workspace_bytes": plan.workspace_bytes,
            "weights_bytes": len(blob),
        },
        "weights_checksum": f"{checksum:016x}",
        "threads": partition.threads,
        "weights_embedded": embed_weights,
        "profile": profile,
        "partitions": [{"processor": partition.processor, "kernels": len(partition.kernels)}],
        "totals": summary["totals"],
        "layers": summary["layers"],
        "kernel_calls": [
            {"kernel": c.kernel, "layers": c.layers, "args": c.args} for c in partition.calls
        ],
    }
    Path(directory, "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _render(directory: str, names: list[str], ctx: BundleContext, spec: BuildSpec) -> None:
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
