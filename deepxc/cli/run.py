"""`deepxc run`: one run on given or random inputs (with --bench, --profile), or a whole
data set at one level or every level (--dataset)."""

from __future__ import annotations

import argparse
import os
import time

from deepxc.errors import RunError

ALL_LEVELS = "all"
RUN_EPILOG = """examples:
  deepxc run b/                                  seeded random inputs; prints the outputs
  deepxc run b/ -i x.npy -o y.npy                the input and output of a one-input,
                                                 one-output model
  deepxc run b/ -i inputs.npz -o outputs.npz     arrays named after the model's inputs
  deepxc run b/ --bench 50                       median latency of 50 runs
  deepxc run b/ --dataset test.npz               top-1 accuracy against test.npz's 'labels'
  deepxc run b/ --dataset test.npz --level all   accuracy and MACs of every level

levels:
  A bundle built with --rlc-levels F0,F1,... holds one level per fraction, in the
  order the list gave: level k meets fraction Fk (1.0: the uncompressed model), so
  level 0 is the uncompressed model only when the list starts with 1.0.
  A bundle built with --rlc-macs, --rlc-weights or --rlc-max-loss holds one level, the
  compressed model, as level 0; one built without RLC holds the model as it is as
  level 0. manifest.json lists each level's MACs and budget under "levels"."""


def level_argument(text: str) -> int | str:
    """A level number, or 'all'."""
    if text == ALL_LEVELS:
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a level number or 'all'") from None


def run_command(args, log) -> int:
    from deepxc.emit.bundle import read_manifest
    from deepxc.runner import check_level, level_count

    manifest = read_manifest(args.bundle)
    if args.level == ALL_LEVELS:
        levels = list(range(level_count(manifest)))
    else:
        check_level(args.bundle, manifest, args.level)
        levels = [args.level]
    if manifest.get("runner"):
        log(f"running under {' '.join(manifest['runner'])}")
    if args.dataset:
        return _run_dataset(args, manifest, levels, log)
    if args.level == ALL_LEVELS:
        raise RunError("--level all runs a data set: give --dataset DATA.npz")
    return _run_once(args, manifest, log)


def _run_once(args, manifest: dict, log) -> int:
    from deepxc.cli.run_files import check_outputs_path, load_inputs, save_outputs
    from deepxc.runner import (
        profile_bundle,
        profile_lines,
        random_inputs,
        run_bundle,
        run_remote,
    )

    if args.labels:
        raise RunError("--labels names the labels of a --dataset")
    if args.outputs:
        check_outputs_path(args.outputs, manifest)
    if args.inputs:
        inputs = load_inputs(args.inputs, manifest, log)
    else:
        inputs = random_inputs(manifest, args.seed)
        log(f"no -i given: random normal inputs (seed {args.seed})")
    calls = stats = None
    if args.profile:
        outputs, median, calls = profile_bundle(args.bundle, inputs, args.bench, args.level)
    elif manifest.get("remote") and args.level == 0:
        outputs, stats, median = run_remote(args.bundle, inputs, bench=args.bench)
    else:
        outputs, median = run_bundle(
            args.bundle,
            inputs,
            args.bench,
            args.level,
            progress=lambda _, done, total: log(f"bench: {done}/{total} runs"),
        )
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
    if stats is not None:
        print(_remote_line(stats))
    if median is not None:
        print(f"median_ms={median:.4f}{_emulated(manifest)}")
    return 0


def _remote_line(stats: dict) -> str:
    """remote: 3 calls, 2 answered by the server, 1 computed locally (timeout 1)."""
    causes = ", ".join(f"{cause} {count}" for cause, count in stats["causes"].items())
    return (
        f"remote: {stats['remote_calls']} calls, {stats['remote_ok']} answered by the "
        f"server, {stats['fallbacks']} computed locally" + (f" ({causes})" if causes else "")
    )


def _run_dataset(args, manifest: dict, levels: list[int], log) -> int:
    from deepxc.cli.dataset_report import report_lines
    from deepxc.cli.run_files import check_outputs_path, load_dataset, save_outputs
    from deepxc.runner import run_dataset

    others = [
        flag
        for flag, given in (
            ("-i", args.inputs),
            ("--bench", args.bench),
            ("--profile", args.profile),
        )
        if given
    ]
    if others:
        raise RunError(f"--dataset runs the examples of its file; it takes no {', '.join(others)}")
    if args.outputs:
        if len(levels) > 1:
            raise RunError("-o saves the outputs of one level: give --level K, not all")
        check_outputs_path(args.outputs, manifest)
    data = load_dataset(args.dataset, manifest, args.labels, log)
    count = f"{len(levels)} levels" if len(levels) > 1 else f"level {levels[0]}"
    log(f"{args.dataset}: {data.count} examples, {count}, in one run of the bundle")
    start = time.perf_counter()
    runs = run_dataset(
        args.bundle,
        data.examples,
        levels,
        progress=lambda what, done, total: log(
            f"{what.replace('=', ' ')}: {done}/{total} examples"
        ),
    )
    seconds = time.perf_counter() - start
    if data.labels is None:
        print(
            f"no labels: {args.dataset} has no array '{data.labels_name}' (--labels NAME names "
            "it); output statistics instead"
        )
    else:
        print(
            f"{args.dataset}: {data.count} examples, top-1 of "
            f"'{manifest['outputs'][0]['name']}' against '{data.labels_name}'"
        )
    print("\n".join(report_lines(manifest, levels, runs, data.labels)))
    runs_done = data.count * len(levels)
    print(
        f"{runs_done} runs in {seconds:.2f} s ({seconds / runs_done * 1000:.3f} ms a run, "
        f"reading and writing the files included){_emulated(manifest)}"
    )
    if args.outputs:
        save_outputs(args.outputs, runs[0])
        log(f"outputs of {data.count} examples saved to {args.outputs}")
    return 0


def _emulated(manifest: dict) -> str:
    runner = manifest.get("runner")
    return f" (emulated under {os.path.basename(runner[0])})" if runner else ""
