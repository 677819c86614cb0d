"""Bundle sizes per target: code (kernels + runtime text), weights, arena.

python benchmarks/sizes.py [--models tiny_cnn squeezenet resnet50] [--targets ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from latency import load  # noqa: E402

from deepxc.pipeline import build_model  # noqa: E402
from deepxc.targets import known_targets  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tiny_cnn", "squeezenet", "resnet50"])
    parser.add_argument("--targets", nargs="+", default=known_targets())
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(f"{'model':12} {'target':15} {'code KiB':>9} {'weights KiB':>12} {'arena KiB':>10}")
    for name in args.models:
        model = load(name)
        for target in args.targets:
            with tempfile.TemporaryDirectory() as tmp:
                sizes = build_model(model, target, tmp, log=lambda m: None, threads=args.threads)[
                    "sizes"
                ]
            print(
                f"{name:12} {target:15} {sizes['code_bytes'] / 1024:9.1f} "
                f"{sizes['weights_bytes'] / 1024:12.1f} {sizes['arena_bytes'] / 1024:10.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
