"""What each subcommand does; the pipeline does the work."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deepxc.errors import TargetError

if TYPE_CHECKING:
    from deepxc.targets import Gpu, Target


def build_command(args, log) -> int:
    from deepxc.cli.plan import plan_request
    from deepxc.cli.rlc_options import rlc_budgets
    from deepxc.ingest.reader import parse_input_shapes
    from deepxc.pipeline import MAX_THREADS, build

    shapes = parse_input_shapes(args.input_shape)
    request = plan_request(args)
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        raise TargetError(f"--threads {args.threads}: expected 1 to {MAX_THREADS}")
    build(
        args.model,
        args.target,
        args.output,
        shapes,
        log=log,
        threads=args.threads,
        embed_weights=args.embed_weights,
        profile=args.profile,
        budgets=rlc_budgets(args),
        calibration=args.calibration,
        api_name=args.name,
        emit_only=args.emit_only,
        command_line=args.command_line,
        place=args.place,
        plan=args.plan,
        plan_request=request,
        remote=args.remote,
        remote_timeout_ms=args.remote_timeout_ms,
    )
    if args.report:
        from deepxc.cli.report import report_after_build

        report_after_build(args.output, log)
    return 0


def ops_command() -> int:
    from deepxc.ingest.importers import IMPORTERS
    from deepxc.ingest.importers.limits import LIMITS

    for op in sorted(IMPORTERS, key=str.lower):
        print(f"{op}: {LIMITS[op]}" if op in LIMITS else op)
    return 0


def targets_command() -> int:
    from deepxc.targets import known_targets, load_target

    for name in known_targets():
        target = load_target(name)
        print(f"{name:16} {target.description}")
        print(f"{'':16} processors: {processors_line(target)}")
    print(
        "\nLayers run on the cpu; `deepxc build --place gpu` (or LAYER=gpu,...) puts them on "
        "the gpu:\nOpenCL C through libOpenCL, or PTX through the CUDA driver (libcuda), "
        "opened at deepx_init.\n`--place LAYER=remote` sends layers to a KServe v2 server "
        "(`deepxc serve BUNDLE` runs one), with a local fallback compiled in.\n`deepxc plan` "
        "(and `build --plan auto`) chooses for each block from the target's cost model."
    )
    return 0


def processors_line(target: Target) -> str:
    """Each processor of `target` with what its layers are compiled to: "cpu (4 cores,
    2.3 GHz), gpu (CUDA sm_32, PTX 4.1, 192 cores, 0.852 GHz)"."""
    described = []
    for processor in target.processors:
        if processor.kind == "gpu" and target.gpu is not None:
            facts = [_gpu_code(target.gpu)]
            if processor.cores > 1:  # 1: unknown, or one shader unit
                facts.append(f"{processor.cores} cores")
        else:
            facts = [f"{processor.cores} cores"]
        if processor.clock_ghz:
            facts.append(f"{processor.clock_ghz:g} GHz")
        described.append(f"{processor.name} ({', '.join(facts)})")
    return ", ".join(described)


def _gpu_code(gpu: Gpu) -> str:
    if gpu.api == "cuda":
        return f"CUDA {gpu.arch}, PTX {gpu.ptx_isa}"
    return f"OpenCL {gpu.opencl_c}"
