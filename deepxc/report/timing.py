"""Measured time per kernel call for the report: from running a profiling bundle, or
from a file of an earlier run: a JSON list with one {"ms": ...} per kernel call of
level 0, in the manifest's order ("kernel" names, if given, must match), or what the
bundle's own driver printed with --profile on the device (its `profile_ms CALL MS`
lines)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from deepxc.errors import InputFileError, RunError
from deepxc.runner import level_count, profile_bundle, profile_times


@dataclass
class Timing:
    calls: list[dict] | None  # the manifest's kernel calls, each with "ms"; None: no timing
    note: str  # where the times come from, or why there are none
    level_medians: list[float] = field(default_factory=list)  # a run of each level, in ms


def bundle_timing(
    bundle: str, manifest: dict, profile_from: str | None = None, bench: int = 10
) -> Timing:
    """Level 0's kernel calls with their times, and with `bench` > 0 the median time of a
    whole run of each level (the bundle is run once per level)."""
    listed = manifest["kernel_calls"]
    if profile_from:
        times = _read_times(profile_from, listed)
        calls = [{**call, "ms": ms} for call, ms in zip(listed, times)]
        return Timing(calls, f"Times read from {profile_from}.")
    if not manifest.get("profile"):
        return Timing(
            None,
            "No timing: the bundle is not a profiling build (build it with --profile, "
            "or give deepxc report --profile-from a file of measured times).",
        )
    try:
        levels = range(level_count(manifest))
        runs = [profile_bundle(bundle, bench=bench, level=level) for level in levels]
    except RunError as error:
        return Timing(None, f"No timing: running the bundle failed ({error}).")
    where = "on this machine"
    if manifest.get("runner"):
        where = f"under {' '.join(manifest['runner'])}: emulated, not the device's times"
    how = f"a first run, a warm-up and {bench} timed runs" if bench else "one run"
    note = (
        f"Mean time of each kernel call over {how} on random inputs, "
        f"{manifest['threads']} thread(s), measured {where}."
    )
    medians = [median for _, median, _ in runs] if bench else []
    if medians:
        note += f" Median time of a whole run: {medians[0]:.3f} ms."
    return Timing(runs[0][2], note, medians)


def _read_times(path: str, listed: list[dict]) -> list[float]:
    try:
        with open(path) as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(f"{path}: cannot read it ({error})") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        data = _driver_times(text)
        if data is None:
            raise InputFileError(
                f"{path}: neither JSON ({error}) nor the output of the bundle's driver run "
                "with --profile (profile_ms lines)"
            ) from None
    if isinstance(data, dict):
        data = data.get("kernel_calls")
    if not isinstance(data, list) or len(data) != len(listed):
        raise InputFileError(
            f"{path}: expected a list of {len(listed)} kernel calls (one per call of the "
            "bundle's level 0), each with its time in 'ms'"
        )
    times = []
    for index, (entry, call) in enumerate(zip(data, listed)):
        ms = entry.get("ms") if isinstance(entry, dict) else None
        if not isinstance(ms, (int, float)) or isinstance(ms, bool) or ms < 0:
            raise InputFileError(f"{path}: kernel call {index} has no time 'ms' >= 0")
        if entry.get("kernel", call["kernel"]) != call["kernel"]:
            raise InputFileError(
                f"{path}: kernel call {index} is {entry['kernel']}, but the bundle's is "
                f"{call['kernel']}: the times are of another build"
            )
        times.append(float(ms))
    return times


def _driver_times(text: str) -> list[dict] | None:
    """The driver's `profile_ms CALL MS` lines as [{"ms": ...}] in call order; None if
    the text has none. A call listed twice or missing leaves the list unusable (the
    caller then says how many calls it expected)."""
    lines = profile_times(text)
    if not lines:
        return None
    if [call for call, _ in lines] != list(range(len(lines))):
        return []
    return [{"ms": ms} for _, ms in lines]
