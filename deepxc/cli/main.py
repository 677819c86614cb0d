"""`deepxc COMMAND`: argument parsing, and one-line errors for every command."""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from deepxc import __version__
from deepxc.cli import help_examples
from deepxc.cli.demo import add_demo_parser
from deepxc.cli.plan import add_plan_arguments, add_plan_parser, add_target_argument
from deepxc.cli.profile import add_profile_parser
from deepxc.cli.report import add_build_report_flag, add_report_parser
from deepxc.cli.rlc_options import add_rlc_arguments
from deepxc.cli.run import RUN_EPILOG, level_argument
from deepxc.cli.serve import add_serve_parsers
from deepxc.errors import DeepxcError

DESCRIPTION = """deepxc compiles ONNX models ahead of time into self-contained C bundles
for embedded and wearable devices (static memory, a weights blob, no runtime library)."""


def _progress(message: str) -> None:
    print(f"deepxc: {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepxc",
        description=DESCRIPTION,
        epilog=help_examples.TOP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"deepxc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    build = sub.add_parser(
        "build",
        help="compile an ONNX model into a bundle directory",
        description="Compile MODEL.onnx for a target into a bundle directory: model.h/model.c\n"
        "(runtime), kernel objects, weights.bin, main.c (test driver), Makefile,\n"
        "CMakeLists.txt and manifest.json; then compile it with the target's C compiler\n"
        "(not with --emit-only).",
        epilog=help_examples.BUILD,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("model", metavar="MODEL.onnx", help="the ONNX model to compile")
    add_target_argument(build)
    build.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR",
        help="bundle directory: built beside it and swapped in when complete; an existing "
        "directory holding files deepxc did not write is refused",
    )
    build.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="threads the kernels' parallel loops use (default: the target CPU's cores; "
        "1 builds a bundle without pthreads); DEEPX_NUM_THREADS lowers it at run time",
    )
    build.add_argument(
        "--embed-weights",
        action="store_true",
        help="link the weights into libmodel.a as a const array (deepx_weights in model.h) "
        "for firmware without a file system",
    )
    build.add_argument(
        "--profile",
        action="store_true",
        help="time every kernel call (see `deepxc run --profile`)",
    )
    build.add_argument(
        "--place",
        metavar="PLACEMENT",
        help="put layers on the target's processors (`deepxc targets` lists them): `gpu` "
        "runs the whole model on the GPU (layers it cannot take stay on the CPU, and the "
        "build says which); `LAYER=gpu,LAYER=cpu,...` names layers (`deepxc inspect MODEL` "
        "lists them); `gpu,fc1=cpu` sets a default and exceptions. Default: all on the CPU",
    )
    build.add_argument(
        "--plan",
        metavar="auto|plan.json",
        help="place the layers by a decomposition plan: `auto` plans now (the flags of "
        "the 'decomposition plan' group below; with RLC levels, each level is planned), or "
        "a plan file `deepxc plan -o` wrote for this model. Not with --place",
    )
    build.add_argument(
        "--emit-only",
        action="store_true",
        help="write the bundle's sources, kernel objects, weights and build files without "
        "compiling them with the C toolchain (for a firmware tree with its own toolchain: "
        "`make -C DIR` builds it); the manifest says so",
    )
    build.add_argument(
        "--name",
        metavar="NAME",
        help="prefix of every external C name of the bundle: NAME_init, NAME_run, NAME_ctx, "
        "NAME_weights, macros NAME_ARENA_BYTES, ..., kernel symbols (default: deepx_ and "
        "DEEPX_), so that bundles built under different names link into one program",
    )
    build.add_argument(
        "--input-shape",
        action="append",
        metavar="NAME=D1,D2,...",
        help="pin the shape of an input with symbolic dimensions (repeatable)",
    )
    build.add_argument(
        "--remote-timeout-ms",
        type=int,
        default=2000,
        metavar="MS",
        help="how long the device waits for the remote server (--remote) before it "
        "computes the remote layers itself (default 2000)",
    )
    add_rlc_arguments(build)
    add_plan_arguments(build)
    add_build_report_flag(build)

    run = sub.add_parser(
        "run",
        help="run a compiled bundle on inputs, or on a data set (accuracy per level)",
        description="Run a bundle's executable (natively, or under the qemu-user emulator "
        "its manifest names: times are then marked emulated). Inputs come from -i or are "
        "seeded random; --dataset runs every example of a file in one process and prints "
        "the top-1 accuracy of each level run.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=RUN_EPILOG,
    )
    run.add_argument("bundle", metavar="DIR", help="a directory made by `deepxc build`")
    run.add_argument(
        "-i",
        "--inputs",
        metavar="FILE",
        help="an .npz of arrays named after the model inputs, or one .npy array for a "
        "one-input model; float64 arrays are converted to float32 (with a note)",
    )
    run.add_argument(
        "-o",
        "--outputs",
        metavar="FILE",
        help="save the outputs: FILE.npz holds every output by name, FILE.npy the only "
        "output of a one-output model; the folder must exist",
    )
    run.add_argument(
        "--dataset",
        metavar="DATA.npz",
        help="run every example on axis 0 of the arrays named after the model inputs (a "
        "one-input model also takes a single array) and print each level's accuracy",
    )
    run.add_argument(
        "--labels",
        metavar="NAME",
        help="the integer class labels in DATA.npz (default: 'labels'); without labels, "
        "--dataset prints output statistics and the levels' agreement",
    )
    run.add_argument(
        "--bench",
        type=_count,
        default=0,
        metavar="N",
        help="also time N runs after a warm-up and print the median",
    )
    run.add_argument("--seed", type=_count, default=0, help="seed of the random inputs")
    run.add_argument(
        "--level",
        type=level_argument,
        default=0,
        metavar="K|all",
        help="runtime compression level to run (default 0; see below); 'all' runs every "
        "level of the bundle in turn over the --dataset",
    )
    run.add_argument(
        "--profile",
        action="store_true",
        help="print the time of each kernel call (bundles built with --profile)",
    )

    inspect = sub.add_parser(
        "inspect",
        help="print a model's inputs, outputs, layers, MACs and arena estimate (and, with "
        "--rlc, its RLC plan)",
        description="Print the model's inputs and outputs, each layer's op, output shape,\n"
        "parameters, MACs and share of the MACs, the totals and an estimate of the bundle's\n"
        "arena, without compiling. With --rlc and a budget (the --rlc-* flags of\n"
        "`deepxc build`, with the same defaults), also plan runtime layer compression as\n"
        "`deepxc build` would and print the plan.",
        epilog=help_examples.INSPECT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inspect.add_argument("model", metavar="MODEL.onnx")
    inspect.add_argument(
        "--input-shape",
        action="append",
        metavar="NAME=D1,D2,...",
        help="pin the shape of an input with symbolic dimensions",
    )
    inspect.add_argument(
        "--json", action="store_true", help="print everything as one JSON object on stdout"
    )
    inspect.add_argument(
        "--rlc",
        action="store_true",
        help="plan RLC for the budget the --rlc-* flags below give and print the plan",
    )
    inspect.add_argument(
        "--target",
        default="host",
        help="with --rlc: count weight bytes as this target's bundle stores them (default: host)",
    )
    add_rlc_arguments(inspect)

    add_report_parser(sub)
    add_plan_parser(sub)
    add_profile_parser(sub)
    add_serve_parsers(sub)
    add_demo_parser(sub)

    sub.add_parser(
        "targets",
        help="list the known targets and their processors",
        description="List the targets deepxc knows by name, each with its processors (the\n"
        "names `build --place` takes) and what their layers are compiled to. `--target\n"
        "FILE.toml` takes a target file instead: a copy of one of these, edited\n"
        "(deepxc/targets/NAME.toml).",
        epilog=help_examples.TARGETS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_parser(
        "ops",
        help="list the supported ONNX ops and their limits",
        description="List every ONNX op deepxc compiles, one a line and sorted, each with\n"
        "the forms it does not take. Tensors computed at run time are float32.",
        epilog="examples:\n  deepxc ops\n  deepxc ops | grep Pool",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 0")
    return value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.command_line = list(sys.argv) if argv is None else ["deepxc", *argv]  # provenance
    try:
        if args.command == "build":
            from deepxc.cli.commands import build_command

            return build_command(args, _progress)
        if args.command == "run":
            from deepxc.cli.run import run_command

            return run_command(args, _progress)
        if args.command == "inspect":
            from deepxc.cli.inspect import inspect_command

            return inspect_command(args, _progress)
        if args.command == "plan":
            from deepxc.cli.plan import plan_command

            return plan_command(args, _progress)
        if args.command == "report":
            from deepxc.cli.report import report_command

            return report_command(args, _progress)
        if args.command == "profile":
            from deepxc.cli.profile import profile_command

            return profile_command(args, _progress)
        if args.command == "serve":
            from deepxc.cli.serve import serve_command

            return serve_command(args, _progress)
        if args.command == "export-remote":
            from deepxc.cli.serve import export_remote_command

            return export_remote_command(args, _progress)
        if args.command == "demo":
            from deepxc.cli.demo import demo_command

            return demo_command(args, _progress)
        if args.command == "ops":
            from deepxc.cli.commands import ops_command

            return ops_command()
        from deepxc.cli.commands import targets_command

        return targets_command()
    except DeepxcError as error:
        print(f"deepxc: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("deepxc: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # an internal bug: say so in one line unless debugging
        if os.environ.get("DEEPXC_DEBUG"):
            traceback.print_exc()
        else:
            print(
                f"deepxc: internal error: {type(error).__name__}: {error} "
                "(rerun with DEEPXC_DEBUG=1 for a traceback)",
                file=sys.stderr,
            )
        return 70


if __name__ == "__main__":
    sys.exit(main())
