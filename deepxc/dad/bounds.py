"""A lower bound on the optimum of a plan's objective, valid for any assignment and
schedule (limits and memory only shrink the set of plans, so they are ignored):

- latency >= the longest chain when each block may pick its processor anew for every
  block it feeds (finish(b, p) = time(b, p) + max over inputs a of min over q of
  finish(a, q) + transfer(q -> p)): every schedule meets it block by block;
- latency >= the least total work spread evenly over the serial groups: each group runs
  its blocks one after another, so the busiest one holds at least the mean;
- energy >= the sum over blocks of the least of (its energy + its inputs' least
  transfer energy to it) over its processors, + the idle power times the latency bound
  (energy grows with latency)."""

from __future__ import annotations

import math

from deepxc.dad.problem import Goal, Problem


def earliest_finish(problem: Problem) -> dict[str, dict[str, float]]:
    """block -> processor -> a time before which the block cannot finish there: its time
    plus, over its inputs, the earliest arrival from any processor of the input."""
    processors = {p.name for p in problem.processors}
    finish: dict[str, dict[str, float]] = {}
    inputs: dict[str, list] = {b.name: [] for b in problem.blocks}
    for edge in problem.edges:
        inputs[edge.dst].append(edge)
    for block in problem.blocks:  # a topological order
        finish[block.name] = {}
        for p, time in block.time_s.items():
            if p not in processors:
                continue
            ready = 0.0
            for edge in inputs[block.name]:
                arrivals = [
                    f + problem.transfer_s(edge, q, p)
                    for q, f in finish[edge.src].items()
                    if q == p or (q, p) in problem.links
                ]
                ready = max(ready, min(arrivals, default=math.inf))
            finish[block.name][p] = ready + time
    return finish


def least_time(problem: Problem, block) -> float:
    known = {p.name for p in problem.processors}
    return min((t for p, t in block.time_s.items() if p in known), default=0.0)


def time_after(problem: Problem) -> dict[str, float]:
    """block -> the longest chain of blocks after it, each at its fastest, no transfers."""
    blocks = {b.name: b for b in problem.blocks}
    after = {b.name: 0.0 for b in problem.blocks}
    outputs: dict[str, list[str]] = {b.name: [] for b in problem.blocks}
    for edge in problem.edges:
        outputs[edge.src].append(edge.dst)
    for block in reversed(problem.blocks):
        after[block.name] = max(
            (after[d] + least_time(problem, blocks[d]) for d in outputs[block.name]),
            default=0.0,
        )
    return after


def latency_bound(problem: Problem) -> float:
    finish = earliest_finish(problem)
    chain = max((min(f.values(), default=math.inf) for f in finish.values()), default=0.0)
    groups = {p.serial_group for p in problem.processors}
    least_work = sum(least_time(problem, b) for b in problem.blocks)
    return max(chain, least_work / max(len(groups), 1))


def work_energy_bound(problem: Problem) -> float:
    """The least energy of the blocks and transfers, without the idle power's: each block
    at the processor where its energy plus its inputs' least transfer energy to there
    is least (every edge counted once, at the block it feeds)."""
    known = {p.name for p in problem.processors}
    options = {b.name: [p for p in b.time_s if p in known] for b in problem.blocks}
    inputs: dict[str, list] = {b.name: [] for b in problem.blocks}
    for edge in problem.edges:
        inputs[edge.dst].append(edge)
    total = 0.0
    for block in problem.blocks:
        costs = []
        for p in options[block.name]:
            cost = block.energy_j.get(p, 0.0)
            for edge in inputs[block.name]:
                moves = [
                    problem.transfer_j(edge, q, p)
                    for q in options[edge.src]
                    if q == p or (q, p) in problem.links
                ]
                cost += min(moves, default=math.inf)
            costs.append(cost)
        total += min(costs, default=0.0)
    return total


def energy_bound(problem: Problem) -> float:
    idle_w = sum(p.idle_w for p in problem.processors)
    idle = idle_w * latency_bound(problem) if idle_w else 0.0
    return work_energy_bound(problem) + idle


def lower_bound(problem: Problem, goal: Goal) -> float:
    """A value no plan's objective (goal.objective) is below."""
    if goal.objective == "energy":
        return energy_bound(problem)
    return latency_bound(problem)
