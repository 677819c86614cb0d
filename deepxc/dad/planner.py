"""Plan a model: its unit blocks (the heaviest sliced where slices may pay), the problem
the cost model makes of them, the solver's plan, and the baselines a user holds it
against (everything on the CPU, everything the GPU takes on the GPU, and the best single
cut of the model between two processors, as Neurosurgeon plans device and server)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import networkx as nx

from deepxc.dad.blocks import block_edges, slice_blocks, unit_blocks
from deepxc.dad.build_problem import gpu_refused, problem_of
from deepxc.dad.network import NetworkProfile
from deepxc.dad.problem import Goal, Plan, PlanError, Problem
from deepxc.dad.schedule import check, evaluate
from deepxc.dad.solve import ILP_MAX_BLOCKS, solve
from deepxc.dad.unit_block import UnitBlock
from deepxc.ir.graph import Graph


@dataclass(frozen=True)
class PlanRequest:
    """What a user asks of a plan: the goal and its limits, the network to a remote
    server (None: no remote), a costs file (None: the default), slices per heavy layer,
    and the integer program's time limit."""

    goal: Goal = Goal()
    network: str | NetworkProfile | None = None  # a profile's name, or one measured
    costs: str | None = None
    slices: int = 2
    time_limit_s: float = 20.0


@dataclass
class PlannedBlock:
    """A block of the plan: its layers, where and when it runs; a slice also says which
    output channels [lo, hi) of its layer group it computes, and which part it is."""

    name: str
    layers: list[str]
    kind: str
    processor: str
    start_s: float
    finish_s: float
    macs: int
    slice_of: str = ""
    slice_index: int = 0
    slices: int = 1
    channels: tuple[int, int] = (0, 0)


@dataclass
class Baseline:
    latency_s: float
    energy_j: float
    detail: str  # what it is ("all on cpu", "cut after conv3: cpu | remote")


@dataclass
class DecompositionPlan:
    model: str
    fingerprint: str
    target: str
    network: str | None
    goal: Goal
    blocks: list[PlannedBlock]
    latency_s: float
    energy_j: float
    memory_bytes: dict[str, float]
    method: str
    optimal: bool
    bound: float | None
    solve_s: float
    costs_source: str
    baselines: dict[str, Baseline] = field(default_factory=dict)

    def gap(self) -> float | None:
        value = self.latency_s if self.goal.objective == "latency" else self.energy_j
        if self.bound is None or self.bound <= 0:
            return None
        return max(0.0, value - self.bound) / self.bound

    def placement(self) -> dict[str, str]:
        """Processor of every layer not sliced."""
        return {
            layer: block.processor
            for block in self.blocks
            if not block.slice_of
            for layer in block.layers
        }

    def sliced(self) -> dict[str, list[PlannedBlock]]:
        """Per sliced layer group (named by its first block's group), its slices."""
        groups: dict[str, list[PlannedBlock]] = {}
        for block in self.blocks:
            if block.slice_of:
                groups.setdefault(block.slice_of, []).append(block)
        return groups

    def processors(self) -> list[str]:
        return sorted({block.processor for block in self.blocks})


def plan_graph(
    graph: Graph,
    costs,
    goal: Goal,
    fingerprint: str,
    network=None,
    slices: int = 2,
    max_sliced: int = 6,
    time_limit_s: float = 20.0,
    log=print,
) -> DecompositionPlan:
    """The best plan the solvers find for `graph` on the processors of `costs` (a
    `CostModel`), and the baselines. `slices`: the parts a heavy layer's output channels
    may be cut into (1: none); at most `max_sliced` layers (the heaviest) are offered."""
    if network is not None:  # a remote processor: every problem below has it
        costs = costs.with_network(network)
    blocks = unit_blocks(graph)
    refused = gpu_refused(graph, blocks)
    whole = _problem(graph, blocks, blocks, costs, refused)
    candidates = _slice_candidates(whole, blocks, slices, max_sliced)
    offered = _with_slices(blocks, candidates, slices)
    names = ", ".join(p.name for p in whole.processors)
    offer = f" ({len(candidates)} layers offered in {slices} slices)" if candidates else ""
    log(f"plan: {len(blocks)} blocks{offer}, {len(whole.processors)} processors ({names})")
    started = time.monotonic()
    if len(whole.blocks) <= ILP_MAX_BLOCKS:
        log(f"plan: solving the integer program (at most {time_limit_s:g} s a problem)")
    chosen, bound, method, optimal = _best_plan(
        graph,
        blocks,
        whole,
        offered if candidates else [],
        costs,
        refused,
        goal,
        time_limit_s,
    )
    solve_s = time.monotonic() - started
    final_blocks, plan = chosen
    return DecompositionPlan(
        model=graph.name,
        fingerprint=fingerprint,
        target=costs.target.name,
        network=getattr(network, "name", None),
        goal=goal,
        blocks=_planned(final_blocks, plan, {b.name: b for b in blocks}),
        latency_s=plan.latency_s,
        energy_j=plan.energy_j,
        memory_bytes=plan.memory_bytes,
        method=method,
        optimal=optimal,
        bound=bound,
        solve_s=solve_s,
        costs_source=costs.source,
        baselines=baselines(whole, blocks),
    )


def _best_plan(graph, blocks, whole, offered, costs, refused, goal, time_limit_s):
    """The better of two plans: the best of the blocks whole, and (when layers are offered
    in slices) the best of the problem in which each slice pays only its share of its
    block's launches, its slices then joined where they landed on one processor and
    costed as built. That second problem lets every plan of the real one cost no more
    than it does (a layer whole is its slices on one processor; a slice built pays a whole
    launch), so its bound holds for every plan, sliced or not.
    `whole`: the problem of the blocks whole. Returns ((blocks as built, plan), bound,
    method, optimal)."""
    candidates: list[tuple[list[UnitBlock], Plan, str]] = []
    failure = None
    bound = None
    try:
        plain = solve(whole, goal, time_limit_s=time_limit_s)
        candidates.append((blocks, plain, plain.method))
        bound = plain.bound
    except PlanError as error:
        failure = error
    if offered:
        relaxed = _shared_costs(_problem(graph, blocks, offered, costs, refused), whole, offered)
        try:
            found = solve(relaxed, goal, time_limit_s=time_limit_s)
        except PlanError as error:
            if failure is not None or not candidates:
                raise (failure or error) from None
        else:
            bound = found.bound
            final_blocks, assignment, start = _merge_slices(blocks, offered, found)
            final = _problem(graph, blocks, final_blocks, costs, refused)
            order = sorted(
                (b.name for b in final.blocks),
                key=lambda name: (start.get(name, 0.0), _position(final, name)),
            )
            built = evaluate(
                final, {**_io_assignment(final), **assignment}, _topological(final, order)
            )
            if not check(final, built, goal):
                candidates.append((final_blocks, built, found.method))
    if not candidates:
        raise failure
    final_blocks, plan, method = min(candidates, key=lambda c: c[1].objective(goal))
    value = plan.objective(goal)
    optimal = bound is not None and value <= bound * (1 + 1e-9)
    optimal = optimal or (not offered and plan.optimal)
    return (final_blocks, plan), bound, method, optimal


def _shared_costs(problem: Problem, whole: Problem, offered: list[UnitBlock]) -> Problem:
    """`problem` with each slice costing its share of its whole block (its fraction of
    the output channels, of the block's time, energy and input tensors), where a slice
    as built pays a whole launch and reads the whole input. Every plan, sliced or not,
    then costs no less than in this problem: a whole block is its slices on one
    processor, and a built slice costs at least its share."""
    group = {b.name: b.slice_of for b in offered if b.slice_of}
    share = {
        b.name: (b.channel_range[1] - b.channel_range[0]) / _channels(offered, b.slice_of)
        for b in offered
        if b.slice_of
    }
    for block in problem.blocks:
        if block.name in share:
            source = whole.block(group[block.name])
            fraction = share[block.name]
            block.time_s = {p: t * fraction for p, t in source.time_s.items()}
            block.energy_j = {p: e * fraction for p, e in source.energy_j.items()}
    problem.edges = [
        dataclasses.replace(edge, nbytes=edge.nbytes * share[edge.dst])
        if edge.dst in share
        else edge
        for edge in problem.edges
    ]
    return problem


def _channels(offered: list[UnitBlock], group: str) -> int:
    return max(b.channel_range[1] for b in offered if b.slice_of == group)


def _problem(
    graph: Graph,
    blocks: list[UnitBlock],
    pieces: list[UnitBlock],
    costs,
    refused: dict[str, set[str]],
) -> Problem:
    """The problem of `pieces`: the model's `blocks`, some replaced by their slices. A
    slice reads what its block reads, and hands its share of the block's output to every
    reader of it."""
    parts: dict[str, list[UnitBlock]] = {}
    for piece in pieces:
        parts.setdefault(piece.slice_of or piece.name, []).append(piece)
    by_name = {b.name: b for b in blocks}
    edges = []
    for src, dst, nbytes in block_edges(graph, blocks):
        whole = by_name[src].bytes_out or 1
        for a in parts[src]:
            share = nbytes if not a.slice_of else nbytes * a.bytes_out // whole
            edges.extend((a.name, b.name, share) for b in parts[dst])
    return problem_of(
        pieces,
        edges,
        {t: [p.name for p in pieces if t in p.inputs] for t in graph.inputs},
        {
            t: [p.name for b in blocks if t in b.outputs for p in parts[b.name]]
            for t in graph.outputs
        },
        costs,
        refused=refused,
        tensor_bytes={t: graph.spec(t).nbytes for t in [*graph.inputs, *graph.outputs]},
    )


def _slice_candidates(
    problem: Problem, blocks: list[UnitBlock], slices: int, max_sliced: int
) -> list[str]:
    """The heaviest sliceable blocks that at least two serial groups can run: only there
    can slices run at the same time."""
    if slices < 2:
        return []
    groups = {p.name: p.serial_group for p in problem.processors}
    able = []
    for block in blocks:
        runnable = problem.block(block.name).time_s
        if block.sliceable and block.channels >= 2 * slices:
            if len({groups[p] for p in runnable}) >= 2:
                able.append(block)
    able.sort(key=lambda b: -b.macs)
    return [b.name for b in able[:max_sliced]]


def _with_slices(blocks: list[UnitBlock], candidates: list[str], slices: int) -> list[UnitBlock]:
    offered = []
    for block in blocks:
        offered.extend(slice_blocks(block, slices) if block.name in candidates else [block])
    return offered


def _merge_slices(
    blocks: list[UnitBlock], offered: list[UnitBlock], found: Plan
) -> tuple[list[UnitBlock], dict[str, str], dict[str, float]]:
    """The blocks as they will be built: neighbouring slices of one layer group on one
    processor become one slice, and a group whose slices all went to one processor is
    whole again. With each block's processor and when the solver started it."""
    parts: dict[str, list[UnitBlock]] = {}
    for block in offered:
        if block.slice_of:
            parts.setdefault(block.slice_of, []).append(block)
    final: list[UnitBlock] = []
    assignment: dict[str, str] = {}
    start: dict[str, float] = {}
    for block in blocks:
        if block.name not in parts:
            final.append(block)
            assignment[block.name] = found.processor[block.name]
            start[block.name] = found.start_s[block.name]
            continue
        runs = _runs(parts[block.name], found.processor)
        bounds = [(run[0].channel_range[0], run[-1].channel_range[1]) for _, run in runs]
        pieces = [block] if len(runs) == 1 else slice_blocks(block, len(runs), bounds=bounds)
        for piece, (processor, run) in zip(pieces, runs):
            final.append(piece)
            assignment[piece.name] = processor
            start[piece.name] = min(found.start_s[p.name] for p in run)
    return final, assignment, start


def _runs(parts: list[UnitBlock], processor: dict[str, str]) -> list[tuple[str, list[UnitBlock]]]:
    runs: list[tuple[str, list[UnitBlock]]] = []
    for part in sorted(parts, key=lambda p: p.channel_range):
        where = processor[part.name]
        if runs and runs[-1][0] == where:
            runs[-1][1].append(part)
        else:
            runs.append((where, [part]))
    return runs


def _position(problem: Problem, name: str) -> int:
    return next(i for i, b in enumerate(problem.blocks) if b.name == name)


def _io_assignment(problem: Problem) -> dict[str, str]:
    return {b.name: next(iter(b.time_s)) for b in problem.blocks if b.kind == "io"}


def _topological(problem: Problem, preferred: list[str]) -> list[str]:
    """`preferred` made a topological order of the problem's edges, kept where it is one."""
    dag = nx.DiGraph()
    dag.add_nodes_from(b.name for b in problem.blocks)
    dag.add_edges_from((e.src, e.dst) for e in problem.edges)
    rank = {name: i for i, name in enumerate(preferred)}
    return list(nx.lexicographical_topological_sort(dag, key=lambda n: rank.get(n, -1)))


def _planned(
    blocks: list[UnitBlock], plan: Plan, wholes: dict[str, UnitBlock]
) -> list[PlannedBlock]:
    """The plan's blocks; a slice names the layers of its group (the model's names)."""
    planned = [
        PlannedBlock(
            name=b.name,
            layers=list(wholes[b.slice_of].layers if b.slice_of else b.layers),
            kind=b.kind,
            processor=plan.processor[b.name],
            start_s=plan.start_s[b.name],
            finish_s=plan.finish_s[b.name],
            macs=b.macs,
            slice_of=b.slice_of,
            slice_index=b.slice_index,
            slices=b.slices,
            channels=tuple(b.channel_range),
        )
        for b in blocks
    ]
    return sorted(planned, key=lambda b: (b.start_s, b.finish_s))


def baselines(problem: Problem, blocks: list[UnitBlock]) -> dict[str, Baseline]:
    """All on the CPU; all the GPU takes on the GPU (when there is one); the best single
    cut of the model's order between two processors (a prefix on one, the rest on the
    other: Neurosurgeon's device/server split when a remote processor is given)."""
    names = [p.name for p in problem.processors]
    result = {"all_cpu": _single(problem, "cpu")}
    if "gpu" in names:
        result["all_gpu"] = _single(problem, "gpu")
    result["best_split"] = _best_split(problem, names)
    return result


def _single(problem: Problem, processor: str) -> Baseline:
    assignment = {
        b.name: processor if processor in b.time_s else next(iter(b.time_s)) for b in problem.blocks
    }
    plan = evaluate(problem, assignment)
    moved = sum(1 for b in problem.blocks if b.kind != "io" and processor not in b.time_s)
    detail = f"all on {processor}" + (f" ({moved} blocks it cannot run on cpu)" if moved else "")
    return Baseline(plan.latency_s, plan.energy_j, detail)


def _best_split(problem: Problem, names: list[str]) -> Baseline:
    compute = [b for b in problem.blocks if b.kind != "io"]
    best: Baseline | None = None
    for first in names:
        for second in names:
            for cut in range(len(compute) + 1):
                if first == second and cut:
                    continue
                assignment = _io_assignment(problem)
                for i, block in enumerate(compute):
                    wanted = first if i < cut else second
                    assignment[block.name] = (
                        wanted if wanted in block.time_s else next(iter(block.time_s))
                    )
                plan = evaluate(problem, assignment)
                if best is None or plan.latency_s < best.latency_s:
                    where = (
                        f"all on {second if cut == 0 else first}"
                        if first == second or cut in (0, len(compute))
                        else f"{first} up to {compute[cut - 1].name}, then {second}"
                    )
                    best = Baseline(plan.latency_s, plan.energy_j, where)
    if best is None:
        raise PlanError("the model has no blocks to plan")
    return best
