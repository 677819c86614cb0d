"""The RLC flags of `deepxc build` and `deepxc inspect`, and what they ask for."""

from __future__ import annotations

import argparse
import os
import zipfile

from deepxc.errors import CompressionError
from deepxc.rlc.plan import DEFAULT_WARN_LOSS, Budget

BUDGET_FLAGS = "--rlc-macs F, --rlc-weights F, --rlc-max-loss L or --rlc-levels F1,F2,..."


def add_rlc_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "runtime layer compression (RLC)",
        "Factor fully connected and convolutional layers into low-rank pairs (truncated "
        "SVD), ranks chosen per layer at the least accuracy loss measured on calibration "
        "examples. Without --calibration, random inputs are used and only agreement with "
        "the uncompressed model is measured.",
    )
    group.add_argument(
        "--rlc-macs",
        type=_fraction,
        metavar="F",
        help="compress to at most this fraction of the model's multiply-accumulates",
    )
    group.add_argument(
        "--rlc-weights",
        type=_fraction,
        metavar="F",
        help="compress to at most this fraction of the model's weight bytes",
    )
    group.add_argument(
        "--rlc-max-loss",
        type=_loss,
        metavar="L",
        help="the fewest MACs whose calibration accuracy is at most L below the "
        "uncompressed model's (e.g. 0.01); needs --calibration with labels",
    )
    group.add_argument(
        "--rlc-levels",
        type=_fractions,
        metavar="F1,F2,...",
        help="one bundle with several levels switchable at run time (deepx_set_level, "
        "`deepxc run --level K`), at these fractions of the MACs: level K is the K-th "
        "fraction, in the order given (1.0: uncompressed); "
        "the factors are stored once, at the largest rank a level uses",
    )
    group.add_argument(
        "--rlc-levels-by",
        choices=("macs", "weights", "both"),
        default="macs",
        help="what the --rlc-levels fractions limit: MACs, weight bytes, or both at once "
        "(default: macs)",
    )
    group.add_argument(
        "--rlc-warn-loss",
        type=_loss,
        metavar="L",
        help="warn about a level whose estimated accuracy is more than L below the "
        f"uncompressed model's (default {DEFAULT_WARN_LOSS}; with --rlc-max-loss, that loss)",
    )
    group.add_argument(
        "--calibration",
        type=_npz_file,
        metavar="DATA.npz",
        help="calibration examples: one array per model input (examples on axis 0) and "
        "optionally 'labels' (int classes)",
    )


def rlc_budgets(args) -> list[Budget]:
    """The levels the flags ask for, level 0 first (--rlc-levels: in the order given);
    [] for no compression. `deepxc build` and `deepxc inspect --rlc` read the flags alike."""
    single = [args.rlc_macs, args.rlc_weights, args.rlc_max_loss]
    if args.rlc_levels is not None and any(v is not None for v in single):
        raise CompressionError(
            "--rlc-levels cannot be combined with --rlc-macs, --rlc-weights or --rlc-max-loss"
        )
    if args.rlc_max_loss is not None:
        if args.rlc_warn_loss is not None:
            raise CompressionError(
                "--rlc-warn-loss cannot be combined with --rlc-max-loss (a level then "
                "warns beyond the --rlc-max-loss it was planned for)"
            )
        if args.rlc_macs is not None or args.rlc_weights is not None:
            raise CompressionError(
                "--rlc-max-loss cannot be combined with --rlc-macs/--rlc-weights"
            )
        if not args.calibration:
            raise CompressionError("--rlc-max-loss needs --calibration DATA.npz with labels")
        return [Budget(max_loss=args.rlc_max_loss)]
    warn = DEFAULT_WARN_LOSS if args.rlc_warn_loss is None else args.rlc_warn_loss
    if args.rlc_macs is not None or args.rlc_weights is not None:
        return [Budget(macs=args.rlc_macs, weights=args.rlc_weights, warn_loss=warn)]
    if args.rlc_levels is None:
        for flag, value in (
            ("--calibration", args.calibration),
            ("--rlc-warn-loss", args.rlc_warn_loss),
        ):
            if value is not None:
                raise CompressionError(f"{flag} is given but no budget: give {BUDGET_FLAGS}")
        return []
    levels = args.rlc_levels
    by = args.rlc_levels_by
    return [
        Budget(
            macs=fraction if by in ("macs", "both") else None,
            weights=fraction if by in ("weights", "both") else None,
            warn_loss=warn,
        )
        for fraction in levels
    ]


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text}: expected a fraction in (0, 1]")
    return value


def _loss(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text}: expected an accuracy loss in [0, 1)")
    return value


def _fractions(text: str) -> list[float]:
    values = [_fraction(item) for item in text.split(",") if item.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected fractions like 1.0,0.5,0.25")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text}: a level is listed twice")
    return values


def _npz_file(path: str) -> str:
    """An .npz archive, as np.savez writes it (a zip file): checked before any work."""
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise argparse.ArgumentTypeError(
            f"{path}: not an .npz archive (np.savez writes one, an array per model input)"
        )
    return path
