"""`deepxc build | run | inspect | targets`: argument parsing and one-line errors."""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from deepxc import __version__
from deepxc.cli.rlc_options import add_rlc_arguments
from deepxc.errors import DeepxcError

DESCRIPTION = """deepxc compiles ONNX models ahead of time into self-contained C bundles
for embedded and wearable devices (static memory, a weights blob, no runtime library)."""


def _progress(message: str) -> None:
    print(f"deepxc: {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepxc", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"deepxc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    build = sub.add_parser(
        "build",
        help="compile an ONNX model into a bundle directory",
        description="Compile MODEL.onnx for a target into a bundle directory: model.h/model.c "
        "(runtime), kernel objects, weights.bin, main.c (test driver), Makefile, "
        "CMakeLists.txt and manifest.json; then compile it with the target's C compiler.",
    )
    build.add_argument("model", metavar="MODEL.onnx", help="the ONNX model to compile")
    build.add_argument("--target", default="host", help="target name (see `deepxc targets`)")
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
    add_rlc_arguments(build)

    run = sub.add_parser(
        "run",
        help="run a compiled bundle on inputs from an .npz file",
        description="Run a bundle's executable. Inputs come from an .npz whose arrays are "
        "named after the model inputs; without -i, seeded random inputs are used.",
    )
    run.add_argument("bundle", metavar="DIR", help="a directory made by `deepxc build`")
    run.add_argument("-i", "--inputs", metavar="INPUTS.npz", help="input arrays by name")
    run.add_argument("-o", "--outputs", metavar="OUTPUTS.npz", help="save outputs here")
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
        type=int,
        default=0,
        metavar="K",
        help="runtime compression level to run (default 0, the uncompressed model; "
        "the manifest lists the bundle's levels)",
    )
    run.add_argument(
        "--profile",
        action="store_true",
        help="print the time of each kernel call (bundles built with --profile)",
    )

    inspect = sub.add_parser(
        "inspect",
        help="print a per-layer table of an ONNX model (and its RLC plan, with --rlc)",
        description="Print each layer's op, output shape, parameters and MACs, and totals. "
        "With --rlc, also plan runtime layer compression as `deepxc build` would (levels "
        "1.0,0.5,0.25 of the MACs unless --rlc-* says otherwise) and print the plan, "
        "without compiling anything.",
    )
    inspect.add_argument("model", metavar="MODEL.onnx")
    inspect.add_argument(
        "--input-shape",
        action="append",
        metavar="NAME=D1,D2,...",
        help="pin the shape of an input with symbolic dimensions",
    )
    inspect.add_argument(
        "--rlc", action="store_true", help="plan RLC and print the plan (see the flags below)"
    )
    inspect.add_argument(
        "--target",
        default="host",
        help="with --rlc: count weight bytes as this target's bundle stores them (default: host)",
    )
    add_rlc_arguments(inspect)

    sub.add_parser(
        "targets",
        help="list the known targets",
        description="List the targets deepxc can compile for.",
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
    try:
        if args.command == "build":
            from deepxc.cli.commands import build_command

            return build_command(args, _progress)
        if args.command == "run":
            from deepxc.cli.commands import run_command

            return run_command(args, _progress)
        if args.command == "inspect":
            from deepxc.cli.commands import inspect_command

            return inspect_command(args)
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
