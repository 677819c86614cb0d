"""The planner's entry: the heuristic always, the integer program on graphs small enough
for it, the better plan of the two with the best bound known; and, when no plan meets
the goal's limits, an error saying which limit and by how much (each limit's best
achievable value is found by planning for that quantity alone)."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from deepxc.dad.bounds import lower_bound
from deepxc.dad.heuristic import solve_heuristic
from deepxc.dad.ilp import Infeasible, solve_ilp
from deepxc.dad.problem import Goal, Plan, PlanError, Problem
from deepxc.dad.schedule import check

ILP_MAX_BLOCKS = 60  # larger problems get the heuristic's plan (the ILP rarely improves it)


def solve(
    problem: Problem, goal: Goal, time_limit_s: float = 20.0, ilp_max_blocks: int | None = None
) -> Plan:
    """The best plan found within the goal's limits; PlanError naming the limit no plan
    meets."""
    plans = []
    try:
        heuristic = solve_heuristic(problem, goal)
        if not check(problem, heuristic, goal):
            plans.append(heuristic)
    except PlanError:  # it gave up on a block no processor could receive the inputs of
        pass
    bound = lower_bound(problem, goal)
    exact, proven = None, False
    ilp_max_blocks = ILP_MAX_BLOCKS if ilp_max_blocks is None else ilp_max_blocks
    if len(problem.blocks) <= ilp_max_blocks:
        known = plans[0].objective(goal) if plans else None
        try:
            exact = solve_ilp(problem, goal, time_limit_s, cutoff=known)
        except Infeasible:
            if known is None:
                proven = True
            else:  # nothing beats the heuristic's plan
                plans[0].optimal = True
        except PlanError:  # out of time before any plan
            exact = None
        if exact is not None:
            plans.append(exact)
            if exact.bound is not None:
                bound = max(bound, exact.bound)
    if not plans:
        raise PlanError(_why_none(problem, goal, proven, time_limit_s, ilp_max_blocks))
    best = min(plans, key=lambda plan: (plan.objective(goal), plan.method != "ilp"))
    best.bound = min(bound, best.objective(goal))  # never above a plan's own value
    best.optimal = best.optimal or (exact is not None and exact.optimal)
    if best.optimal:
        best.bound = best.objective(goal)
    return best


def _why_none(
    problem: Problem, goal: Goal, proven: bool, time_limit_s: float, ilp_max_blocks: int
) -> str:
    """Which of the goal's limits no plan meets, and by how much."""
    device_floor = _least_device_memory(problem)
    if device_floor is None:
        return "no plan fits the blocks in the processors' memory"
    if goal.max_memory_bytes is not None and device_floor > goal.max_memory_bytes * (1 + 1e-9):
        return _over(
            "--max-memory",
            goal.max_memory_bytes / 1e6,
            device_floor / 1e6,
            "MB",
            "the blocks need at least",
        )
    best = {}
    for objective, limit, scale, flag, unit, what in (
        ("latency", goal.max_latency_s, 1e3, "--max-latency-ms", "ms", "the fastest plan"),
        ("energy", goal.max_energy_j, 1e3, "--max-energy-mj", "mJ", "the least-energy plan"),
    ):
        if limit is None:
            continue
        alone = Goal(objective=objective, max_memory_bytes=goal.max_memory_bytes)
        try:
            plan = solve(problem, alone, time_limit_s, ilp_max_blocks)
        except PlanError as error:
            return str(error)
        value = plan.objective(alone)
        if value > limit * (1 + 1e-9):
            said = f"{what} takes" if plan.optimal else f"{what} found takes"
            if not plan.optimal and plan.bound is not None and plan.bound > limit:
                value, said = plan.bound, "every plan needs at least"
            return _over(flag, limit * scale, value * scale, unit, said)
        best[flag] = f"{what} takes {value * scale:.2f} {unit}"
    limits = [
        f"{flag} {value:g}"
        for flag, value in (
            ("--max-latency-ms", goal.max_latency_s and goal.max_latency_s * 1e3),
            ("--max-energy-mj", goal.max_energy_j and goal.max_energy_j * 1e3),
            ("--max-memory", goal.max_memory_bytes and goal.max_memory_bytes / 1e6),
        )
        if value is not None
    ]
    if not limits:
        return "no plan found: every assignment sends a tensor between unlinked processors"
    searched = "" if proven else " found"
    detail = f" ({'; '.join(best.values())})" if best else ""
    return f"no plan{searched} meets {' and '.join(limits)} together{detail}"


def _over(flag: str, limit: float, value: float, unit: str, what: str) -> str:
    return (
        f"no plan meets {flag} {limit:g}: {what} {value:.2f} {unit} "
        f"({value - limit:.2f} {unit} over)"
    )


def _least_device_memory(problem: Problem) -> float | None:
    """The least memory the blocks can hold on the device's processors with each
    processor's own memory respected (None: they do not fit); transfers are ignored."""
    names = {p.name: p for p in problem.processors}
    x = [(i, p) for i, b in enumerate(problem.blocks) for p in b.time_s if p in names]
    if not x:
        return 0.0
    rows, lower, upper = [], [], []
    for i in range(len(problem.blocks)):
        rows.append([1.0 if j == i else 0.0 for j, _ in x])
        lower.append(1.0)
        upper.append(1.0)
    for processor in problem.processors:
        if math.isfinite(processor.memory_bytes):
            rows.append(
                [problem.blocks[i].memory_bytes if p == processor.name else 0.0 for i, p in x]
            )
            lower.append(-np.inf)
            upper.append(processor.memory_bytes)
    cost = [problem.blocks[i].memory_bytes if names[p].on_device else 0.0 for i, p in x]
    result = milp(
        c=np.array(cost) / 1e6,
        constraints=LinearConstraint(np.array(rows), lower, upper),
        integrality=np.ones(len(x)),
        bounds=Bounds(0, 1),
    )
    if result.status != 0 or result.x is None:
        return None
    return float(np.dot(cost, np.round(result.x)))
