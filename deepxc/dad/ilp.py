"""The exact plan: an integer program solved by HiGHS (scipy.optimize.milp).

Variables: x[b, p] = 1 when block b runs on processor p (only where b has a time on p);
z[e, p, q] = 1 when edge e's source runs on p and its destination on q (only for p == q
or a linked pair), tied to x by sum_q z[e, p, q] = x[src, p] and sum_p z[e, p, q] =
x[dst, q], which makes z the product of the two x when they are 0/1, so z may stay
continuous; s[b] the start of b; C the latency; and y[a, b] = 1 when a runs before b,
only for pairs the edges do not already order and that may share a serial group with
both taking time.

    s[b] >= s[a] + sum_p time(a, p) x[a, p] + sum_{p != q} transfer(e, p, q) z[e, p, q]
    s[b] >= finish(a) - M (3 - y[a, b] - in_g(a) - in_g(b))   for each shared group g
    s[a] >= finish(b) - M (2 + y[a, b] - in_g(a) - in_g(b))
    C >= finish(b);  C >= the work of each serial group (sum of time(b, p) x[b, p])
    memory per processor and on the device;  the goal's limits

M bounds the latency: the serial schedule's largest makespan (every block's slowest time
plus every edge's slowest transfer), or less where the goal's limits or a known plan's
value (the cutoff) cap it. Times are scaled so that M is 1000 and energies likewise, as
HiGHS's absolute tolerances assume numbers of that order. The plan's numbers come from
`schedule` on the solution's assignment with the blocks in its order of start times."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from deepxc.dad.bounds import earliest_finish, latency_bound, time_after, work_energy_bound
from deepxc.dad.problem import Goal, Plan, PlanError, Problem
from deepxc.dad.schedule import Timeline

SCALE = 1000.0


class Infeasible(PlanError):
    """The integer program proved that no plan meets the goal's limits."""


class _Rows:
    """A sparse constraint matrix built a row at a time."""

    def __init__(self):
        self.entries: list[tuple[int, int, float]] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def add(self, terms: dict[int, float], lower: float, upper: float) -> None:
        row = len(self.lower)
        self.entries.extend((row, col, value) for col, value in terms.items() if value)
        self.lower.append(lower)
        self.upper.append(upper)

    def constraint(self, columns: int) -> LinearConstraint:
        rows, cols, values = zip(*self.entries) if self.entries else ((), (), ())
        matrix = coo_array((values, (rows, cols)), shape=(len(self.lower), columns))
        return LinearConstraint(matrix.tocsr(), self.lower, self.upper)


def solve_ilp(
    problem: Problem, goal: Goal, time_limit_s: float = 20.0, cutoff: float | None = None
) -> Plan:
    """The plan of least goal.objective within the goal's limits; PlanError if none.

    `cutoff`: the objective of a plan already known; only plans no worse are searched
    (which bounds the latency and so tightens M), and Infeasible then means none is
    better than that one."""
    timeline = Timeline(problem)
    blocks = problem.blocks
    known = {p.name for p in problem.processors}
    allowed = [[p for p in b.time_s if p in known] for b in blocks]
    edges = [(timeline.index[e.src], timeline.index[e.dst], e) for e in problem.edges]
    pairs = [
        [(p, q) for p in allowed[a] for q in allowed[b] if p == q or (p, q) in problem.links]
        for a, b, _ in edges
    ]
    horizon = sum(
        max((blocks[i].time_s[p] for p in allowed[i]), default=0.0) for i in range(len(blocks))
    )
    horizon += sum(
        max((problem.transfer_s(e, p, q) for p, q in pairs[k]), default=0.0)
        for k, (_, _, e) in enumerate(edges)
    )
    tolerance = 1 + 1e-6  # lets a plan equal to the cutoff through HiGHS's tolerances
    for cap in (
        goal.max_latency_s,
        cutoff * tolerance if cutoff is not None and goal.objective == "latency" else None,
        (cutoff * tolerance - work_energy_bound(problem)) / timeline.idle_w
        if cutoff is not None and goal.objective == "energy" and timeline.idle_w > 0
        else None,
    ):
        if cap is not None:
            horizon = min(horizon, max(cap, 0.0))
    unit_s = horizon / SCALE if horizon > 0 else 1.0
    big_m = SCALE if horizon > 0 else 1.0

    columns = 0

    def new(count: int = 1) -> int:
        nonlocal columns
        columns += count
        return columns - count

    x = {(i, p): new() for i in range(len(blocks)) for p in allowed[i]}
    z = {(k, p, q): new() for k in range(len(edges)) for p, q in pairs[k]}
    start = [new() for _ in blocks]
    latency = new()
    group_of = timeline.group
    busy = [  # serial group -> x columns of b's processors in it that take time
        {
            g: [x[i, p] for p in allowed[i] if group_of[p] == g and blocks[i].time_s[p] > 0]
            for g in {group_of[p] for p in allowed[i]}
        }
        for i in range(len(blocks))
    ]
    graph = nx.DiGraph([(a, b) for a, b, _ in edges])
    graph.add_nodes_from(range(len(blocks)))
    reach = {i: nx.descendants(graph, i) for i in graph}
    order_pairs = [
        (a, b, [g for g in busy[a] if busy[a][g] and busy[b].get(g)])
        for a in range(len(blocks))
        for b in range(a + 1, len(blocks))
        if b not in reach[a] and a not in reach[b]
    ]
    order_pairs = [(a, b, shared) for a, b, shared in order_pairs if shared]
    before = {(a, b): new() for a, b, _ in order_pairs}

    def finish(i: int, sign: float = 1.0) -> dict[int, float]:
        terms = {x[i, p]: sign * blocks[i].time_s[p] / unit_s for p in allowed[i]}
        terms[start[i]] = sign
        return terms

    earliest = earliest_finish(problem)
    after = time_after(problem)
    rows = _Rows()
    for i, block in enumerate(blocks):
        rows.add({x[i, p]: 1.0 for p in allowed[i]}, 1.0, 1.0)
        # C >= finish + the chain after it; start >= the earliest its inputs can arrive
        rows.add({latency: 1.0, **finish(i, -1.0)}, after[block.name] / unit_s, math.inf)
        head = {x[i, p]: -(earliest[block.name][p] - block.time_s[p]) / unit_s for p in allowed[i]}
        rows.add({start[i]: 1.0, **head}, 0.0, math.inf)
    for k, (a, b, edge) in enumerate(edges):
        for p in allowed[a]:
            rows.add({x[a, p]: -1.0, **{z[k, p, q]: 1.0 for pp, q in pairs[k] if pp == p}}, 0, 0)
        for q in allowed[b]:
            rows.add({x[b, q]: -1.0, **{z[k, p, q]: 1.0 for p, qq in pairs[k] if qq == q}}, 0, 0)
        terms = finish(a, -1.0)
        terms[start[b]] = 1.0
        for p, q in pairs[k]:
            terms[z[k, p, q]] = -problem.transfer_s(edge, p, q) / unit_s
        rows.add(terms, 0.0, math.inf)
    for a, b, shared in order_pairs:
        y = before[a, b]
        for g in shared:
            for first, second, sign, slack in ((a, b, -1.0, 3), (b, a, 1.0, 2)):
                terms = finish(first, -1.0)  # second starts after first ends, or y says not
                terms[start[second]] = 1.0
                terms[y] = sign * big_m
                for column in busy[a][g] + busy[b][g]:
                    terms[column] = terms.get(column, 0.0) - big_m
                rows.add(terms, -slack * big_m, math.inf)
    for group in set(group_of.values()):  # a serial group runs its blocks one at a time
        work = {x[i, p]: -blocks[i].time_s[p] / unit_s for (i, p) in x if group_of[p] == group}
        rows.add({latency: 1.0, **work}, 0.0, math.inf)
    for processor in problem.processors:
        if math.isfinite(processor.memory_bytes):
            terms = {x[i, p]: blocks[i].memory_bytes for (i, p) in x if p == processor.name}
            rows.add(terms, -math.inf, processor.memory_bytes)
    if goal.max_memory_bytes is not None:
        device = {p.name for p in problem.processors if p.on_device}
        terms = {x[i, p]: blocks[i].memory_bytes for (i, p) in x if p in device}
        rows.add(terms, -math.inf, goal.max_memory_bytes)

    energy = {x[i, p]: blocks[i].energy_j.get(p, 0.0) for (i, p) in x}
    for k, p, q in z:
        energy[z[k, p, q]] = problem.transfer_j(edges[k][2], p, q)
    energy[latency] = timeline.idle_w * unit_s
    most_energy = sum(
        max((blocks[i].energy_j.get(p, 0.0) for p in allowed[i]), default=0.0)
        for i in range(len(blocks))
    ) + sum(
        max((problem.transfer_j(e, p, q) for p, q in pairs[k]), default=0.0)
        for k, (_, _, e) in enumerate(edges)
    )
    unit_j = (most_energy + timeline.idle_w * horizon) / SCALE or 1.0
    energy_caps = [goal.max_energy_j]
    if cutoff is not None and goal.objective == "energy":
        energy_caps.append(cutoff * tolerance)
    if any(cap is not None for cap in energy_caps):
        rows.add(energy, -math.inf, min(cap for cap in energy_caps if cap is not None))

    lower = np.zeros(columns)
    upper = np.ones(columns)
    upper[start] = big_m
    upper[latency] = big_m
    lower[latency] = min(latency_bound(problem) / unit_s, big_m)
    integrality = np.zeros(columns)
    integrality[list(x.values()) + list(before.values())] = 1
    cost = np.zeros(columns)
    if goal.objective == "energy":
        for column, value in energy.items():
            cost[column] += value / unit_j
        objective_unit = unit_j
    else:
        cost[latency] = 1.0
        objective_unit = unit_s
    result = milp(
        c=cost,
        constraints=rows.constraint(columns),
        integrality=integrality,
        bounds=Bounds(lower, upper),
        options={"time_limit": time_limit_s, "mip_rel_gap": 1e-7},
    )
    if result.status == 2:
        raise Infeasible("no plan meets the limits")
    if result.x is None:
        raise PlanError(f"the integer program found no plan: {result.message}")
    placed = [max(allowed[i], key=lambda p: result.x[x[i, p]]) for i in range(len(blocks))]
    starts = [result.x[start[i]] for i in range(len(blocks))]
    finishes = [starts[i] + blocks[i].time_s[placed[i]] / unit_s for i in range(len(blocks))]
    order = nx.lexicographical_topological_sort(
        graph, key=lambda i: (round(starts[i], 6), round(finishes[i], 6), i)
    )
    plan = timeline.plan(placed, list(order), method="ilp")
    bound = getattr(result, "mip_dual_bound", None)
    plan.bound = bound * objective_unit if bound is not None and math.isfinite(bound) else None
    plan.optimal = result.status == 0
    return plan
