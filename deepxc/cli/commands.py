"""What each subcommand does; the pipeline does the work."""

from __future__ import annotations

from deepxc.errors import TargetError


def build_command(args, log) -> int:
    from deepxc.cli.rlc_options import rlc_budgets
    from deepxc.ingest.reader import parse_input_shapes
    from deepxc.pipeline import MAX_THREADS, build

    shapes = parse_input_shapes(args.input_shape)
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
        print(f"{name:16} {load_target(name).description}")
    return 0
