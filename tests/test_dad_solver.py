"""The DAD planners against an exhaustive search (tests/dad_brute.py) and hand-computed
schedules."""

from __future__ import annotations

import itertools
import math
import re

import networkx as nx
import pytest
from dad_brute import brute_force
from dad_problems import layered_problem, random_problem

from deepxc.dad.bounds import lower_bound
from deepxc.dad.heuristic import solve_heuristic
from deepxc.dad.ilp import Infeasible, solve_ilp
from deepxc.dad.problem import Block, Edge, Goal, Link, PlanError, Problem, Processor
from deepxc.dad.schedule import check, evaluate
from deepxc.dad.solve import solve

SEEDS = range(64)  # 50 graphs of 4..10 blocks, 14 of 11 or 12 (slow)


def size(seed: int) -> int:
    return 4 + seed % 9


def _chain() -> Problem:
    link = Link(latency_s=1e-4, bytes_per_s=1e9, energy_j_per_byte=1e-9)
    io = {"time_s": {"cpu": 0.0}, "energy_j": {"cpu": 0.0}, "kind": "io"}
    return Problem(
        processors=[Processor("cpu", idle_w=0.5), Processor("gpu", idle_w=1.0)],
        blocks=[
            Block("in", [], **io),
            Block("a", ["a"], {"cpu": 4e-3, "gpu": 1e-3}, {"cpu": 4e-3, "gpu": 2e-3}, 1e6),
            Block("b", ["b"], {"cpu": 2e-3, "gpu": 3e-3}, {"cpu": 1e-3, "gpu": 3e-3}, 5e5),
            Block("out", [], **io),
        ],
        edges=[Edge("in", "a", 1e6), Edge("a", "b", 2e6), Edge("b", "out", 5e5)],
        links={("cpu", "gpu"): link, ("gpu", "cpu"): link},
    )


def test_evaluate_chain_by_hand():
    plan = evaluate(_chain(), {"in": "cpu", "a": "gpu", "b": "cpu", "out": "cpu"})
    # in -> a crosses: 0.1 ms + 1 MB at 1 GB/s; a -> b: 0.1 ms + 2 ms; b -> out stays
    assert plan.start_s == pytest.approx({"in": 0, "a": 1.1e-3, "b": 4.2e-3, "out": 6.2e-3})
    assert plan.finish_s == pytest.approx({"in": 0, "a": 2.1e-3, "b": 6.2e-3, "out": 6.2e-3})
    assert plan.latency_s == pytest.approx(6.2e-3)
    # blocks 2 + 1 mJ, transfers 1 + 2 mJ, idle 1.5 W x 6.2 ms
    assert plan.energy_j == pytest.approx(3e-3 + 3e-3 + 1.5 * 6.2e-3)
    assert plan.memory_bytes == pytest.approx({"cpu": 5e5, "gpu": 1e6})


def _fork(gpu_group: str) -> Problem:
    link = Link(latency_s=5e-4, bytes_per_s=1e9)
    return Problem(
        processors=[Processor("cpu"), Processor("gpu", group=gpu_group)],
        blocks=[
            Block("a", ["a"], {"cpu": 1e-3}),
            Block("b", ["b"], {"cpu": 2e-3, "gpu": 1e-3}),
            Block("c", ["c"], {"cpu": 2e-3, "gpu": 1e-3}),
            Block("tap", [], {"cpu": 0.0}, kind="io"),
        ],
        edges=[Edge("a", "b", 0), Edge("a", "c", 0), Edge("a", "tap", 0)],
        links={("cpu", "gpu"): link, ("gpu", "cpu"): link},
    )


@pytest.mark.parametrize(
    "gpu_group, order, finishes",
    [
        # gpu shares the cpu's cores: c waits for b, whichever the order puts first
        ("cpu", ["a", "b", "c", "tap"], {"a": 1e-3, "b": 3e-3, "c": 4e-3}),
        ("cpu", ["a", "c", "b", "tap"], {"a": 1e-3, "c": 2.5e-3, "b": 4.5e-3}),
        ("", ["a", "b", "c", "tap"], {"a": 1e-3, "b": 3e-3, "c": 2.5e-3}),
    ],
)
def test_evaluate_fork_with_shared_group_by_hand(gpu_group, order, finishes):
    assignment = {"a": "cpu", "b": "cpu", "c": "gpu", "tap": "cpu"}
    plan = evaluate(_fork(gpu_group), assignment, order)
    # the zero-time block takes no processor time: it does not wait for b
    assert plan.finish_s == pytest.approx({**finishes, "tap": 1e-3})
    assert plan.latency_s == pytest.approx(max(finishes.values()))


def test_evaluate_refuses_bad_orders_and_assignments():
    problem = _fork("")
    assignment = {"a": "cpu", "b": "cpu", "c": "gpu", "tap": "cpu"}
    with pytest.raises(ValueError, match="not topological"):
        evaluate(problem, assignment, ["b", "a", "c", "tap"])
    with pytest.raises(PlanError, match="'a' cannot run on processor 'gpu'"):
        evaluate(problem, {**assignment, "a": "gpu"})


def test_check_names_broken_limits():
    problem = _chain()
    plan = evaluate(problem, {"in": "cpu", "a": "gpu", "b": "cpu", "out": "cpu"})
    assert check(problem, plan, Goal(max_latency_s=7e-3, max_memory_bytes=2e6)) == []
    broken = check(problem, plan, Goal(max_latency_s=5e-3, max_energy_j=1e-2))
    assert broken == [
        "latency 6.20 ms is over --max-latency-ms 5",
        "energy 15.30 mJ is over --max-energy-mj 10",
    ]


def _all_plans_best(problem: Problem, goal: Goal) -> float:
    """The optimum over every assignment and every topological order, through evaluate."""
    graph = nx.DiGraph([(e.src, e.dst) for e in problem.edges])
    graph.add_nodes_from(b.name for b in problem.blocks)
    orders = list(nx.all_topological_sorts(graph))
    best = math.inf
    for choice in itertools.product(*(list(b.time_s) for b in problem.blocks)):
        assignment = dict(zip([b.name for b in problem.blocks], choice))
        for order in orders:
            try:
                plan = evaluate(problem, assignment, order)
            except PlanError:  # a tensor between unlinked processors
                break
            if not check(problem, plan, goal):
                best = min(best, plan.objective(goal))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_brute_force_equals_every_plan_through_evaluate(seed):
    problem = random_problem(seed, 5)
    fastest = brute_force(problem, Goal("latency"))
    limit = fastest[0] * 1.1 if fastest else None
    for goal in (Goal("latency"), Goal("energy"), Goal("energy", max_latency_s=limit)):
        found = brute_force(problem, goal)
        best = _all_plans_best(problem, goal)
        assert (found[0] if found else math.inf) == pytest.approx(best, rel=1e-9)


def test_a_memory_cap_moves_a_block_by_hand():
    # x runs only on the gpu; y would be fastest there too but no longer fits beside x
    problem = Problem(
        processors=[Processor("cpu"), Processor("gpu", memory_bytes=1.5e6)],
        blocks=[
            Block("x", ["x"], {"gpu": 1e-3}, {"gpu": 0.0}, 1e6),
            Block("y", ["y"], {"gpu": 1e-3, "cpu": 5e-3}, {"gpu": 0.0, "cpu": 0.0}, 1e6),
        ],
        edges=[],
    )
    for solver in (solve_ilp, solve_heuristic):
        plan = solver(problem, Goal("latency"))
        assert plan.processor == {"x": "gpu", "y": "cpu"}
        assert plan.latency_s == pytest.approx(5e-3)
    assert brute_force(problem, Goal("latency"))[0] == pytest.approx(5e-3)


def _check_solvers(problem: Problem, goal: Goal) -> None:
    optimum = brute_force(problem, goal)
    if optimum is None:
        with pytest.raises(PlanError):
            solve_ilp(problem, goal)
        return
    best, _ = optimum
    plan = solve_ilp(problem, goal)
    assert plan.optimal
    assert plan.objective(goal) == pytest.approx(best, rel=1e-6)
    assert not check(problem, plan, goal)
    assert lower_bound(problem, goal) <= best * (1 + 1e-9)
    assert plan.bound <= best * (1 + 1e-6)
    heuristic = solve_heuristic(problem, goal)
    if not check(problem, heuristic, goal):
        value = heuristic.objective(goal)
        assert value >= best * (1 - 1e-9)
        assert value <= best * (1 + heuristic.gap(goal)) * (1 + 1e-9)


@pytest.mark.parametrize("seed", [s for s in SEEDS if size(s) <= 10])
def test_ilp_equals_brute_force_latency(seed):
    _check_solvers(random_problem(seed, size(seed)), Goal("latency"))


@pytest.mark.parametrize("seed", [s for s in SEEDS if size(s) <= 10 and s % 3 == 0])
def test_ilp_equals_brute_force_energy(seed):
    _check_solvers(random_problem(seed, size(seed)), Goal("energy"))


@pytest.mark.parametrize("seed", [s for s in SEEDS if size(s) <= 10 and s % 4 == 1])
def test_ilp_equals_brute_force_energy_under_latency_limit(seed):
    problem = random_problem(seed, size(seed))
    fastest = brute_force(problem, Goal("latency"))
    frugal = brute_force(problem, Goal("energy"))
    if fastest is None:
        pytest.skip("no plan at all")
    frugal_latency = evaluate(problem, frugal[1]).latency_s  # its best order is no slower
    limit = (fastest[0] + min(frugal_latency, 2 * fastest[0])) / 2
    _check_solvers(problem, Goal("energy", max_latency_s=limit))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [s for s in SEEDS if size(s) > 10])
def test_ilp_equals_brute_force_big(seed):
    problem = random_problem(seed, size(seed))
    _check_solvers(problem, Goal("latency"))
    _check_solvers(problem, Goal("energy"))


def _amount(message: str, unit: str) -> float:
    found = re.search(rf"\(([0-9.]+) {unit} over\)", message)
    assert found, message
    return float(found.group(1))


@pytest.mark.parametrize("seed", [3, 8])
def test_unmeetable_latency_and_energy_say_by_how_much(seed):
    problem = random_problem(seed, 7)
    fastest, _ = brute_force(problem, Goal("latency"))
    with pytest.raises(PlanError, match="--max-latency-ms") as error:
        solve(problem, Goal(max_latency_s=fastest * 0.8))
    assert _amount(str(error.value), "ms") == pytest.approx(fastest * 0.2 * 1e3, abs=0.006)
    least, _ = brute_force(problem, Goal("energy"))
    with pytest.raises(PlanError, match="--max-energy-mj") as error:
        solve(problem, Goal("latency", max_energy_j=least * 0.8))
    assert _amount(str(error.value), "mJ") == pytest.approx(least * 0.2 * 1e3, abs=0.006)


def test_unmeetable_memory_says_by_how_much():
    problem = random_problem(5, 6, memory_caps=False)
    device = [p.name for p in problem.processors if p.on_device]
    floor = sum(  # each block off the device where it can run elsewhere
        0.0 if set(b.time_s) - set(device) else b.memory_bytes for b in problem.blocks
    )
    assert floor > 0
    with pytest.raises(PlanError, match="--max-memory") as error:
        solve(problem, Goal(max_memory_bytes=floor / 2))
    assert _amount(str(error.value), "MB") == pytest.approx(floor / 2 / 1e6, abs=0.006)


def test_solve_keeps_the_better_plan_and_the_best_bound():
    problem = random_problem(13, 8)
    optimum, _ = brute_force(problem, Goal("latency"))
    plan = solve(problem, Goal("latency"))
    assert plan.latency_s == pytest.approx(optimum, rel=1e-6)
    assert plan.bound == pytest.approx(optimum, rel=1e-6)  # the ILP proved it
    assert plan.optimal


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_ilp_cutoff_keeps_only_plans_no_worse(objective):
    problem = random_problem(21, 8)
    goal = Goal(objective)
    optimum, _ = brute_force(problem, goal)
    with pytest.raises(Infeasible):
        solve_ilp(problem, goal, cutoff=optimum * 0.99)
    plan = solve_ilp(problem, goal, cutoff=optimum)
    assert plan.objective(goal) == pytest.approx(optimum, rel=1e-6)


@pytest.mark.parametrize("seed", [13, 22, 31])
def test_solve_equals_brute_force_under_limits(seed):
    problem = random_problem(seed, 8)
    fastest, _ = brute_force(problem, Goal("latency"))
    goal = Goal("energy", max_latency_s=fastest * 1.2)
    optimum, _ = brute_force(problem, goal)
    plan = solve(problem, goal)
    assert plan.energy_j == pytest.approx(optimum, rel=1e-6)
    assert plan.latency_s <= fastest * 1.2 * (1 + 1e-9)
    assert plan.bound <= plan.energy_j


@pytest.mark.slow
def test_the_heuristic_plans_500_blocks_within_its_bound():
    problem = layered_problem(1, 500)
    plan = solve(problem, Goal("latency"))  # how fast: benchmarks/dad_solver.py
    assert plan.method == "heuristic"
    assert lower_bound(problem, Goal("latency")) <= plan.latency_s
