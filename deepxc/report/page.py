"""Render the report page (one HTML file: inline CSS and SVG, nothing fetched) from a
bundle directory, as a user would read it: its manifest, and its executable for timing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import jinja2
import markupsafe

from deepxc.emit.bundle import read_manifest
from deepxc.errors import BundleError
from deepxc.report import charts
from deepxc.report.sections import (
    arena_levels,
    call_label,
    layer_rows,
    memory_bars,
    rank_rows,
    rlc_levels,
    step_label,
    summary_cards,
    summary_rows,
    timing_rows,
    top_bars,
)
from deepxc.report.timing import Timing, bundle_timing

TEMPLATE = "page.html.j2"
HALF = 5.0  # inches: a chart in one of two columns


def write_report(
    bundle: str,
    output: str,
    profile_from: str | None = None,
    bench: int = 10,
    log: Callable[[str], None] = print,
) -> None:
    """Write the report of `bundle` to `output`, saying where its times come from. A report
    written into the bundle directory is added to the manifest's files, so that a
    rebuild replaces it."""
    manifest = read_manifest(bundle)
    timing = bundle_timing(bundle, manifest, profile_from, bench)
    name = os.path.basename(os.path.normpath(os.path.realpath(bundle)))
    html = render_report(manifest, timing, name)
    try:
        Path(output).write_text(html, encoding="utf-8")
    except OSError as error:
        raise BundleError(f"{output}: cannot write the report ({error.strerror})") from None
    if os.path.dirname(os.path.realpath(output)) == os.path.realpath(bundle):
        _list_in_manifest(bundle, manifest, os.path.basename(output))
    log(f"report: {output}; {timing.note}")


def render_report(manifest: dict, timing: Timing, bundle_name: str = "") -> str:
    """The page, from the bundle's manifest and its kernel times; `bundle_name` (the
    directory's) heads it."""
    layers = layer_rows(manifest)
    measure, levels = rlc_levels(manifest)
    ranks = rank_rows(levels)
    factored = any(rank != "kept" for row in ranks for rank in row["ranks"])
    calls = timing.calls or []
    context = {
        "bundle_name": bundle_name,
        "manifest": manifest,
        "summary": summary_rows(manifest),
        "cards": summary_cards(manifest),
        "layers": layers,
        "timing": timing,
        "timing_rows": timing_rows(calls),
        "timing_total": sum(call["ms"] for call in calls),
        "arenas": [
            (arena, charts.arena_chart(f"arena{arena.level}", arena))
            for arena in arena_levels(manifest)
        ],
        "step_label": step_label,
        "measure": measure,
        "levels": levels,
        "ranks": ranks,
        "memory_chart": charts.bar_chart(
            "memory", memory_bars(manifest), "bytes", "memory the bundle needs", HALF, "#6a5a9c"
        ),
        "macs_chart": charts.bar_chart(
            "macs",
            top_bars([(row["name"], row["macs"]) for row in layers]),
            "MACs",
            "MACs per layer",
            HALF,
        ),
        "weights_chart": charts.bar_chart(
            "weights",
            top_bars([(row["name"], row["weight_bytes"]) for row in layers]),
            "weight bytes (float32)",
            "weight bytes per layer",
            HALF,
            "#c0703a",
        ),
        "timing_chart": calls
        and charts.bar_chart(
            "timing",
            top_bars([(f"{i}: {call_label(call)}", call["ms"]) for i, call in enumerate(calls)]),
            "ms per run",
            "time per kernel call",
            color="#4f9a5a",
        ),
        "tradeoff_chart": levels and charts.tradeoff_chart("tradeoff", levels, measure),
        "rank_chart": factored and charts.rank_chart("ranks", ranks, levels),
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["svg"] = markupsafe.Markup  # our own plots' SVG, not text to escape
    return env.get_template(TEMPLATE).render(**context)


def _list_in_manifest(bundle: str, manifest: dict, name: str) -> None:
    files = manifest.get("files")
    if files is None or name in files:
        return
    manifest["files"] = sorted([*files, name])
    path = os.path.join(bundle, "manifest.json")
    Path(path).write_text(json.dumps(manifest, indent=2) + "\n")
