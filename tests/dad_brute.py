"""The optimal plan by exhaustive search, independent of deepxc's solvers and of
`deepxc.dad.schedule` (it reads only the problem's data), to check them on small graphs.

It enumerates every assignment and every topological order, scheduling each block at the
end of its serial group's timeline (after every block of the group placed before it, and
after its inputs have arrived). That reaches an optimum for a regular objective (latency,
and energy = constant terms + idle power * latency): take an optimal schedule and list
its blocks by (start, finish, position in the problem's order). The list is topological
(an edge a -> b has start(b) >= finish(a) >= start(a), and when both starts are equal,
finish(a) = start(a) = start(b) <= finish(b), the problem's order breaking the last tie).
Appending the blocks in that order starts each no later than the optimal schedule does,
by induction: its inputs finish no later, so they arrive no later; and the block placed
last in its group before it (both taking time) starts no later, so by the groups' rule it
finished by this block's start (otherwise this one, taking time, would overlap it).
Blocks taking no time occupy no processor (an empty interval overlaps nothing).

Branch and bound: a partial schedule is dropped when a bound on its best completion is
no better than the best plan found, or when an earlier partial schedule with the same
placed blocks, the same processors and finishes for the placed blocks still feeding
unplaced ones, the same group timelines and memory use dominated it (no later, no more
energy)."""

from __future__ import annotations

import math

from deepxc.dad.problem import Goal, Problem


def brute_force(problem: Problem, goal: Goal) -> tuple[float, dict[str, str]] | None:
    """(optimal objective, its assignment) over every plan within the goal's limits; None
    when no plan meets them."""
    names = [b.name for b in problem.blocks]
    index = {n: i for i, n in enumerate(names)}
    blocks = problem.blocks
    count = len(blocks)
    procs = {p.name: p for p in problem.processors}
    preds = [[] for _ in names]
    succs = [[] for _ in names]
    for edge in problem.edges:
        preds[index[edge.dst]].append((index[edge.src], edge))
        succs[index[edge.src]].append(index[edge.dst])
    idle_w = sum(p.idle_w for p in problem.processors)
    options = [[p for p in b.time_s if p in procs] for b in blocks]
    fastest = [min(b.time_s[p] for p in options[i]) for i, b in enumerate(blocks)]
    cheapest = [min(b.energy_j.get(p, 0.0) for p in options[i]) for i, b in enumerate(blocks)]
    tail = [0.0] * count  # the longest chain from a block on, at its fastest, no transfers
    for i in reversed(range(count)):
        tail[i] = fastest[i] + max((tail[j] for j in succs[i]), default=0.0)
    group_names = sorted({p.serial_group for p in procs.values()})

    def link(edge, src: str, dst: str):
        if src == dst:
            return 0.0, 0.0
        found = problem.links.get((src, dst))
        if found is None:
            return None
        return (
            found.latency_s + edge.nbytes / found.bytes_per_s,
            found.energy_j_per_byte * edge.nbytes,
        )

    best = [math.inf, None]
    seen: dict[tuple, list[tuple[float, float]]] = {}
    energy_goal = goal.objective == "energy"

    def bound(placed_latency: float, energy: float, finish, assigned, placed_mask) -> float:
        latency = placed_latency
        rest_energy = 0.0
        for i in range(count):
            if placed_mask >> i & 1:
                for j in succs[i]:
                    if not placed_mask >> j & 1:
                        latency = max(latency, finish[i] + tail[j])
            else:
                rest_energy += cheapest[i]
                if not preds[i]:
                    latency = max(latency, tail[i])
        if goal.max_latency_s is not None and latency > goal.max_latency_s * (1 + 1e-9):
            return math.inf
        total_energy = energy + rest_energy + idle_w * latency
        if goal.max_energy_j is not None and total_energy > goal.max_energy_j * (1 + 1e-9):
            return math.inf
        return total_energy if energy_goal else latency

    def search(placed_mask, assigned, finish, group_free, memory, latency, energy):
        if bound(latency, energy, finish, assigned, placed_mask) >= best[0] * (1 - 1e-12):
            return
        if placed_mask == (1 << count) - 1:
            best[0] = energy + idle_w * latency if energy_goal else latency
            best[1] = dict(zip(names, assigned))
            return
        frontier = tuple(
            (assigned[i], round(finish[i], 12))
            if placed_mask >> i & 1 and any(not placed_mask >> j & 1 for j in succs[i])
            else None
            for i in range(count)
        )
        key = (placed_mask, frontier, tuple(round(t, 12) for t in group_free), memory)
        earlier = seen.setdefault(key, [])
        if any(lat <= latency + 1e-15 and en <= energy + 1e-15 for lat, en in earlier):
            return
        earlier.append((latency, energy))
        for i in range(count):
            if placed_mask >> i & 1 or any(not placed_mask >> j & 1 for j, _ in preds[i]):
                continue
            for p in options[i]:
                used = list(memory)
                used[sorted(procs).index(p)] += blocks[i].memory_bytes
                if used[sorted(procs).index(p)] > procs[p].memory_bytes * (1 + 1e-9):
                    continue
                if goal.max_memory_bytes is not None:
                    device = sum(m for m, q in zip(used, sorted(procs)) if procs[q].on_device)
                    if device > goal.max_memory_bytes * (1 + 1e-9):
                        continue
                ready, spent = 0.0, blocks[i].energy_j.get(p, 0.0)
                possible = True
                for j, edge in preds[i]:
                    moved = link(edge, assigned[j], p)
                    if moved is None:
                        possible = False
                        break
                    ready = max(ready, finish[j] + moved[0])
                    spent += moved[1]
                if not possible:
                    continue
                duration = blocks[i].time_s[p]
                free = list(group_free)
                if duration > 0:
                    g = group_names.index(procs[p].serial_group)
                    ready = max(ready, free[g])
                    free[g] = ready + duration
                new_finish = list(finish)
                new_finish[i] = ready + duration
                new_assigned = list(assigned)
                new_assigned[i] = p
                search(
                    placed_mask | 1 << i,
                    new_assigned,
                    new_finish,
                    tuple(free),
                    tuple(used),
                    max(latency, ready + duration),
                    energy + spent,
                )

    search(
        0, [None] * count, [0.0] * count, (0.0,) * len(group_names), (0.0,) * len(procs), 0.0, 0.0
    )
    if best[1] is None:
        return None
    return best[0], best[1]
