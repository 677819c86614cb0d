"""The RLC plan as text (build output, `deepxc inspect --rlc`) and as manifest data.

Weight bytes are the weights blob's payload bytes (padding included; weights.bin adds a
header of `RlcPlan.header_bytes`). A level's figure is what it reads of the blob; the blob
stores every level's weights once (`RlcPlan.stored_bytes`)."""

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
        "stored_weight_bytes": plan.stored_bytes,
        "levels": [level_dict(plan, index) for index in range(len(plan.levels))],
    }


def level_dict(plan: RlcPlan, index: int) -> dict:
    level = plan.levels[index]
    return {
        "level": index,
        "budget": level.budget.describe(),
        "macs": level.macs,
        "weight_bytes": level.weight_bytes,
        "stored_weight_bytes": plan.stored_bytes,
        f"estimated_{plan.measure}": level.accuracy,
        "accepted_loss": level.budget.accepted_loss,
        "warnings": level_warnings(plan, index),
        "layers": _layer_rows(plan, level),
    }


def level_warnings(plan: RlcPlan, index: int) -> list[str]:
    """What the user should know about a level: an estimated loss above what they accept,
    or more bytes read of a shared blob than its weight budget allows the level alone."""
    level = plan.levels[index]
    budget = level.budget
    warnings = []
    loss = plan.accuracy - level.accuracy
    if loss > budget.accepted_loss + 1e-12:
        flag = "--rlc-max-loss" if budget.max_loss is not None else "--rlc-warn-loss"
        warnings.append(
            f"level {index} ({budget.describe()}): estimated {plan.measure} "
            f"{level.accuracy:.2f}, {loss:.2f} below the uncompressed {plan.accuracy:.2f} "
            f"(more than the {budget.accepted_loss:g} accepted, {flag})"
        )
    if budget.weights is not None and level.weight_bytes > plan.max_payload(budget.weights):
        warnings.append(
            f"level {index} ({budget.describe()}): reads {level.weight_bytes:,} weight bytes "
            f"of the blob it shares, more than its budget allows ("
            f"{int(plan.max_payload(budget.weights)):,}), as its factors are packed for the "
            f"larger rank another level uses; built alone it stores {level.alone_bytes:,}"
        )
    return warnings


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
    lines.append(_blob_line(plan))
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
    for index in range(len(plan.levels)):
        lines.extend(f"warning: {warning}" for warning in level_warnings(plan, index))
    return lines


def _blob_line(plan: RlcPlan) -> str:
    header = f" + a {plan.header_bytes}-byte header" if plan.header_bytes else ""
    if len(plan.levels) == 1:
        return (
            f"rlc: weight bytes are the weights blob's payload, padding included "
            f"(weights.bin: {plan.stored_bytes:,} bytes{header})"
        )
    return (
        f"rlc: weight bytes are what each level reads of the weights blob, padding included; "
        f"the blob stores every level's weights once: {plan.stored_bytes:,} bytes{header}"
    )


def _layer_rows(plan: RlcPlan, level: LevelPlan) -> list[dict]:
    """Every layer RLC could factor: its chosen form and rank, or kept as it is. Bytes
    are the layer's weights and bias as a bundle of this level alone would store them."""
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
                "bytes_before": profile.bytes,
                "bytes_after": option.bytes if option else profile.bytes,
                "error": option.error if option else 0.0,
            }
        )
    return rows


def _ratio(before: int, after: int) -> str:
    return f"{before / after:.2f}x" if after else "-"
