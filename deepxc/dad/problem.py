"""The planning problem as plain data: blocks with a predicted time and energy on each
processor that may run them, the tensors between blocks, and the links between
processors. The solvers (`ilp`, `heuristic`) and the evaluation of a plan (`schedule`)
read only this; `problem_of` in `build_problem` makes it from a model and a target.

Times are seconds, energies joules, sizes bytes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from deepxc.errors import DeepxcError


class PlanError(DeepxcError):
    """No plan meets the goal's constraints, or a plan does not fit the model or target."""


@dataclass(frozen=True)
class Processor:
    """A processor blocks are assigned to.

    `group`: processors of one group never run two blocks at the same time (each runs one
    block at a time, and a group shares its hardware: an OpenCL device that runs on the
    CPU's own cores, as pocl does, is in the CPU's group). `memory_bytes`: what the
    blocks placed on it may hold (weights and outputs). `idle_w`: the device's power spent
    on this processor for the whole run (the energy goal charges it times the latency).
    `on_device`: part of the device (counted by the device's memory limit) rather than a
    remote server."""

    name: str
    group: str = ""
    memory_bytes: float = math.inf
    idle_w: float = 0.0
    on_device: bool = True

    @property
    def serial_group(self) -> str:
        return self.group or self.name


@dataclass(frozen=True)
class Link:
    """Moving a tensor from one processor to another: `latency_s + nbytes / bytes_per_s`
    seconds and `energy_j_per_byte * nbytes` joules of the device's energy."""

    latency_s: float
    bytes_per_s: float
    energy_j_per_byte: float = 0.0

    def time_s(self, nbytes: float) -> float:
        return self.latency_s + nbytes / self.bytes_per_s

    def energy_j(self, nbytes: float) -> float:
        return self.energy_j_per_byte * nbytes


@dataclass
class Block:
    """A unit block: IR layers run as one piece on one processor.

    `time_s` and `energy_j` have an entry per processor that can run the block (a block
    missing a processor cannot go there). `memory_bytes`: what it holds on the processor
    it runs on. `slice_of`/`slice_index`/`slices`: a slice of the output channels of a
    layer group (slice `slice_index` of `slices`), "" for a whole group."""

    name: str
    layers: list[str]
    time_s: dict[str, float]
    energy_j: dict[str, float] = field(default_factory=dict)
    memory_bytes: float = 0.0
    macs: int = 0
    kind: str = ""  # kernel class: conv, depthwise, dense, pool, elementwise, io
    slice_of: str = ""
    slice_index: int = 0
    slices: int = 1


@dataclass(frozen=True)
class Edge:
    """`nbytes` of tensor data made by block `src` and read by block `dst`."""

    src: str
    dst: str
    nbytes: float


@dataclass(frozen=True)
class Goal:
    """What a plan minimises ("latency" or "energy") and the limits it must keep:
    latency (s), the device's energy (J), and the memory the blocks hold on the device's
    processors together (bytes). None: no limit."""

    objective: str = "latency"
    max_latency_s: float | None = None
    max_energy_j: float | None = None
    max_memory_bytes: float | None = None


@dataclass
class Problem:
    processors: list[Processor]
    blocks: list[Block]  # in a topological order of `edges`
    edges: list[Edge]
    links: dict[tuple[str, str], Link] = field(default_factory=dict)  # (from, to)

    def processor(self, name: str) -> Processor:
        return next(p for p in self.processors if p.name == name)

    def block(self, name: str) -> Block:
        return next(b for b in self.blocks if b.name == name)

    def transfer_s(self, edge: Edge, src: str, dst: str) -> float:
        """Time to move `edge`'s tensor from processor `src` to `dst` (0 on one)."""
        return 0.0 if src == dst else self.links[(src, dst)].time_s(edge.nbytes)

    def transfer_j(self, edge: Edge, src: str, dst: str) -> float:
        return 0.0 if src == dst else self.links[(src, dst)].energy_j(edge.nbytes)


@dataclass
class Plan:
    """An assignment and its schedule, as a solver found it or `schedule.evaluate`
    computed it: per block its processor, start and finish; the totals; and, from a
    solver, how it was found and the best bound proven on the objective (the gap is
    (value - bound) / bound)."""

    processor: dict[str, str]
    start_s: dict[str, float]
    finish_s: dict[str, float]
    latency_s: float
    energy_j: float
    memory_bytes: dict[str, float]  # per processor
    method: str = ""  # "ilp", "heuristic", "evaluate", "brute force"
    bound: float | None = None  # a lower bound on the objective's optimum
    optimal: bool = False

    def objective(self, goal: Goal) -> float:
        return self.latency_s if goal.objective == "latency" else self.energy_j

    def gap(self, goal: Goal) -> float | None:
        if self.bound is None or self.bound <= 0:
            return None
        return max(0.0, self.objective(goal) - self.bound) / self.bound
