"""A plan's schedule and totals from an assignment of blocks to processors: the serial
schedule of the blocks taken in one topological order, each started as soon as its inputs
have arrived and its processor's serial group has finished the blocks placed before it.

For a regular objective (one that does not decrease when a block finishes later, as
latency and energy do not) some order reaches the optimum of an assignment: the order of
the optimal schedule's start times; so the solvers search assignments and orders and all
report the numbers this module computes.

A block that takes no time on its processor (a model input or output) occupies no
processor: it neither waits for its serial group nor holds it (a half-open interval
[start, finish) that is empty overlaps nothing)."""

from __future__ import annotations

from deepxc.dad.problem import Goal, Plan, PlanError, Problem


class Timeline:
    """The problem's blocks and edges by index, to schedule many assignments quickly."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.names = [b.name for b in problem.blocks]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.preds: list[list[tuple[int, object]]] = [[] for _ in self.names]
        self.succs: list[list[tuple[int, object]]] = [[] for _ in self.names]
        # per block, its inputs: (source index, (from, to) -> seconds and joules, edge)
        self.moves: list[list[tuple[int, dict, object]]] = [[] for _ in self.names]
        for edge in problem.edges:
            src, dst = self.index[edge.src], self.index[edge.dst]
            self.preds[dst].append((src, edge))
            self.succs[src].append((dst, edge))
            costs = {
                pair: (link.time_s(edge.nbytes), link.energy_j(edge.nbytes))
                for pair, link in problem.links.items()
            }
            self.moves[dst].append((src, costs, edge))
        self.times = [b.time_s for b in problem.blocks]
        self.group = {p.name: p.serial_group for p in problem.processors}
        self.idle_w = sum(p.idle_w for p in problem.processors)

    def order_of(self, order: list[str] | None) -> list[int]:
        """Block indices in `order` (default: the problem's); ValueError unless it lists
        every block once, each after the blocks it reads from."""
        if order is None:
            indices = list(range(len(self.names)))
        else:
            unknown = [name for name in order if name not in self.index]
            if unknown:
                raise ValueError(f"order names unknown block '{unknown[0]}'")
            indices = [self.index[name] for name in order]
            if sorted(indices) != list(range(len(self.names))):
                raise ValueError("order must list every block exactly once")
        position = {i: k for k, i in enumerate(indices)}
        for i in indices:
            for j, _ in self.preds[i]:
                if position[j] > position[i]:
                    raise ValueError(
                        f"order is not topological: '{self.names[i]}' comes before its "
                        f"input '{self.names[j]}'"
                    )
        return indices

    def transfer(self, edge, src: str, dst: str) -> tuple[float, float]:
        """Seconds and joules to move `edge`'s tensor from `src` to `dst`."""
        if src == dst:
            return 0.0, 0.0
        link = self.problem.links.get((src, dst))
        if link is None:
            raise PlanError(
                f"edge {edge.src} -> {edge.dst}: no link from {src} to {dst} for its tensor"
            )
        return link.time_s(edge.nbytes), link.energy_j(edge.nbytes)

    def run(self, placed: list[str], order: list[int]) -> tuple[list[float], list[float]]:
        """Start and finish times by block index; `placed[i]`: block i's processor."""
        start = [0.0] * len(placed)
        finish = [0.0] * len(placed)
        group_free: dict[str, float] = {}
        for i in order:
            processor = placed[i]
            duration = self.times[i].get(processor)
            if duration is None:
                name = self.names[i]
                raise PlanError(f"block '{name}' cannot run on processor '{processor}'")
            ready = 0.0
            for j, costs, edge in self.moves[i]:
                source = placed[j]
                arrival = finish[j]
                if source != processor:
                    move = costs.get((source, processor))
                    if move is None:
                        move = self.transfer(edge, source, processor)  # raises: no link
                    arrival += move[0]
                if arrival > ready:
                    ready = arrival
            if duration > 0:
                group = self.group[processor]
                ready = max(ready, group_free.get(group, 0.0))
                group_free[group] = ready + duration
            start[i] = ready
            finish[i] = ready + duration
        return start, finish

    def energy(self, placed: list[str], latency: float) -> float:
        blocks = self.problem.blocks
        total = sum(blocks[i].energy_j.get(p, 0.0) for i, p in enumerate(placed))
        for dst, inputs in enumerate(self.moves):
            for src, costs, edge in inputs:
                if placed[src] != placed[dst]:
                    move = costs.get((placed[src], placed[dst]))
                    if move is None:
                        move = self.transfer(edge, placed[src], placed[dst])  # raises
                    total += move[1]
        return total + latency * self.idle_w

    def plan(self, placed: list[str], order: list[int], method: str = "evaluate") -> Plan:
        start, finish = self.run(placed, order)
        latency = max(finish, default=0.0)
        memory = {p.name: 0.0 for p in self.problem.processors}
        for block, processor in zip(self.problem.blocks, placed):
            memory[processor] = memory.get(processor, 0.0) + block.memory_bytes
        return Plan(
            processor=dict(zip(self.names, placed)),
            start_s=dict(zip(self.names, start)),
            finish_s=dict(zip(self.names, finish)),
            latency_s=latency,
            energy_j=self.energy(placed, latency),
            memory_bytes=memory,
            method=method,
        )


def evaluate(problem: Problem, processor: dict[str, str], order: list[str] | None = None) -> Plan:
    """The serial schedule of the assignment `processor` (block -> processor) with the
    blocks taken in `order` (a topological order; default: the problem's)."""
    timeline = Timeline(problem)
    missing = [name for name in timeline.names if name not in processor]
    if missing:
        raise PlanError(f"block '{missing[0]}' has no processor in the plan")
    placed = [processor[name] for name in timeline.names]
    return timeline.plan(placed, timeline.order_of(order))


def device_memory(problem: Problem, plan: Plan) -> float:
    """What the blocks hold on the device's own processors together (bytes)."""
    return sum(plan.memory_bytes.get(p.name, 0.0) for p in problem.processors if p.on_device)


def check(problem: Problem, plan: Plan, goal: Goal) -> list[str]:
    """The limits `plan` breaks, one line each (values in ms, mJ and MB)."""
    broken = []
    for processor in problem.processors:
        used = plan.memory_bytes.get(processor.name, 0.0)
        if used > processor.memory_bytes * (1 + 1e-9):
            broken.append(
                f"processor {processor.name} holds {used / 1e6:.2f} MB, more than its "
                f"{processor.memory_bytes / 1e6:.2f} MB"
            )
    limits = (
        (plan.latency_s * 1e3, goal.max_latency_s, 1e3, "latency", "--max-latency-ms", "ms"),
        (plan.energy_j * 1e3, goal.max_energy_j, 1e3, "energy", "--max-energy-mj", "mJ"),
        (
            device_memory(problem, plan) / 1e6,
            goal.max_memory_bytes,
            1e-6,
            "device memory",
            "--max-memory",
            "MB",
        ),
    )
    for value, limit, scale, what, flag, unit in limits:
        if limit is not None and value > limit * scale * (1 + 1e-9):
            broken.append(f"{what} {value:.2f} {unit} is over {flag} {limit * scale:g}")
    return broken
