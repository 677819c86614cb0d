"""`deepxc inspect`: what a model is and what its bundle would need, without compiling."""

from __future__ import annotations

import json

from deepxc.errors import CompressionError


def inspect_command(args, log) -> int:
    from deepxc.cli.rlc_options import BUDGET_FLAGS, rlc_budgets
    from deepxc.ingest.reader import load_onnx, parse_input_shapes
    from deepxc.pipeline import frontend
    from deepxc.targets import load_target

    budgets = rlc_budgets(args)
    if args.rlc and not budgets:
        raise CompressionError(f"inspect --rlc needs a budget, as build does: give {BUDGET_FLAGS}")
    if budgets and not args.rlc:
        raise CompressionError("the --rlc-* flags of inspect need --rlc")
    target = load_target(args.target)  # an unknown target fails before any work
    graph = frontend(
        load_onnx(args.model), parse_input_shapes(args.input_shape), log=lambda m: None
    )
    report = model_report(graph)
    if args.json:
        if budgets:
            from deepxc.pipeline import compress, rlc_level_info

            _, plan = compress(graph, budgets, args.calibration, target, log=log)
            report["levels"] = rlc_level_info(plan)
        print(json.dumps(report, indent=2))
        return 0
    print("\n".join(report_lines(report)))
    if budgets:
        from deepxc.pipeline import compress

        print()
        compress(graph, budgets, args.calibration, target, log=print, progress=log)
    return 0


def model_report(graph) -> dict:
    """Inputs, outputs, per-layer table (with each layer's share of the MACs), totals and
    the arena estimate of the graph."""
    from deepxc.emit.arena_estimate import estimate_arena_bytes
    from deepxc.ir.stats import model_summary

    summary = model_summary(graph)
    total_macs = summary["totals"]["macs"]
    for layer in summary["layers"]:
        layer["macs_share"] = layer["macs"] / total_macs if total_macs else 0.0

    def tensor(name: str) -> dict:
        spec = graph.spec(name)
        return {"name": name, "shape": list(spec.shape), "dtype": spec.dtype}

    return {
        "model": graph.name,
        "inputs": [tensor(name) for name in graph.inputs],
        "outputs": [tensor(name) for name in graph.outputs],
        "layers": summary["layers"],
        "totals": summary["totals"],
        "arena_estimate_bytes": estimate_arena_bytes(graph),
    }


def report_lines(report: dict) -> list[str]:
    lines = []
    for kind in ("inputs", "outputs"):
        for tensor in report[kind]:
            lines.append(f"{kind[:-1]:6}  {tensor['name']}  {tensor['shape']}  {tensor['dtype']}")
    header = ("layer", "op", "output shape", "params", "MACs", "share")
    rows = [
        (
            layer["name"],
            layer["op"],
            str(layer["output_shape"]),
            f"{layer['params']:,}",
            f"{layer['macs']:,}",
            f"{layer['macs_share']:.1%}",
        )
        for layer in report["layers"]
    ]
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines += ["", line.format(*header), *(line.format(*row) for row in rows)]
    totals = report["totals"]
    lines.append(
        f"total: {totals['layers']} layers, {totals['params']:,} parameters "
        f"({totals['params'] * 4:,} bytes as float32), {totals['macs']:,} MACs"
    )
    lines.append(
        f"arena: about {report['arena_estimate_bytes']:,} bytes of activations (estimated "
        "before lowering; the bundle adds its kernels' scratch space)"
    )
    return lines
