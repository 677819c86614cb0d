"""A plan's schedule drawn per processor (`deepxc plan --timeline plan.svg`): one row a
processor, one bar a block from its predicted start to its end, slices marked."""

from __future__ import annotations

import matplotlib
from matplotlib.figure import Figure

STYLE = {"svg.fonttype": "none", "svg.hashsalt": "deepxc", "font.size": 8}
NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


def draw_timeline(plan, path: str) -> None:
    """Write `plan` (a DecompositionPlan) as a timeline to `path` (SVG, PNG or PDF by
    its extension)."""
    known = ["cpu", "gpu", "remote"]
    rows = sorted(
        {b.processor for b in plan.blocks}, key=lambda p: (known.index(p) if p in known else 3, p)
    )
    colors = matplotlib.colormaps["tab10"].colors
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(10, 1.0 + 0.6 * len(rows)))
        axes = figure.add_subplot()
        for block in plan.blocks:
            row = rows.index(block.processor)
            width = max(block.finish_s - block.start_s, 0.0) * 1e3
            axes.broken_barh(
                [(block.start_s * 1e3, width)],
                (row - 0.35, 0.7),
                facecolors=colors[row % len(colors)],
                edgecolors="white",
                linewidth=0.5,
                hatch="//" if block.slice_of else None,
            )
            if width > plan.latency_s * 1e3 / 40:
                axes.text(
                    block.start_s * 1e3 + width / 2,
                    row,
                    block.name,
                    ha="center",
                    va="center",
                    fontsize=6,
                    clip_on=True,
                    rotation=90 if width < plan.latency_s * 1e3 / 12 else 0,
                )
        axes.set_yticks(range(len(rows)), rows)
        axes.set_ylim(len(rows) - 0.4, -0.6)  # the first processor on top
        axes.set_xlim(0, plan.latency_s * 1e3 * 1.01 or 1)
        axes.set_xlabel("predicted time (ms)")
        axes.set_title(
            f"{plan.model} on {plan.target}: {plan.latency_s * 1e3:.3g} ms, "
            f"{plan.energy_j * 1e3:.3g} mJ ({plan.goal.objective} plan; hatched: channel slices)"
        )
        figure.tight_layout()
        figure.savefig(path, metadata=NO_METADATA if path.endswith(".svg") else None)
