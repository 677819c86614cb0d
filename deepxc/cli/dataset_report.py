"""What `deepxc run --dataset` prints: per level, top-1 accuracy against the labels, or
without labels the outputs' statistics and how often each level's top class agrees with
the first level run."""

from __future__ import annotations

import numpy as np


def level_macs(manifest: dict, level: int) -> int:
    levels = manifest.get("levels")
    return levels[level]["macs"] if levels else manifest["totals"]["macs"]


def level_title(manifest: dict, level: int) -> str:
    """`level 1 (2,206,976 MACs, MACs <= 30%)`: the level's MACs and RLC budget."""
    levels = manifest.get("levels") or [{}]
    budget = levels[level].get("rlc", {}).get("budget")
    return f"level {level} ({level_macs(manifest, level):,} MACs{', ' + budget if budget else ''})"


def top1(output: np.ndarray, rows: int) -> np.ndarray:
    """The class of each of `rows` rows of an output stacked over the examples."""
    return output.reshape(rows, -1).argmax(axis=1)


def report_lines(
    manifest: dict, levels: list[int], runs: list[dict], labels: np.ndarray | None
) -> list[str]:
    """One line per level run (in the order run), then, without labels, one line per
    output of each level with its statistics."""
    first_output = manifest["outputs"][0]["name"]
    lines = []
    if labels is not None:
        for level, outputs in zip(levels, runs):
            right = int(np.sum(top1(outputs[first_output], len(labels)) == labels))
            lines.append(
                f"{level_title(manifest, level)}: accuracy {right / len(labels):.2%} "
                f"({right}/{len(labels)})"
            )
        return lines
    rows = len(runs[0][first_output])
    reference = top1(runs[0][first_output], rows)
    for index, (level, outputs) in enumerate(zip(levels, runs)):
        stats = "; ".join(_statistics(name, value) for name, value in outputs.items())
        line = f"{level_title(manifest, level)}: {stats}"
        if index > 0:
            same = int(np.sum(top1(outputs[first_output], rows) == reference))
            difference = np.max(np.abs(outputs[first_output] - runs[0][first_output]))
            line += (
                f"; top-1 agrees with level {levels[0]} on {same / rows:.2%} ({same}/{rows}), "
                f"largest difference {difference:.4g}"
            )
        lines.append(line)
    return lines


def _statistics(name: str, value: np.ndarray) -> str:
    return (
        f"'{name}' {list(value.shape)} mean {value.mean():.4g} std {value.std():.4g} "
        f"min {value.min():.4g} max {value.max():.4g}"
    )
