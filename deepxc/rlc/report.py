"""The RLC plan as text (build output, `deepxc inspect --rlc`) and as manifest data."""

from __future__ import annotations

from deepxc.rlc.plan import LevelPlan, RlcPlan


def plan_dict(plan: RlcPlan) -> dict:
    return {
        "calibration": plan.calibration,
        "examples": plan.examples,
        "measure": plan.measure,
        "uncompressed": {
            "macs": plan.macs,
            "weight_bytes": plan.weight_bytes,
            plan.measure: plan.accuracy,
        },
        "levels": [level_dict(plan, index) for index in range(len(plan.levels))],
    }


def level_dict(plan: RlcPlan, index: int) -> dict:
    level = plan.levels[index]
    return {
        "level": index,
        "budget": level.budget.describe(),
        "macs": level.macs,
        "weight_bytes": level.weight_bytes,
        f"estimated_{plan.measure}": level.accuracy,
        "layers": _layer_rows(plan, level),
    }


def plan_lines(plan: RlcPlan) -> list[str]:
    measure = plan.measure
    lines = [
        f"rlc: {measure} measured on {plan.examples} examples from {plan.calibration}; "
        f"uncompressed: {plan.macs:,} MACs, {plan.weight_bytes:,} weight bytes, "
        f"{measure} {plan.accuracy:.2%}",
        f"rlc: {'level':>5}  {'budget':<28} {'MACs':>14} {'':>6} {'weight bytes':>13} {'':>6} "
        f"{measure:>9} {'loss':>7}",
    ]
    for index, level in enumerate(plan.levels):
        lines.append(
            f"rlc: {index:>5}  {level.budget.describe():<28} {level.macs:>14,} "
            f"{_ratio(plan.macs, level.macs):>6} {level.weight_bytes:>13,} "
            f"{_ratio(plan.weight_bytes, level.weight_bytes):>6} {level.accuracy:>9.2%} "
            f"{plan.accuracy - level.accuracy:>+7.2%}"
        )
    for index, level in enumerate(plan.levels):
        if not level.choices:
            continue
        rows = _layer_rows(plan, level)
        lines.append(f"rlc: level {index} layers:")
        lines.append(
            f"rlc:   {'layer':<20} {'form':<8} {'rank':>9} {'MACs before':>13} {'after':>12} "
            f"{'bytes before':>13} {'after':>12} {'error':>9}"
        )
        for row in rows:
            rank = f"{row['rank']}/{row['full_rank']}" if row["form"] else "kept"
            lines.append(
                f"rlc:   {row['name'][:20]:<20} {row['form'] or '-':<8} {rank:>9} "
                f"{row['macs_before']:>13,} {row['macs_after']:>12,} "
                f"{row['bytes_before']:>13,} {row['bytes_after']:>12,} {row['error']:>9.2e}"
            )
    return lines


def _layer_rows(plan: RlcPlan, level: LevelPlan) -> list[dict]:
    """Every layer RLC could factor: its chosen form and rank, or kept as it is."""
    rows = []
    for profile in plan.profiles:
        option = level.choices.get(profile.node)
        rows.append(
            {
                "name": profile.node,
                "form": option.layer.form if option else None,
                "full_rank": option.layer.full_rank if option else None,
                "rank": option.rank if option else None,
                "macs_before": profile.macs,
                "macs_after": option.macs if option else profile.macs,
                "bytes_before": 4 * profile.params,
                "bytes_after": 4 * (option.params if option else profile.params),
                "error": option.error if option else 0.0,
            }
        )
    return rows


def _ratio(before: int, after: int) -> str:
    return f"{before / after:.2f}x" if after else "-"
