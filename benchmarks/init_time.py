"""deepx_init's time (the weights checksum) against copying the same bytes once.

    python benchmarks/init_time.py [--models vgg19 squeezenet] [--repeat 5]

Builds each model for the host, runs its driver with --bench (which prints init_ms, the
time of deepx_init on the blob just read), and times numpy copying the weights blob as a
memory-bandwidth yardstick. Prints the checksum's throughput and its ratio to the copy:
compare ratios, not times, on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from latency import load  # noqa: E402

from deepxc.pipeline import build_model  # noqa: E402


def init_ms(bundle: str) -> float:
    weights = os.path.join(bundle, "weights.bin")
    command = [os.path.join(bundle, "model"), "-w", weights, "--bench", "1"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(next(line for line in output.splitlines() if line.startswith("init_ms="))[8:])


def copy_ms(path: str, repeat: int) -> float:
    blob = np.fromfile(path, dtype=np.uint8)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        np.copy(blob)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vgg19", "squeezenet"])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    columns = ("weights MB", 10), ("init ms", 8), ("GB/s", 6), ("copy ms", 8), ("init/copy", 9)
    print(f"{'model':12} " + " ".join(f"{title:>{width}}" for title, width in columns))
    for name in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            manifest = build_model(load(name), "host", tmp, log=lambda m: None, threads=1)
            size = manifest["sizes"]["weights_bytes"]
            init = statistics.median(init_ms(tmp) for _ in range(args.repeat))
            copy = copy_ms(os.path.join(tmp, "weights.bin"), args.repeat)
        print(
            f"{name:12} {size / 1e6:10.1f} {init:8.1f} {size / init / 1e6:6.2f} "
            f"{copy:8.1f} {init / copy:9.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
