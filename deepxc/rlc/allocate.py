"""Choose one option per layer (a form and rank, or none) at the least summed error
under MAC and weight-byte budgets: a multiple-choice knapsack, solved exactly as an integer
program by HiGHS (scipy.optimize.milp).

Errors of separately factored layers are taken to add up, the usual first-order model
for small independent perturbations; the plan's accuracy is measured afterwards on the
calibration examples with all its layers factored at once.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from deepxc.rlc.profile import LayerProfile, Option


def allocate(
    profiles: list[LayerProfile],
    total_macs: int,
    total_bytes: int,
    max_macs: float | None = None,
    max_bytes: float | None = None,
) -> dict[str, Option] | None:
    """node -> chosen option for the layers to factor; None when no choice fits."""
    options = [(p, o) for p in profiles for o in p.options]
    if not options:
        return {} if _fits(total_macs, max_macs) and _fits(total_bytes, max_bytes) else None
    rows, lower, upper = [], [], []
    for profile in profiles:  # at most one option per layer
        rows.append([1.0 if p is profile else 0.0 for p, _ in options])
        lower.append(0.0)
        upper.append(1.0)
    for total, limit, kind in (
        (total_macs, max_macs, "macs"),
        (total_bytes, max_bytes, "bytes"),
    ):
        if limit is not None:  # the options' savings over the unfactored layers
            rows.append([float(getattr(o, kind) - getattr(p, kind)) for p, o in options])
            lower.append(-np.inf)
            upper.append(float(limit - total))
    errors = np.array([o.error for _, o in options])
    result = milp(
        c=errors + 1e-12,  # among equal errors, factor no more layers than needed
        constraints=LinearConstraint(np.array(rows), lower, upper),
        integrality=np.ones(len(options)),
        bounds=Bounds(0, 1),
    )
    if result.status != 0 or result.x is None:
        return None
    return {p.node: o for (p, o), x in zip(options, result.x) if x > 0.5}


def _fits(value: int, limit: float | None) -> bool:
    return limit is None or value <= limit
