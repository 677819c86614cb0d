"""The DAD planners on random layered graphs of three processors: the heuristic (with the
whole `solve` on the largest) on 100 to 500 blocks, the integer program on 12 to 60
(given the heuristic's value as a cutoff, as `solve` does).

python benchmarks/dad_solver.py [--seed 1] [--time-limit 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from dad_problems import layered_problem  # noqa: E402

from deepxc.dad.heuristic import solve_heuristic  # noqa: E402
from deepxc.dad.ilp import Infeasible, solve_ilp  # noqa: E402
from deepxc.dad.problem import Goal, PlanError  # noqa: E402
from deepxc.dad.solve import solve  # noqa: E402


def timed(function, *args, **kwargs):
    began = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=20.0, help="ILP seconds per graph")
    args = parser.parse_args()
    print(
        f"{'solver':10} {'blocks':>6} {'goal':8} {'time s':>7} {'value':>10} {'bound':>10} "
        f"{'gap':>7}"
    )
    for blocks in (100, 250, 500):
        problem = layered_problem(args.seed, blocks)
        for objective, unit in (("latency", "ms"), ("energy", "mJ")):
            goal = Goal(objective)
            plan, seconds = timed(solve_heuristic, problem, goal)
            report("heuristic", blocks, goal, seconds, plan, unit)
    for blocks in (12, 30, 60):
        problem = layered_problem(args.seed, blocks, width=4)
        for objective, unit in (("latency", "ms"), ("energy", "mJ")):
            goal = Goal(objective)
            heuristic = solve_heuristic(problem, goal)
            known = heuristic.objective(goal)
            try:
                plan, seconds = timed(
                    solve_ilp, problem, goal, time_limit_s=args.time_limit, cutoff=known
                )
            except Infeasible:  # no plan better than the heuristic's
                print(f"ilp        {blocks:6} {objective:8} proved the heuristic's plan optimal")
                continue
            except PlanError as error:
                print(f"ilp        {blocks:6} {objective:8} {error} (heuristic: {known * 1e3:.3f})")
                continue
            report("ilp", blocks, goal, seconds, plan, unit)
            print(f"{'':10} {'':6} {'':8} {'':7} {known * 1e3:10.3f} (the heuristic's value)")
    plan, seconds = timed(solve, layered_problem(args.seed, 500), Goal("latency"))
    print(f"500 blocks: planned in {seconds:.2f} s ({plan.method})")
    return 0


def report(solver: str, blocks: int, goal: Goal, seconds: float, plan, unit: str) -> None:
    gap = plan.gap(goal)
    bound = plan.bound * 1e3 if plan.bound is not None else float("nan")
    proven = " optimal" if plan.optimal else ""
    print(
        f"{solver:10} {blocks:6} {goal.objective:8} {seconds:7.2f} "
        f"{plan.objective(goal) * 1e3:10.3f} {bound:10.3f} "
        f"{'' if gap is None else f'{gap:7.1%}'} {unit}{proven}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
