"""The report's plots, drawn with matplotlib (no display needed: figures are made
without pyplot) and returned as inline SVG text, with every id made unique to its chart
so that several charts live in one page."""

from __future__ import annotations

import functools
import html
import io
import re

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from deepxc.report.sections import ArenaLevel, Bar, RlcLevel, step_label

WIDTH = 10.0  # inches, for the page's full column (SVG scales; text stays ~9 pt)
COLORS = matplotlib.colormaps["tab20"].colors
STYLE = {
    "svg.fonttype": "none",  # text stays text: searchable, and light
    "svg.hashsalt": "deepxc",  # the same bundle draws the same SVG
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


def _styled(chart):
    """Draw and save under the report's style (matplotlib reads it as it draws)."""

    @functools.wraps(chart)
    def styled(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return chart(*args, **kwargs)

    return styled


@_styled
def bar_chart(
    key: str,
    bars: list[Bar],
    xlabel: str,
    title: str,
    width: float = WIDTH,
    color: str = "#3b6ea8",
) -> str:
    """Horizontal bars, the first on top, each labelled with its value; `title` names
    the chart for screen readers (the page's caption says it to everyone else)."""
    fig = Figure(figsize=(width, 0.8 + 0.28 * len(bars)), layout="constrained")
    ax = fig.add_subplot()
    labels = [bar.label for bar in bars]
    values = [bar.value for bar in bars]
    positions = range(len(bars))
    drawn = ax.barh(positions, values, color=color, height=0.7)
    ax.set_yticks(list(positions), labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.bar_label(drawn, labels=[_short(v) for v in values], padding=3, fontsize=8)
    ax.set_xlim(0, max(values, default=1) * 1.15 or 1)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: _short(v)))
    return _svg(key, fig, title)


@_styled
def arena_chart(key: str, level: ArenaLevel) -> str:
    """Each arena buffer as a rectangle: x the kernel calls it lives through, y its bytes
    in the arena; the kernels' scratch space on top, live at every call."""
    fig = Figure(figsize=(WIDTH, 3.4), layout="constrained")
    ax = fig.add_subplot()
    start, stop = -1, level.steps + 1  # the input is written before call 0
    for index, buffer in enumerate(level.buffers):
        first, last = buffer["first"], buffer["last"]
        box = Rectangle(
            (first, buffer["offset"]),
            last - first + 1,
            buffer["bytes"],
            facecolor=COLORS[index % len(COLORS)],
            edgecolor="#333333",
            linewidth=0.6,
        )
        ax.add_patch(box)
        if buffer["bytes"] > 0.06 * level.arena_bytes:
            ax.text(
                first + (last - first + 1) / 2,
                buffer["offset"] + buffer["bytes"] / 2,
                buffer["tensor"],
                ha="center",
                va="center",
                fontsize=7,
                clip_on=True,
            )
    scratch = level.workspace
    if scratch["bytes"]:
        ax.add_patch(
            Rectangle(
                (start, scratch["offset"]),
                stop - start,
                scratch["bytes"],
                facecolor="#dddddd",
                edgecolor="#999999",
                hatch="//",
                linewidth=0.6,
            )
        )
        ax.text(start + 0.2, scratch["offset"] + scratch["bytes"] / 2, "kernel scratch", fontsize=7)
    ax.set_xlim(start, stop)
    ax.set_ylim(0, max(level.arena_bytes, 1))
    ticks = list(range(start, stop))
    ax.set_xticks([t + 0.5 for t in ticks], [step_label(t, level.steps) for t in ticks])
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("kernel call")
    ax.set_ylabel("arena offset (bytes)")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: _short(v)))
    return _svg(key, fig, f"arena plan of level {level.level}")


@_styled
def tradeoff_chart(key: str, levels: list[RlcLevel], measure: str) -> str:
    """Each level's MACs and weight bytes (against the uncompressed model's) and its
    estimated accuracy, in two panels sharing the accuracy axis."""
    fig = Figure(figsize=(WIDTH, 3.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    base = levels[0]
    for ax, attribute, label in (
        (axes[0], "macs", "MACs (share of level 0)"),
        (axes[1], "weight_bytes", "weight bytes (share of level 0)"),
    ):
        xs = [getattr(level, attribute) / (getattr(base, attribute) or 1) for level in levels]
        ys = [100 * level.accuracy for level in levels]
        ax.plot(xs, ys, marker="o", color="#3b6ea8")
        for level, x, y in zip(levels, xs, ys):
            below = level.level % 2  # neighbours' labels on alternate sides of the curve
            ax.annotate(
                f"level {level.level}",
                (x, y),
                textcoords="offset points",
                xytext=(4, -12 if below else 5),
            )
        ax.set_xlabel(label)
        ax.set_xlim(0, 1.1)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"estimated {measure} (%)")
    low = min(100 * level.accuracy for level in levels)
    axes[0].set_ylim(max(0.0, low - 5), 101)
    return _svg(key, fig, f"estimated {measure} against MACs and weight bytes, per level")


@_styled
def rank_chart(key: str, rows: list[dict], levels: list[RlcLevel]) -> str:
    """Per layer factored at some level, grouped by level: the rank kept as a share of
    the full rank (the layers and levels that factor nothing are left out)."""
    shown = [i for i in range(len(levels)) if any(row["ranks"][i] != "kept" for row in rows)]
    rows = [row for row in rows if any(row["ranks"][i] != "kept" for i in shown)]
    fig = Figure(figsize=(WIDTH, 1.1 + 0.25 * len(rows) * len(shown)), layout="constrained")
    ax = fig.add_subplot()
    height = 0.8 / len(shown)
    for order, index in enumerate(shown):
        positions = [row_index + order * height for row_index in range(len(rows))]
        values = [row["fractions"][index] for row in rows]
        drawn = ax.barh(positions, values, height=height, color=COLORS[2 * order % len(COLORS)])
        drawn.set_label(f"level {levels[index].level}")
        texts = [row["ranks"][index] for row in rows]
        ax.bar_label(drawn, labels=texts, padding=3, fontsize=7)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))], [r["name"] for r in rows])
    ax.invert_yaxis()
    widest = max(row["fractions"][index] for row in rows for index in shown)
    ax.set_xlim(0, min(1.3, 1.4 * widest))  # room for the labels
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("rank kept, as a share of the layer's full rank (100%: kept as it is)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(shown), frameon=False)
    return _svg(key, fig, "rank kept per layer and level")


def _short(value: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def _svg(key: str, fig: Figure, label: str) -> str:
    """The figure as an <svg> element for an HTML page: no XML prolog, no namespaces
    (HTML does not need them), every id prefixed with `key`, `label` its accessible name."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata=NO_METADATA)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = re.sub(r'\bid="', f'id="{key}-', text)
    text = re.sub(r"url\(#", f"url(#{key}-", text)
    text = re.sub(r'href="#', f'href="#{key}-', text)
    name = html.escape(label, quote=True)
    return text.replace("<svg ", f'<svg role="img" aria-label="{name}" ', 1)
