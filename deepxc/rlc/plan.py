"""RLC levels: from the user's budgets to one factored graph per run-time level.

A level is a budget: a fraction of the model's MACs or weight bytes, or a largest loss
of calibration accuracy. `plan_levels` measures every layer once (`profile`), solves the
allocation for each level (`allocate`) and measures each level's accuracy with all its
layers factored. `level_graphs` then builds the graphs; a factor that several levels use
is stored once, at the largest rank any of them uses, and smaller ranks read its
leading slices. `count_blob` then counts what each level reads of the blob they share
and what the blob stores.

Weight bytes are the blob's (`blob_bytes`): padding included, header not. A weight budget
F bounds the whole blob file: level payload + header <= F (uncompressed payload + header),
so a bundle's weights.bin is at most F times the uncompressed bundle's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from deepxc.errors import CompressionError
from deepxc.ir import Graph
from deepxc.ir.stats import model_summary
from deepxc.rlc.allocate import allocate
from deepxc.rlc.blob_bytes import RAW_BYTES, BlobLayout
from deepxc.rlc.calibration import Calibration
from deepxc.rlc.measure import Evaluator
from deepxc.rlc.profile import LayerProfile, Option, profile_layers

MAX_LOSS_STEPS = 14  # bisection steps over the MAC budget for --rlc-max-loss
# The accuracy loss a user is taken to accept when no --rlc-max-loss says otherwise: a
# level estimated to lose more is printed with a warning (--rlc-warn-loss).
DEFAULT_WARN_LOSS = 0.05


@dataclass(frozen=True)
class Budget:
    """One level's goal. A fraction of 1.0 with no loss goal is the uncompressed model."""

    macs: float | None = None  # fraction of the model's MACs
    weights: float | None = None  # fraction of its weights.bin (see blob_bytes)
    max_loss: float | None = None  # largest drop of calibration accuracy (absolute)
    warn_loss: float = DEFAULT_WARN_LOSS  # a larger estimated drop is warned about

    @property
    def accepted_loss(self) -> float:
        """The accuracy drop the user accepts: --rlc-max-loss if given, else warn_loss."""
        return self.warn_loss if self.max_loss is None else self.max_loss

    def describe(self) -> str:
        if self.uncompressed:
            return "uncompressed"
        parts = []
        if self.macs is not None:
            parts.append(f"MACs <= {self.macs:.0%}")
        if self.weights is not None:
            parts.append(f"weights <= {self.weights:.0%}")
        if self.max_loss is not None:
            parts.append(f"loss <= {self.max_loss:.1%}")
        return ", ".join(parts) or "uncompressed"

    @property
    def uncompressed(self) -> bool:
        return self.max_loss is None and all(
            f is None or f >= 1.0 for f in (self.macs, self.weights)
        )


@dataclass
class LevelPlan:
    budget: Budget
    choices: dict[str, Option]  # node -> form and rank, for the layers factored
    macs: int
    weight_bytes: int  # blob payload bytes it reads (count_blob)
    accuracy: float
    alone_bytes: int = 0  # the payload of a bundle of this level alone: what the budget bounds


@dataclass
class RlcPlan:
    measure: str  # "accuracy" (calibration labels) or "agreement" (with the original)
    calibration: str
    examples: int
    macs: int  # the uncompressed model's
    weight_bytes: int  # the uncompressed model's blob payload
    accuracy: float
    profiles: list[LayerProfile]
    header_bytes: int = 0  # of the blob file, before the payload
    levels: list[LevelPlan] = field(default_factory=list)
    stored_bytes: int = 0  # the payload of the blob every level shares (count_blob)

    def max_payload(self, fraction: float) -> float:
        """The largest payload whose blob file is within `fraction` of the uncompressed one."""
        return fraction * (self.weight_bytes + self.header_bytes) - self.header_bytes


def plan_levels(
    graph: Graph,
    budgets: list[Budget],
    calibration: Calibration,
    log: Callable[[str], None] = print,
    blob: BlobLayout = RAW_BYTES,
) -> RlcPlan:
    totals = model_summary(graph)["totals"]
    evaluator, profiles = profile_layers(graph, calibration, log, blob)
    baseline = evaluator.accuracy(evaluator.reference)
    plan = RlcPlan(
        evaluator.measures,
        calibration.source,
        calibration.count,
        totals["macs"],
        blob.stored(graph),
        baseline,
        profiles,
        blob.header_bytes,
    )
    for budget in budgets:
        if budget.max_loss is not None:
            choices = _least_macs_within_loss(evaluator, profiles, plan, budget.max_loss)
        else:
            choices = _within_budget(profiles, plan, budget)
        plan.levels.append(_level(evaluator, plan, budget, choices))
    return plan


def level_graphs(graph: Graph, plan: RlcPlan) -> list[Graph]:
    """One graph per level; factors shared between levels are stored at their largest rank."""
    stored: dict[tuple[str, str], int] = {}
    for level in plan.levels:
        for node, option in level.choices.items():
            key = (node, option.layer.form)
            stored[key] = max(stored.get(key, 0), option.rank)
    graphs = []
    for level in plan.levels:
        copy = graph.copy()
        for node, option in level.choices.items():
            option.layer.factor(copy, option.rank, stored[(node, option.layer.form)])
        graphs.append(copy)
    return graphs


def count_blob(plan: RlcPlan, graphs: list[Graph], blob: BlobLayout = RAW_BYTES) -> None:
    """Set each level's weight bytes to what it reads of the blob the levels share (of
    each weight it uses, the part its kernels index, padding included) and the plan's
    stored bytes to the blob's payload (each weight of every level once). For one level
    both are the blob's payload."""
    stored: dict[str, int] = {}
    for level, level_graph in zip(plan.levels, graphs):
        sizes = blob.sizes(level_graph)
        level.weight_bytes = sum(read for _, read in sizes.values())
        stored.update({name: size for name, (size, _) in sizes.items()})
    plan.stored_bytes = sum(stored.values())


def _within_budget(profiles: list[LayerProfile], plan: RlcPlan, budget: Budget) -> dict:
    if budget.uncompressed:
        return {}
    max_macs = None if budget.macs is None else budget.macs * plan.macs
    max_bytes = None if budget.weights is None else plan.max_payload(budget.weights)
    choices = allocate(profiles, plan.macs, plan.weight_bytes, max_macs, max_bytes)
    if choices is None:
        floor_macs, floor_bytes = _floor(profiles, plan)
        raise CompressionError(
            f"{budget.describe()} cannot be met by factoring: at rank 1 in every layer the "
            f"model still needs {floor_macs / plan.macs:.1%} of its MACs and "
            f"{floor_bytes / plan.weight_bytes:.1%} of its weight bytes"
        )
    return choices


def _least_macs_within_loss(
    evaluator: Evaluator, profiles: list[LayerProfile], plan: RlcPlan, max_loss: float
) -> dict:
    """The cheapest allocation (bisecting the MAC budget) whose measured calibration
    accuracy is within `max_loss` of the uncompressed model's."""
    low = _floor(profiles, plan)[0] / plan.macs
    high, best = 1.0, {}
    for _ in range(MAX_LOSS_STEPS):
        middle = (low + high) / 2
        choices = allocate(profiles, plan.macs, plan.weight_bytes, middle * plan.macs)
        if choices is not None and plan.accuracy - _accuracy(evaluator, choices) <= max_loss:
            high, best = middle, choices
        else:
            low = middle
    return best


def _level(evaluator: Evaluator, plan: RlcPlan, budget: Budget, choices: dict) -> LevelPlan:
    by_node = {p.node: p for p in plan.profiles}
    saved_macs = sum(by_node[node].macs - o.macs for node, o in choices.items())
    saved_bytes = sum(by_node[node].bytes - o.bytes for node, o in choices.items())
    accuracy = _accuracy(evaluator, choices) if choices else plan.accuracy
    alone = plan.weight_bytes - saved_bytes
    return LevelPlan(budget, choices, plan.macs - saved_macs, alone, accuracy, alone)


def _accuracy(evaluator: Evaluator, choices: dict[str, Option]) -> float:
    weights = {o.layer.weights: o.layer.reconstruct(o.rank) for o in choices.values()}
    return evaluator.accuracy(evaluator.outputs(weights))


def _floor(profiles: list[LayerProfile], plan: RlcPlan) -> tuple[float, float]:
    """MACs and weight bytes with every factorable layer at its cheapest option."""
    macs, stored = float(plan.macs), float(plan.weight_bytes)
    for profile in profiles:
        if profile.options:
            macs -= profile.macs - min(o.macs for o in profile.options)
            stored -= profile.bytes - min(o.bytes for o in profile.options)
    return macs, stored
