"""The cost-model tables of a target file (and of a costs file, which has the same
tables): per processor and kernel class the throughput, bandwidth and launch overhead,
the processor's energy figures, and the links between processors.

    time of a block = launch_us * 1e-6 * kernels + macs / (gmacs_per_s * 1e9)
                      + bytes / (gbytes_per_s * 1e9)

A rate of 0 means "no such term" (an elementwise kernel's `gmacs_per_s = 0`: its time is
launch and bytes only). The checks here raise CostTableError naming the table and field;
the loaders put the file's path in front."""

from __future__ import annotations

import math

KERNEL_CLASSES = ("conv", "depthwise", "dense", "pool", "elementwise")
COST_FIELDS = ("gmacs_per_s", "gbytes_per_s", "launch_us")
ENERGY_FIELDS = ("nj_per_mac", "nj_per_byte", "idle_mw")
LINK_FIELDS = ("latency_us", "gbytes_per_s", "nj_per_byte")


class CostTableError(ValueError):
    """A cost-model table that breaks a rule, said with its table and field."""


# what `deepxc profile` adds to a class table of a costs file: the fit's quality
FIT_FIELDS = ("rms_rel_error", "samples")


def check_number(value, where: str) -> float:
    """`value` as a float: a finite number >= 0, or CostTableError saying `where`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CostTableError(f"{where} = {value!r}: not a number")
    if not math.isfinite(value) or value < 0:
        raise CostTableError(f"{where} = {value!r}: must be a finite number >= 0")
    return float(value)


def check_table(table, fields: tuple[str, ...], where: str, extra=()) -> dict[str, float]:
    """A table of the numbers `fields` (each optional); an unknown key is an error unless
    it is in `extra` (kept out of the result)."""
    if not isinstance(table, dict):
        raise CostTableError(f"[{where}] must be a table")
    unknown = sorted(set(table) - set(fields) - set(extra))
    if unknown:
        raise CostTableError(
            f"[{where}] has unknown field {unknown[0]!r} (known: {', '.join(fields)})"
        )
    return {
        key: check_number(value, f"[{where}] {key}")
        for key, value in table.items()
        if key in fields
    }


def check_costs(costs, where: str, extra=()) -> dict[str, dict[str, float]]:
    """A processor's [<where>.conv], [<where>.dense], ... tables, by kernel class."""
    if not isinstance(costs, dict):
        raise CostTableError(f"[{where}] must be a table of kernel classes")
    unknown = sorted(set(costs) - set(KERNEL_CLASSES))
    if unknown:
        raise CostTableError(
            f"[{where}.{unknown[0]}]: unknown kernel class (known: {', '.join(KERNEL_CLASSES)})"
        )
    return {
        kind: check_table(table, COST_FIELDS, f"{where}.{kind}", extra)
        for kind, table in costs.items()
    }


def check_link(link, processors: list[str], where: str) -> dict:
    """A [[links]] entry: `between = [a, b]` (both directions) or `from`/`to` (one), and
    its latency, bandwidth (> 0) and energy per byte."""
    if not isinstance(link, dict):
        raise CostTableError(f"[{where}] must be a table")
    ends = link.get("between") or [link.get("from"), link.get("to")]
    if "between" in link and len(ends) != 2:
        raise CostTableError(f"[{where}] between = {ends!r}: needs two processor names")
    for end in ends:
        if end not in processors:
            raise CostTableError(
                f"[{where}] names processor {end!r}, which the target lacks "
                f"(it has {', '.join(processors)})"
            )
    numbers = check_table(
        {k: v for k, v in link.items() if k not in ("between", "from", "to")},
        LINK_FIELDS,
        where,
    )
    if numbers.get("gbytes_per_s", 0.0) <= 0:
        raise CostTableError(f"[{where}] gbytes_per_s must be given and > 0")
    checked = {**numbers, "latency_us": numbers.get("latency_us", 0.0)}
    if "between" in link:
        return {"between": list(ends), **checked}
    return {"from": ends[0], "to": ends[1], **checked}
