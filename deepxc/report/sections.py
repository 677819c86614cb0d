"""What the report shows, as plain data read from a bundle's manifest: the summary, the
per-layer costs, the arena plan of each level and the RLC levels. Charts and the page
are drawn from these rows, so a table and its plot always hold the same numbers."""

from __future__ import annotations

from dataclasses import dataclass

from deepxc.runner import level_count

TOP = 12  # bars a chart shows before it groups the rest


@dataclass
class Bar:
    label: str
    value: float


def code_bytes_text(manifest: dict) -> str:
    """The code size, or why there is none (an --emit-only bundle was not compiled)."""
    code = manifest["sizes"]["code_bytes"]
    return "not compiled" if code is None else f"{code:,}"


def summary_cards(manifest: dict) -> list[tuple[str, str]]:
    """The four figures at the top of the page: (value, what it is)."""
    sizes = manifest["sizes"]
    return [
        (code_bytes_text(manifest), "code bytes"),
        (f"{sizes['weights_bytes']:,}", "weights bytes"),
        (f"{sizes['arena_bytes']:,}", "arena bytes"),
        (f"{manifest['totals']['macs']:,}", "MACs per run"),
    ]


def summary_rows(manifest: dict) -> list[tuple[str, str]]:
    sizes = manifest["sizes"]
    totals = manifest["totals"]
    rows = [
        ("model", manifest["model"]),
        ("target", manifest["target"]),
        ("deepxc version", manifest.get("deepxc_version", "?")),
        ("threads", str(manifest["threads"])),
        ("code bytes", code_bytes_text(manifest)),
        ("weights bytes", f"{sizes['weights_bytes']:,}"),
        ("arena bytes", f"{sizes['arena_bytes']:,}"),
        ("of which kernel scratch", f"{sizes['workspace_bytes']:,}"),
        ("MACs", f"{totals['macs']:,}"),
        ("parameters", f"{totals['params']:,}"),
        ("layers", f"{totals['layers']:,}"),
        ("kernel calls", f"{len(manifest['kernel_calls']):,}"),
        ("levels", str(level_count(manifest))),
        ("profiling build", "yes" if manifest.get("profile") else "no"),
        ("weights embedded", "yes" if manifest.get("weights_embedded") else "no"),
    ]
    return rows


def memory_bars(manifest: dict) -> list[Bar]:
    """What the bundle needs on the device: code (when compiled), weights, and the arena in
    its parts."""
    sizes = manifest["sizes"]
    code = [] if sizes["code_bytes"] is None else [Bar("code", sizes["code_bytes"])]
    return [
        *code,
        Bar("weights", sizes["weights_bytes"]),
        Bar("arena: activations", sizes["arena_bytes"] - sizes["workspace_bytes"]),
        Bar("arena: kernel scratch", sizes["workspace_bytes"]),
    ]


def layer_rows(manifest: dict) -> list[dict]:
    total = manifest["totals"]["macs"] or 1
    return [
        {
            "name": layer["name"],
            "op": layer["op"],
            "shape": "×".join(str(d) for d in layer["output_shape"]),
            "params": layer["params"],
            "weight_bytes": 4 * layer["params"],
            "macs": layer["macs"],
            "share": layer["macs"] / total,
        }
        for layer in manifest["layers"]
    ]


def top_bars(items: list[tuple[str, float]], top: int = TOP) -> list[Bar]:
    """The largest non-zero items, largest first, and the rest summed into one bar."""
    ranked = sorted((item for item in items if item[1] > 0), key=lambda item: -item[1])
    bars = [Bar(label, value) for label, value in ranked[:top]]
    rest = ranked[top:]
    if rest:
        bars.append(Bar(f"{len(rest)} others", sum(value for _, value in rest)))
    return bars


def call_label(call: dict, width: int = 40) -> str:
    """A kernel call's layers (a fused kernel may run many), shortened to `width`."""
    text = ", ".join(call["layers"]) or call["kernel"]
    return text if len(text) <= width else text[: width - 1] + "…"


def timing_rows(calls: list[dict]) -> list[dict]:
    total = sum(call["ms"] for call in calls) or 1.0
    return [
        {
            "index": index,
            "kernel": call["kernel"],
            "layers": ", ".join(call["layers"]) or "-",
            "ms": call["ms"],
            "share": call["ms"] / total,
        }
        for index, call in enumerate(calls)
    ]


@dataclass
class ArenaLevel:
    level: int
    steps: int  # kernel calls
    arena_bytes: int
    buffers: list[dict]  # tensor, offset, bytes, first, last (as in the manifest)
    workspace: dict  # offset, bytes


def arena_levels(manifest: dict) -> list[ArenaLevel]:
    """Each level's arena plan; empty for bundles written before the manifest had it."""
    levels = []
    for index, level in enumerate(manifest.get("levels", [])):
        plan = level.get("arena_plan")
        if plan is None:
            continue
        calls = level["kernel_calls"] if index else manifest["kernel_calls"]
        levels.append(
            ArenaLevel(index, len(calls), level["arena_bytes"], plan["buffers"], plan["workspace"])
        )
    return levels


def step_label(step: int, steps: int) -> str:
    """A lifetime end as text: -1 is the model's input, `steps` its output."""
    if step < 0:
        return "input"
    if step >= steps:
        return "output"
    return str(step)


@dataclass
class RlcLevel:
    level: int
    budget: str
    macs: int
    weight_bytes: int
    accuracy: float
    arena_bytes: int
    layers: list[dict]  # name, form, rank, full_rank, ... (as in the manifest)


def rlc_levels(manifest: dict) -> tuple[str, list[RlcLevel]]:
    """The measure ("accuracy" or "agreement") and each level's RLC record; no levels
    for a bundle built without RLC."""
    levels = []
    measure = "accuracy"
    for level in manifest.get("levels", []):
        record = level.get("rlc")
        if record is None:
            return measure, []
        estimated = next(key for key in record if key.startswith("estimated_"))
        measure = estimated.removeprefix("estimated_")
        levels.append(
            RlcLevel(
                level["level"],
                record["budget"],
                record["macs"],
                record["weight_bytes"],
                record[estimated],
                level["arena_bytes"],
                record["layers"],
            )
        )
    return measure, levels


def rank_rows(levels: list[RlcLevel]) -> list[dict]:
    """Per layer RLC could factor, per level: "rank/full rank form", or "kept" (the layer
    as it is), and the rank as a fraction of the full rank (1 when kept). The full rank
    is the form's: a conv's channel and spatial forms have different ones."""
    rows = []
    for position, layer in enumerate(levels[0].layers if levels else []):
        per_level = [level.layers[position] for level in levels]
        rows.append(
            {
                "name": layer["name"],
                "ranks": [
                    f"{row['rank']}/{row['full_rank']} {row['form']}" if row["form"] else "kept"
                    for row in per_level
                ],
                "fractions": [
                    row["rank"] / row["full_rank"] if row["form"] else 1.0 for row in per_level
                ],
            }
        )
    return rows
