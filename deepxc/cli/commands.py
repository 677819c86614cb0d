"""What each subcommand does; the pipeline does the work."""

from __future__ import annotations

from deepxc.errors import CompressionError, TargetError


def build_command(args, log) -> int:
    from deepxc.cli.rlc_options import rlc_budgets
    from deepxc.ingest.reader import parse_input_shapes
    from deepxc.pipeline import build

    shapes = parse_input_shapes(args.input_shape)
    if args.threads is not None and not 1 <= args.threads <= 64:
        raise TargetError(f"--threads {args.threads}: expected 1 to 64")
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
    )
    return 0


def run_command(args, log) -> int:
    from deepxc.emit.bundle import read_manifest
    from deepxc.runner import (
        check_level,
        load_inputs,
        profile_bundle,
        profile_lines,
        random_inputs,
        run_bundle,
        save_outputs,
    )

    manifest = read_manifest(args.bundle)
    check_level(args.bundle, manifest, args.level)
    if args.inputs:
        inputs = load_inputs(args.inputs, manifest)
    else:
        inputs = random_inputs(manifest, args.seed)
        log(f"no -i given: random normal inputs (seed {args.seed})")
    if manifest.get("runner"):
        log(f"running under {' '.join(manifest['runner'])}")
    calls = None
    if args.profile:
        outputs, median, calls = profile_bundle(args.bundle, inputs, args.bench, args.level)
    else:
        outputs, median = run_bundle(args.bundle, inputs, args.bench, args.level)
    for name, value in outputs.items():
        flat = value.ravel()
        head = ", ".join(f"{v:.6g}" for v in flat[:6])
        print(
            f"{name}: shape {list(value.shape)} min {flat.min():.6g} max {flat.max():.6g} "
            f"argmax {int(flat.argmax())} [{head}{', ...' if flat.size > 6 else ''}]"
        )
    if calls is not None:
        print(f"{'ms':>10} {'share':>6}  kernel (layers)")
        print("\n".join(profile_lines(calls)))
    if args.outputs:
        save_outputs(args.outputs, outputs)
        log(f"outputs saved to {args.outputs}")
    if median is not None:
        print(f"median_ms={median:.4f}")
    return 0


def inspect_command(args) -> int:
    from deepxc.cli.rlc_options import rlc_budgets
    from deepxc.ingest.reader import load_onnx, parse_input_shapes
    from deepxc.ir.stats import model_summary
    from deepxc.pipeline import frontend
    from deepxc.targets import load_target

    budgets = rlc_budgets(args, default_levels=args.rlc)
    if budgets and not args.rlc:
        raise CompressionError("the --rlc-* flags of inspect need --rlc")
    target = load_target(args.target)  # an unknown target fails before any work
    graph = frontend(
        load_onnx(args.model), parse_input_shapes(args.input_shape), log=lambda m: None
    )
    summary = model_summary(graph)
    rows = [
        (row["name"], row["op"], str(row["output_shape"]), f"{row['params']:,}", f"{row['macs']:,}")
        for row in summary["layers"]
    ]
    header = ("layer", "op", "output shape", "params", "MACs")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(5)]
    line = "  ".join(f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(line.format(*header))
    for row in rows:
        print(line.format(*row))
    totals = summary["totals"]
    print(
        f"total: {totals['layers']} layers, {totals['params']:,} parameters "
        f"({totals['params'] * 4:,} bytes as float32), {totals['macs']:,} MACs"
    )
    if budgets:
        from deepxc.pipeline import compress

        print()
        compress(graph, budgets, args.calibration, target, log=print, progress=False)
    return 0


def targets_command() -> int:
    from deepxc.targets import known_targets, load_target

    for name in known_targets():
        print(f"{name:16} {load_target(name).description}")
    return 0
