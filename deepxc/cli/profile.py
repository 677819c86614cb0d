"""`deepxc profile`: measure a target's cost constants here and write its costs file."""

from __future__ import annotations

import argparse
import os
import time

DESCRIPTION = """Measure the cost constants of a target's processors on this machine.

Builds micro-benchmarks of each kernel class (conv, depthwise, dense, pool, elementwise)
at several sizes into one profiling bundle per processor, runs them, and fits per class
  time = launch_us * 1e-6 + MACs / (gmacs_per_s * 1e9) + bytes / (gbytes_per_s * 1e9)
by least squares on the relative error (0 for a rate: no such term; a pool's MACs are
its window reads). On a GPU the benchmarks are partitions of 1 to 4 kernels, so the
CPU<->GPU link is fitted too: latency_us is half a partition's own overhead (one
crossing in, one out), gbytes_per_s its per-byte cost. Prints the constants with each
class's rms relative error.

The costs file (TOML) goes to $XDG_CACHE_HOME/deepxc/costs/TARGET.toml (by default
~/.cache/deepxc/costs/TARGET.toml), or to -o FILE. `deepxc plan` and `deepxc build --plan`
read it from there (or from --costs FILE) and use its numbers instead of the target
file's for the processors it names, to predict each block's time on each processor."""

EPILOG = """examples:
  deepxc profile                           # the CPU of the build machine (target host)
  deepxc profile --target host-opencl      # CPU, OpenCL device and the link between them
  deepxc profile --quick -o costs.toml     # fewer sizes and runs (seconds, rougher)"""


def add_profile_parser(sub) -> None:
    profile = sub.add_parser(
        "profile",
        help="measure a target's kernel costs here and write its costs file",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    profile.add_argument(
        "--target",
        default="host",
        metavar="NAME|FILE.toml",
        help="the target whose processors to measure; they must be on this machine "
        "(host, host-opencl, host-cuda; default: host)",
    )
    profile.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write the costs file (default: $XDG_CACHE_HOME/deepxc/costs/"
        "TARGET.toml); its folder is made if missing",
    )
    profile.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="threads the CPU kernels use, as `deepxc build --threads` (default: the CPU's "
        "cores); plan with bundles built the same way",
    )
    profile.add_argument(
        "--quick",
        action="store_true",
        help="fewer sizes and repeats: a rough profile in seconds",
    )


def profile_command(args, log) -> int:
    from deepxc.cost_profile import costs_toml, default_costs_path, profile_target, table_lines
    from deepxc.errors import TargetError
    from deepxc.pipeline import MAX_THREADS

    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        raise TargetError(f"--threads {args.threads}: expected 1 to {MAX_THREADS}")
    started = time.monotonic()
    target, profiles = profile_target(args.target, args.threads, args.quick, log)
    path = args.output or default_costs_path(target.name)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        with open(path, "w") as out:
            out.write(costs_toml(target, profiles, args.threads))
    except OSError as error:
        raise TargetError(f"{path}: cannot write the costs file ({error.strerror})") from None
    print("\n".join(table_lines(profiles)))
    log(f"costs of {target.name} written to {path} in {time.monotonic() - started:.0f} s")
    return 0
