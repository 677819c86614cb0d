"""A good plan quickly, for graphs too big for the integer program.

List scheduling (HEFT without insertion): blocks by decreasing upward rank (their mean
time plus the longest mean path after them), each put where it finishes first (goal
latency) or where it adds the least energy, counting the idle power over any latency it
adds (goal energy), preferring the processors its memory still fits. Then a local
search moves one block at a time to another processor (blocks on the critical chain
first) and keeps a move when it lowers the excess over the goal's limits or, with no more
excess, the objective; when no move helps it restarts from the best plan with a few
blocks moved at random (seeded). The work is bounded by a number of schedule evaluations
that shrinks as the graph grows, so 500 blocks plan in well under a second."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import networkx as nx

from deepxc.dad.bounds import lower_bound
from deepxc.dad.problem import Goal, Plan, PlanError, Problem
from deepxc.dad.schedule import Timeline

WORK = 600_000  # schedule evaluations x (blocks + edges) the local search may spend
EVALUATIONS = 3000  # and at most this many evaluations


class _Search:
    """One problem's blocks, the order they are scheduled in, and the goal's limits."""

    def __init__(self, problem: Problem, goal: Goal):
        self.problem = problem
        self.goal = goal
        self.timeline = Timeline(problem)
        known = {p.name for p in problem.processors}
        self.options = [[p for p in b.time_s if p in known] for b in problem.blocks]
        self.caps = {p.name: p.memory_bytes for p in problem.processors}
        self.device = {p.name for p in problem.processors if p.on_device}
        self.order = self._rank_order()
        self.needs_energy = goal.objective == "energy" or goal.max_energy_j is not None
        self.needs_memory = goal.max_memory_bytes is not None or any(
            math.isfinite(cap) for cap in self.caps.values()
        )

    def _rank_order(self) -> list[int]:
        timeline, blocks = self.timeline, self.problem.blocks
        rank = [0.0] * len(blocks)
        for i in reversed(range(len(blocks))):
            mean = sum(blocks[i].time_s[p] for p in self.options[i]) / max(len(self.options[i]), 1)
            after = 0.0
            for j, edge in timeline.succs[i]:
                moves = [link.time_s(edge.nbytes) for link in self.problem.links.values()]
                after = max(after, rank[j] + (sum(moves) / len(moves) if moves else 0.0))
            rank[i] = mean + after
        graph = nx.DiGraph((i, j) for i in range(len(blocks)) for j, _ in timeline.succs[i])
        graph.add_nodes_from(range(len(blocks)))
        return list(nx.lexicographical_topological_sort(graph, key=lambda i: (-rank[i], i)))

    def memory(self, placed: list[str]) -> dict[str, float]:
        used = dict.fromkeys(self.caps, 0.0)
        for block, p in zip(self.problem.blocks, placed):
            used[p] += block.memory_bytes
        return used

    def excess(self, latency: float, energy: float, used: dict[str, float] | None) -> float:
        """How far the plan is over its limits, relative to each limit (`used`: memory by
        processor, None when nothing limits it)."""
        goal = self.goal
        used = used or dict.fromkeys(self.caps, 0.0)
        over = sum(max(0.0, used[p] / cap - 1) for p, cap in self.caps.items() if cap > 0)
        device = sum(used[p] for p in self.device)
        for value, limit in (
            (latency, goal.max_latency_s),
            (energy, goal.max_energy_j),
            (device, goal.max_memory_bytes),
        ):
            if limit is not None:
                over += max(0.0, value / limit - 1) if limit > 0 else float(value > 0)
        return over

    def score(self, placed: list[str]) -> _Score:
        try:
            start, finish = self.timeline.run(placed, self.order)
        except PlanError:  # no link for an edge the move makes cross
            return _Score(math.inf, math.inf, math.inf, [], [])
        latency = max(finish, default=0.0)
        energy = self.timeline.energy(placed, latency) if self.needs_energy else 0.0
        over = self.excess(latency, energy, self.memory(placed) if self.needs_memory else None)
        if self.goal.objective == "latency":
            return _Score(over, latency, sum(finish), start, finish)
        return _Score(over, energy, latency, start, finish)

    def list_schedule(self) -> list[str]:
        timeline, blocks, goal = self.timeline, self.problem.blocks, self.goal
        placed: list[str] = [""] * len(blocks)
        finish = [0.0] * len(blocks)
        group_free: dict[str, float] = {}
        used = dict.fromkeys(self.caps, 0.0)
        makespan = 0.0
        for i in self.order:
            best = None
            for p in self.options[i]:
                ready, spent = 0.0, blocks[i].energy_j.get(p, 0.0)
                try:
                    for j, edge in timeline.preds[i]:
                        seconds, joules = timeline.transfer(edge, placed[j], p)
                        ready = max(ready, finish[j] + seconds)
                        spent += joules
                except PlanError:
                    continue
                duration = blocks[i].time_s[p]
                if duration > 0:
                    ready = max(ready, group_free.get(timeline.group[p], 0.0))
                end = ready + duration
                trial = dict(used)
                trial[p] += blocks[i].memory_bytes
                over = self.excess(0.0, 0.0, trial)
                if goal.objective == "latency":
                    key = (over, end, spent)
                else:
                    key = (over, spent + timeline.idle_w * max(0.0, end - makespan), end)
                if best is None or key < best[0]:
                    best = (key, p, end)
            if best is None:
                name = blocks[i].name
                raise PlanError(f"block '{name}': no processor can receive its inputs")
            _, p, end = best
            placed[i], finish[i] = p, end
            used[p] += blocks[i].memory_bytes
            if blocks[i].time_s[p] > 0:
                group_free[timeline.group[p]] = end
            makespan = max(makespan, end)
        return placed

    def critical(self, placed: list[str], start: list[float], finish: list[float]) -> list[int]:
        """The chain of blocks, last first, whose finishes set the latency."""
        timeline = self.timeline
        before: dict[int, int] = {}  # block -> the block its serial group ran just before it
        last: dict[str, int] = {}
        for i in self.order:
            if self.problem.blocks[i].time_s[placed[i]] > 0:
                group = timeline.group[placed[i]]
                if group in last:
                    before[i] = last[group]
                last[group] = i
        if not finish:  # no schedule: an edge crosses processors with no link
            return []
        chain = [max(range(len(finish)), key=finish.__getitem__)]
        while len(chain) <= len(finish):
            i = chain[-1]
            tolerance = 1e-12 + 1e-9 * start[i]
            inputs = [
                j
                for j, edge in timeline.preds[i]
                if abs(finish[j] + timeline.transfer(edge, placed[j], placed[i])[0] - start[i])
                <= tolerance
            ]
            if inputs:
                chain.append(inputs[0])
            elif i in before and abs(finish[before[i]] - start[i]) <= tolerance:
                chain.append(before[i])
            else:
                break
        return chain

    def descend(self, placed: list[str], now: _Score, budget: int) -> tuple:
        """Single moves until none improves or the budget is spent."""
        while budget > 0:
            candidates = self.critical(placed, now.start, now.finish)
            on_chain = set(candidates)
            candidates += [i for i in range(len(placed)) if i not in on_chain]
            moved = False
            for i in candidates:
                for p in self.options[i]:
                    if p == placed[i] or budget <= 0:
                        continue
                    trial = list(placed)
                    trial[i] = p
                    budget -= 1
                    result = self.score(trial)
                    if result.better(now):
                        placed, now, moved = trial, result, True
                        break
                if moved or budget <= 0:
                    break
            if not moved:
                break
        return placed, now, budget

    def improve(self, placed: list[str]) -> list[str]:
        """Local search from `placed`, restarted from the best plan with a few blocks moved
        at random (seeded: the same problem gets the same plan) while the budget lasts."""
        budget = min(EVALUATIONS, max(100, WORK // max(len(placed) + len(self.problem.edges), 1)))
        best, best_score, budget = self.descend(placed, self.score(placed), budget)
        rng = random.Random(0)
        kick = max(2, len(placed) // 20)
        while budget > 0:
            trial = list(best)
            for i in rng.sample(range(len(trial)), min(kick, len(trial))):
                trial[i] = rng.choice(self.options[i])
            budget -= 1
            trial, score, budget = self.descend(trial, self.score(trial), budget)
            if score.better(best_score):
                best, best_score = trial, score
        return best


@dataclass
class _Score:
    """A plan's excess over its limits, objective, a tie-break (the sum of finishes for
    latency, which lets the search cross plateaus; latency for energy), and schedule."""

    over: float
    value: float
    tie: float
    start: list[float]
    finish: list[float]

    def better(self, other: _Score) -> bool:
        if self.over < other.over - 1e-12:
            return True
        if self.over > other.over + 1e-12:
            return False
        if self.value != other.value:
            return self.value < other.value * (1 - 1e-9)
        return self.tie < other.tie * (1 - 1e-9)


def solve_heuristic(problem: Problem, goal: Goal) -> Plan:
    """A plan by list scheduling and local search; its bound is `lower_bound`. It may
    break the goal's limits when it finds no plan that keeps them (see schedule.check)."""
    search = _Search(problem, goal)
    placed = search.improve(search.list_schedule())
    plan = search.timeline.plan(placed, search.order, method="heuristic")
    plan.bound = lower_bound(problem, goal)
    return plan
