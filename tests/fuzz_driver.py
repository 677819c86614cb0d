"""Run fuzz cases (tests/fuzz_models.py) through the real command line and judge each.

A long-lived child process imports deepxc once and runs cases one after another: it
writes the case's bytes to case.onnx, calls `deepxc build case.onnx -o bundle --target
host` in process, and if that worked `deepxc run bundle -i inputs.npz -o outputs.npz`,
then compares with onnxruntime. It captures file descriptor 2 during each call, so a
message printed by C code counts too, and writes one JSON line per case. The parent
sends case indexes, enforces a time limit per case, and kills and restarts the child on
a hang or crash, so neither takes the caller down.

    python tests/fuzz_driver.py --seed 0                  # every case, then the table
    python tests/fuzz_driver.py --seed 0 --case 17 --keep /tmp/c17   # one case, kept

Outcomes: `error` (a refusal: exit 1 or 2, exactly one stderr line with "error", no
traceback, no internal error) and `match` (built, ran, equals onnxruntime) are good;
every other outcome is a failure, see FAILURES.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter

import numpy as np

GOOD = ("error", "match")
FAILURES = {
    "traceback": "a Python traceback on stderr",
    "internal": "exit 70 or 'internal error' (an uncaught exception inside deepxc)",
    "multiline": "a refusal with more than one error line",
    "toolchain": "refused because the C compiler rejected the C deepxc generated",
    "silent": "a non-zero exit with no error line",
    "run-error": "built, but `deepxc run` failed",
    "mismatch": "built and ran, outputs differ from onnxruntime",
    "accepted-invalid": "built a model onnxruntime rejects",
    "hang": "ran past the time limit",
    "crash": "the process died (signal or hard exit)",
    "harness": "the fuzz driver itself failed on the case (a bug in this file)",
}
OUTCOMES = GOOD + tuple(FAILURES)
TIME_LIMIT_S = 30.0  # a case that builds takes about a second here
STARTUP_LIMIT_S = 300.0
HANG = "\0hang"  # not a line the child writes
MEMORY_LIMIT_BYTES = 8 << 30  # a huge shape fails an allocation, not the machine


# --- the child: runs cases in process -------------------------------------------------


def _last_line(text: str) -> str:
    """The line that says what went wrong: the last one naming an error, else the last."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [""])[-1]


def judge_stderr(code: int | None, stderr: str, bundle: str) -> str | None:
    """The outcome of a CLI call from its exit status and stderr; None when it worked."""
    if code is None:
        return "traceback"
    if code == 70 or "internal error" in stderr:
        return "internal"
    if "Traceback" in stderr:
        return "traceback"
    if code == 0:
        return None
    if code not in (1, 2):
        return "internal"
    errors = [line for line in stderr.splitlines() if "error" in line]
    if len(errors) > 1:
        return "multiline"
    if not errors:
        return "silent"
    return "toolchain" if f"failed in {bundle}" in errors[0] else "error"


def compare(actual: dict, expected: dict) -> str | None:
    """Why the outputs differ (None if they match): support.assert_close's tolerance,
    with NaN and infinities required in the same places."""
    from support import assert_close

    if set(actual) != set(expected):
        return f"outputs {sorted(actual)}, onnxruntime gives {sorted(expected)}"
    finite_actual, finite_expected = {}, {}
    for name, reference in expected.items():
        got = np.asarray(actual[name])
        if got.shape != reference.shape:
            return f"{name}: shape {list(got.shape)}, onnxruntime {list(reference.shape)}"
        same_special = (np.isnan(got) & np.isnan(reference)) | (np.isinf(got) & (got == reference))
        either_special = ~np.isfinite(got) | ~np.isfinite(reference)
        differ = either_special & ~same_special
        if np.any(differ):
            first = tuple(int(i) for i in np.argwhere(differ)[0])
            return (
                f"{name}: {int(differ.sum())} of {differ.size} values NaN or infinite on one "
                f"side only, e.g. at {list(first)} deepxc {got[first]}, onnxruntime "
                f"{reference[first]}"
            )
        finite_actual[name] = np.where(same_special, 0, got)
        finite_expected[name] = np.where(same_special, 0, reference)
    try:
        assert_close(finite_actual, finite_expected)
    except AssertionError as exc:
        return str(exc)
    return None


def _call_main(argv: list[str]) -> int | None:
    from deepxc.cli.main import main

    try:
        return main(argv)
    except SystemExit as exc:  # argparse
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        return None


def _cli(argv: list[str], stderr_path: str) -> tuple[int | None, str]:
    """Call `deepxc ARGV` in process with file descriptor 2 going to `stderr_path`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(stderr_path, "ab") as sink:
        start = sink.tell()
        os.dup2(sink.fileno(), 2)
        try:
            code = _call_main(argv)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
    with open(stderr_path, "rb") as written:
        written.seek(start)
        return code, written.read().decode("utf-8", "replace")


def run_case(seed: int, index: int, directory: str) -> dict:
    """Build, run and compare case `index` in `directory` (emptied first)."""
    import onnx
    from fuzz_models import make_case
    from support import random_inputs

    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    case = make_case(seed, index)
    result = {"index": index, "family": case.family, "seed_model": case.seed_model}
    model_path = os.path.join(directory, "case.onnx")
    bundle = os.path.join(directory, "bundle")
    stderr_path = os.path.join(directory, "stderr.txt")
    with open(model_path, "wb") as file:
        file.write(case.data)

    code, stderr = _cli(["build", model_path, "-o", bundle, "--target", "host"], stderr_path)
    refused = judge_stderr(code, stderr, bundle)
    if refused is not None:
        return {**result, "outcome": refused, "detail": _last_line(stderr)}

    model = onnx.load_from_string(case.data)  # deepxc read it, so it parses
    try:
        inputs = random_inputs(model, seed=abs(index))
    except (MemoryError, ValueError) as exc:  # inputs too big to make
        detail = f"no inputs of the declared shapes can be made: {type(exc).__name__}: {exc}"
        return {**result, "outcome": "accepted-invalid", "detail": detail}
    inputs_path = os.path.join(directory, "inputs.npz")
    outputs_path = os.path.join(directory, "outputs.npz")
    np.savez(inputs_path, **inputs)
    try:
        expected = _reference(model, inputs)
    except Exception as exc:
        return {**result, "outcome": "accepted-invalid", "detail": _last_line(str(exc))}
    code, stderr = _cli(["run", bundle, "-i", inputs_path, "-o", outputs_path], stderr_path)
    failed = judge_stderr(code, stderr, bundle)
    if failed is not None:
        outcome = failed if failed in ("traceback", "internal") else "run-error"
        return {**result, "outcome": outcome, "detail": _last_line(stderr)}
    with np.load(outputs_path) as saved:
        actual = {name: saved[name] for name in saved.files}
    why = compare(actual, expected)
    return {**result, "outcome": "mismatch" if why else "match", "detail": why or ""}


def _reference(model, inputs: dict) -> dict:
    """onnxruntime's outputs; where it has no kernel for an op at the model's (valid, old)
    opset, the ONNX reference evaluator's."""
    from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as OrtNotImplemented
    from support import reference_outputs

    try:
        return reference_outputs(model, inputs)
    except OrtNotImplemented:
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(model)
        return dict(zip(evaluator.output_names, evaluator.run(None, inputs)))


def child_main(seed: int, work: str) -> None:
    """Read case indexes from stdin; write one JSON line per case to the real stdout.
    Everything else written to stdout goes nowhere."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    import deepxc.cli.commands  # noqa: F401  (imports TVM once, before the first case)
    import deepxc.pipeline  # noqa: F401

    protocol.write("ready\n")
    for line in sys.stdin:
        index = int(line)
        started = time.monotonic()
        try:
            result = run_case(seed, index, work)
        except Exception as exc:
            result = {"index": index, "family": _family_name(index), "seed_model": "?"}
            result.update(outcome="harness", detail=f"{type(exc).__name__}: {exc}")
        result["seconds"] = round(time.monotonic() - started, 2)
        protocol.write(json.dumps(result) + "\n")


# --- the parent: feeds cases to a child, survives hangs and crashes --------------------


class Child:
    """One child process and the directory it runs cases in."""

    def __init__(self, seed: int, work: str):
        self.work = work
        env = {k: v for k, v in os.environ.items() if k != "DEEPXC_DEBUG"}
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", str(seed), "--work", work],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group: cc and the model die with it
        )
        self.buffer = b""
        if self.read_line(STARTUP_LIMIT_S) != "ready":
            self.stop()
            raise RuntimeError(f"fuzz child did not start (exit {self.process.returncode})")

    def read_line(self, limit: float) -> str:
        """The next line; "" at the end of the child's output (it died); HANG when
        `limit` seconds pass first."""
        deadline = time.monotonic() + limit
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in self.buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    return HANG
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    return ""
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    def run(self, index: int, limit: float) -> dict | str:
        """The case's result, or "hang" or "crash" (then the child must be stopped)."""
        try:
            self.process.stdin.write(f"{index}\n".encode())
            self.process.stdin.flush()
        except BrokenPipeError:
            return "crash"
        line = self.read_line(limit)
        if line == HANG:
            return "hang"
        return json.loads(line) if line else "crash"

    def last_stderr_line(self) -> str:
        try:
            with open(os.path.join(self.work, "stderr.txt"), "rb") as file:
                return _last_line(file.read().decode("utf-8", "replace"))
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()


def run_cases(
    seed: int,
    indexes: list[int],
    limit: float = TIME_LIMIT_S,
    keep: str | None = None,
    progress=None,
) -> list[dict]:
    """Every case's result, in order; `keep` keeps the (last) case's files there."""
    from fuzz_models import make_case

    root = keep or tempfile.mkdtemp(prefix="deepxc-fuzz-")
    work = keep or os.path.join(root, "case")
    results = []
    child = None
    try:
        for index in indexes:
            child = child or Child(seed, work)
            started = time.monotonic()
            result = child.run(index, limit)
            if isinstance(result, str):
                child.stop()
                why = (
                    f"no result after {limit:.0f} s"
                    if result == "hang"
                    else f"child exited with {child.process.returncode}"
                )
                result = {
                    "index": index,
                    "family": _family_name(index),
                    "seed_model": make_case(seed, index).seed_model,
                    "outcome": result,
                    "detail": f"{why}; last stderr line: {child.last_stderr_line()}",
                    "seconds": round(time.monotonic() - started, 2),
                }
                child = None
            results.append(result)
            if progress:
                progress(result)
    finally:
        if child:
            child.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return results


def _family_name(index: int) -> str:
    from fuzz_models import family_of

    family = family_of(index)
    return family.name if family else "control"


def outcome_table(results: list[dict]) -> str:
    """Counts per outcome, then a family x outcome table."""
    totals = Counter(r["outcome"] for r in results)
    columns = [o for o in OUTCOMES if totals[o]]
    families = list(dict.fromkeys(r["family"] for r in results))
    width = max([len("family"), len("total")] + [len(f) for f in families])
    cells = Counter((r["family"], r["outcome"]) for r in results)
    lines = ["outcomes: " + ", ".join(f"{o} {totals[o]}" for o in columns)]
    lines.append(f"{'family':<{width}}  " + "  ".join(f"{o:>{len(o)}}" for o in columns))
    for family in families + ["total"]:
        counts = [totals[o] if family == "total" else cells[family, o] for o in columns]
        row = "  ".join(f"{c or '.':>{len(o)}}" for c, o in zip(counts, columns))
        lines.append(f"{family:<{width}}  {row}")
    return "\n".join(lines)


def failure_lines(results: list[dict], seed: int) -> list[str]:
    """One line per failing case and how to reproduce it."""
    return [
        f"{r['family']} #{r['index']} ({r['seed_model']}): {r['outcome']}: {r['detail']}\n"
        f"    python tests/fuzz_driver.py --seed {seed} --case {r['index']} "
        f"--keep /tmp/fuzz-{r['index']}"
        for r in results
        if r["outcome"] not in GOOD
    ]


def main(argv: list[str] | None = None) -> int:
    from fuzz_models import CASE_COUNT, CONTROL_INDEXES

    parser = argparse.ArgumentParser(description="Run deepxc's fuzz cases.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case", type=int, action="append", help="only this case (repeatable)")
    parser.add_argument("--family", help="only the cases of this family")
    parser.add_argument("--keep", metavar="DIR", help="keep the case's files (with --case)")
    parser.add_argument("--limit", type=float, default=TIME_LIMIT_S, help="seconds per case")
    parser.add_argument("--child", type=int, metavar="SEED", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child_main(args.child, args.work)
        return 0
    if args.keep and len(args.case or []) != 1:
        parser.error("--keep needs exactly one --case")
    if args.keep and _holds_other_files(args.keep):
        parser.error(f"--keep {args.keep}: not empty and not a kept case (it gets emptied)")
    indexes = args.case or CONTROL_INDEXES + list(range(CASE_COUNT))
    if args.family:
        indexes = [i for i in indexes if _family_name(i) == args.family]
    started = time.monotonic()
    results = run_cases(args.seed, indexes, args.limit, args.keep, progress=_print_progress)
    print(outcome_table(results))
    print(f"{len(results)} cases in {time.monotonic() - started:.0f} s")
    failures = failure_lines(results, args.seed)
    print("\n".join(failures))
    if args.keep:
        print(f"kept: DEEPXC_DEBUG=1 deepxc build {args.keep}/case.onnx -o {args.keep}/bundle")
    return 1 if failures else 0


def _holds_other_files(path: str) -> bool:
    if not os.path.isdir(path) or not os.listdir(path):
        return False
    return not os.path.isfile(os.path.join(path, "case.onnx"))


def _print_progress(result: dict) -> None:
    print(
        f"{result['index']:4} {result['family']:<20} {result['outcome']:<16} "
        f"{result['seconds']:6.2f}s {result['detail'][:120]}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
