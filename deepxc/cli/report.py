"""`deepxc report BUNDLE`, and `deepxc build --report`: the bundle's report page."""

from __future__ import annotations

import argparse
import os

from deepxc.cli import help_examples

REPORT_NAME = "report.html"  # `build --report` writes it into the bundle


def add_report_parser(sub) -> None:
    report = sub.add_parser(
        "report",
        help="write one self-contained HTML page about a bundle",
        description="Write an HTML report of a bundle: sizes, per-layer MACs and weights, "
        "time per kernel call (a --profile bundle is run here, or times come from "
        "--profile-from), the arena's plan and the RLC levels, as plots and tables. The "
        "page has its plots inline and loads nothing.",
        epilog=help_examples.REPORT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("bundle", metavar="DIR", help="a directory made by `deepxc build`")
    report.add_argument(
        "-o",
        "--output",
        metavar="REPORT.html",
        help=f"where to write it (default: DIR/{REPORT_NAME}, which the bundle's manifest "
        "then lists, so a rebuild replaces it)",
    )
    report.add_argument(
        "--profile-from",
        metavar="TIMES",
        help="kernel times from this file instead of running the bundle: what the bundle's "
        "driver printed on the device (`./model -w weights.bin --bench 10 --profile`), or "
        'a JSON list with one {"ms": ...} per kernel call of level 0, in the manifest\'s order',
    )
    report.add_argument(
        "--bench",
        type=int,
        default=10,
        metavar="N",
        help="runs after the first when timing a --profile bundle (default 10)",
    )


def add_build_report_flag(build: argparse.ArgumentParser) -> None:
    build.add_argument(
        "--report",
        action="store_true",
        help=f"write DIR/{REPORT_NAME} after the build (see `deepxc report`)",
    )


def report_command(args, log) -> int:
    from deepxc.errors import RunError
    from deepxc.report import write_report

    if args.bench < 0:
        raise RunError(f"--bench {args.bench}: expected a whole number >= 0")
    output = args.output or os.path.join(args.bundle, REPORT_NAME)
    write_report(args.bundle, output, args.profile_from, args.bench, log)
    return 0


def report_after_build(bundle: str, log) -> None:
    from deepxc.report import write_report

    write_report(bundle, os.path.join(bundle, REPORT_NAME), log=log)
