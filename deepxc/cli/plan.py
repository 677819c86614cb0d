"""`deepxc plan`: a decomposition plan for a model on a target, printed as a table (or
JSON), drawn as a timeline, saved for `deepxc build --plan FILE`; and the planning flags
`build --plan auto` shares."""

from __future__ import annotations

import argparse
import json
import re
import sys

from deepxc.errors import DeepxcError

PLAN_EPILOG = """\
examples:
  deepxc plan examples/tiny_cnn/model.onnx --target tegra-k1
  deepxc plan examples/tiny_cnn/model.onnx --target tegra-k1 --network wifi --json
  deepxc plan examples/digits/model.onnx --target snapdragon-400 --goal energy \\
      --max-latency-ms 5 --timeline plan.svg
  deepxc plan examples/tiny_cnn/model.onnx --target host-opencl -o plan.json
  deepxc build examples/tiny_cnn/model.onnx --target host-opencl --plan plan.json -o b/

The constants of the cost model come from the target file (published figures for the
boards) or, for the build machine, from `deepxc profile --target NAME`, which measures
them and writes ~/.cache/deepxc/costs/NAME.toml, used from then on (or --costs FILE).
Blocks are the layers as lowering fuses them; the heaviest convolution and dense layers
may be cut into slices of their output channels that run on different processors at once.
The plan minimises the goal exactly (an integer program, HiGHS) for small graphs and with
a list-scheduling heuristic for large ones; the solver line says which, and the gap to the
best proven bound."""


def memory_size(text: str) -> float:
    """`--max-memory`: bytes, or a number with a unit: 512KB, 64MB, 1.5GB (powers of
    1000), KiB, MiB, GiB (powers of 1024)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmg]i?b?|b)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a size such as 64MB or 512KiB")
    unit = (match.group(2) or "b").lower().rstrip("b") or "b"
    scale = {"b": 1, "k": 1e3, "m": 1e6, "g": 1e9, "ki": 1024, "mi": 1 << 20, "gi": 1 << 30}
    return float(match.group(1)) * scale[unit]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number > 0")
    return value


def add_target_argument(parser: argparse.ArgumentParser) -> None:
    """`--target` of the commands that compile or plan for a target."""
    parser.add_argument(
        "--target",
        default="host",
        metavar="NAME|FILE.toml",
        help="a target's name (see `deepxc targets`) or a target file's path (one ending in "
        ".toml or holding a '/'), e.g. an edited copy of deepxc/targets/host.toml "
        "(default: host, the build machine)",
    )


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    """The goal, limits and cost flags `plan` and `build --plan auto` share."""
    group = parser.add_argument_group("decomposition plan")
    group.add_argument(
        "--goal",
        choices=["latency", "energy"],
        default="latency",
        help="what the plan minimises: the inference's latency, or the device's energy "
        "(default: latency)",
    )
    group.add_argument(
        "--max-latency-ms", type=_positive, metavar="MS", help="refuse plans slower than this"
    )
    group.add_argument(
        "--max-energy-mj",
        type=_positive,
        metavar="MJ",
        help="refuse plans spending more of the device's energy per inference",
    )
    group.add_argument(
        "--max-memory",
        type=memory_size,
        metavar="SIZE",
        help="the most the blocks on the device may hold (weights and outputs): bytes, or "
        "64MB, 512KiB...",
    )
    group.add_argument(
        "--network",
        metavar="NAME",
        help="add a remote server reached over this network: wifi, lte or 3g (published "
        "round-trip times, bandwidths and radio energy; deepxc/targets/networks.toml), or "
        "`measured`: the round trip and bandwidth to the running server --remote names",
    )
    group.add_argument(
        "--remote",
        metavar="http://HOST:PORT",
        help="the KServe v2 server of the remote blocks (`deepxc serve BUNDLE` runs one): "
        "measured by --network measured; a bundle calls it (DEEPX_REMOTE overrides it at "
        "run time)",
    )
    group.add_argument(
        "--costs",
        metavar="FILE.toml",
        help="cost constants measured by `deepxc profile` (default: "
        "~/.cache/deepxc/costs/TARGET.toml when it exists, else the target file's)",
    )
    group.add_argument(
        "--slices",
        type=int,
        default=2,
        metavar="N",
        help="parts the output channels of a heavy layer may be cut into, to run on "
        "several processors at once (1: no slices; default 2)",
    )
    group.add_argument(
        "--time-limit",
        type=_positive,
        default=20.0,
        metavar="S",
        help="seconds the integer program may take before the best plan found is kept (default 20)",
    )


def add_plan_parser(sub) -> None:
    plan = sub.add_parser(
        "plan",
        help="plan which processor runs each block of a model (decomposition)",
        description="Cut MODEL.onnx into unit blocks and assign them to the target's\n"
        "processors (cpu, gpu, and a remote server with --network) so that the goal is\n"
        "met; print each block's processor and predicted start and end, the predicted\n"
        "latency, energy and memory, and the baselines: all on the CPU, all on the GPU,\n"
        "and the best single cut between two processors.",
        epilog=PLAN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan.add_argument("model", metavar="MODEL.onnx", help="the ONNX model to plan")
    add_target_argument(plan)
    add_plan_arguments(plan)
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.add_argument(
        "--timeline", metavar="FILE.svg", help="draw the schedule per processor (SVG or PNG)"
    )
    plan.add_argument(
        "-o", "--output", metavar="plan.json", help="save the plan for `deepxc build --plan`"
    )
    plan.add_argument(
        "--input-shape",
        action="append",
        metavar="NAME=D1,D2,...",
        help="pin the shape of an input with symbolic dimensions (repeatable)",
    )


def plan_request(args):
    """The `PlanRequest` of the planning flags (`plan`'s, or `build --plan auto`'s)."""
    from deepxc.dad.planner import PlanRequest
    from deepxc.dad.problem import Goal

    if args.slices < 1:
        raise DeepxcError(f"--slices {args.slices}: expected 1 or more")
    goal = Goal(
        args.goal,
        None if args.max_latency_ms is None else args.max_latency_ms / 1e3,
        None if args.max_energy_mj is None else args.max_energy_mj / 1e3,
        args.max_memory,
    )
    return PlanRequest(goal, _network(args), args.costs, args.slices, args.time_limit)


def _network(args):
    """--network: a profile's name, or the profile measured to the --remote server."""
    if args.network != "measured":
        return args.network
    if not args.remote:
        raise DeepxcError("--network measured: name the running server with --remote URL")
    from deepxc.dad.network import measured_profile
    from deepxc.remote_url import check_remote_url
    from deepxc.serve.probe import measure_network

    check_remote_url(args.remote)
    measured = measure_network(args.remote)
    print(
        f"deepxc: network to {args.remote}: round trip {measured['rtt_ms']:.2f} ms, up "
        f"{measured['up_mbps']:.1f} Mbit/s, down {measured['down_mbps']:.1f} Mbit/s",
        file=sys.stderr,
    )
    return measured_profile(measured["rtt_ms"], measured["up_mbps"], measured["down_mbps"])


def plan_command(args, log) -> int:
    from deepxc.dad.plan_file import plan_dict, write_plan
    from deepxc.ingest.reader import parse_input_shapes
    from deepxc.pipeline import plan

    decomposition = plan(
        args.model,
        args.target,
        plan_request(args),
        input_shapes=parse_input_shapes(args.input_shape),
        log=log,
    )
    if args.output:
        write_plan(decomposition, args.output)
        log(f"plan: written to {args.output}")
    if args.timeline:
        from deepxc.report.timeline import draw_timeline

        draw_timeline(decomposition, args.timeline)
        log(f"plan: timeline in {args.timeline}")
    if args.json:
        json.dump(plan_dict(decomposition), sys.stdout, indent=1)
        print()
    else:
        print_plan(decomposition)
    return 0


def print_plan(plan) -> None:
    goal = plan.goal
    print(
        f"plan for {plan.model} on {plan.target}"
        + (f" with a remote server over {plan.network}" if plan.network else "")
        + f" (goal: {goal.objective}; costs: {plan.costs_source})"
    )
    width = max([len(b.name) for b in plan.blocks] + [5])
    print(f"{'block':{width}}  {'processor':9}  {'slice':18}  {'start ms':>9}  {'end ms':>9}")
    for b in plan.blocks:
        part = (
            f"{b.slice_index + 1}/{b.slices} ch {b.channels[0]}:{b.channels[1]}"
            if b.slice_of
            else ""
        )
        print(
            f"{b.name:{width}}  {b.processor:9}  {part:18}  "
            f"{b.start_s * 1e3:9.3f}  {b.finish_s * 1e3:9.3f}"
        )
    memory = ", ".join(f"{p} {v / 1e6:.2f} MB" for p, v in sorted(plan.memory_bytes.items()))
    print(
        f"predicted: latency {plan.latency_s * 1e3:.3f} ms, energy {plan.energy_j * 1e3:.3f} mJ, "
        f"memory {memory}"
    )
    gap = plan.gap()
    unit, scale = ("ms", 1e3) if goal.objective == "latency" else ("mJ", 1e3)
    bound = "" if plan.bound is None else f", bound {plan.bound * scale:.3f} {unit}"
    print(
        f"solver: {plan.method}{', optimal' if plan.optimal else ''}{bound}"
        + ("" if gap is None else f", gap {gap:.1%}")
        + f", {plan.solve_s:.2f} s"
    )
    for name, base in plan.baselines.items():
        ratio = base.latency_s / plan.latency_s if plan.latency_s else float("nan")
        print(
            f"baseline {name:10} latency {base.latency_s * 1e3:9.3f} ms ({ratio:.2f}x the "
            f"plan's), energy {base.energy_j * 1e3:.3f} mJ: {base.detail}"
        )
