"""RLC levels: from the user's budgets to one factored graph per run-time level.

A level is a budget: a fraction of the model's MACs or weight bytes, or a largest loss
of calibration accuracy. `plan_levels` measures every layer once (`profile`), solves the
allocation for each level (`allocate`) and measures each level's accuracy with all its
layers factored. `level_graphs` then builds the graphs; a factor that several levels use
is stored once, at the largest rank any of them uses, and smaller ranks read its
leading slices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from deepxc.errors import CompressionError
from deepxc.ir import Graph
from deepxc.ir.stats import model_summary
from deepxc.rlc.allocate import allocate
from deepxc.rlc.calibration import Calibration
from deepxc.rlc.measure import Evaluator
from deepxc.rlc.profile import LayerProfile, Option, profile_layers

MAX_LOSS_STEPS = 14  # bisection steps over the MAC budget for --rlc-max-loss


@dataclass(frozen=True)
class Budget:
    """One level's goal. A fraction of 1.0 with no loss goal is the uncompressed model."""

    macs: float | None = None  # fraction of the model's MACs
    weights: float | None = None  # fraction of its weight bytes
    max_loss: float | None = None  # largest drop of calibration accuracy (absolute)

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
    weight_bytes: int
    accuracy: float


@dataclass
class RlcPlan:
    measure: str  # "accuracy" (calibration labels) or "agreement" (with the original)
    calibration: str
    examples: int
    macs: int  # the uncompressed model's
    weight_bytes: int
    accuracy: float
    profiles: list[LayerProfile]
    levels: list[LevelPlan] = field(default_factory=list)

    @property
    def params(self) -> float:
        """Weight bytes as float32 values: the unit the options' costs are counted in."""
        return self.weight_bytes / 4


def plan_levels(
    graph: Graph,
    budgets: list[Budget],
    calibration: Calibration,
    log: Callable[[str], None] = print,
) -> RlcPlan:
    totals = model_summary(graph)["totals"]
    weight_bytes = sum(int(a.nbytes) for a in graph.constants.values())
    evaluator, profiles = profile_layers(graph, calibration, log)
    baseline = evaluator.accuracy(evaluator.reference)
    plan = RlcPlan(
        evaluator.measures,
        calibration.source,
        calibration.count,
        totals["macs"],
        weight_bytes,
        baseline,
        profiles,
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


def _within_budget(profiles: list[LayerProfile], plan: RlcPlan, budget: Budget) -> dict:
    if budget.uncompressed:
        return {}
    max_macs = None if budget.macs is None else budget.macs * plan.macs
    max_params = None if budget.weights is None else budget.weights * plan.params
    choices = allocate(profiles, plan.macs, plan.params, max_macs, max_params)
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
        choices = allocate(profiles, plan.macs, plan.params, middle * plan.macs)
        if choices is not None and plan.accuracy - _accuracy(evaluator, choices) <= max_loss:
            high, best = middle, choices
        else:
            low = middle
    return best


def _level(evaluator: Evaluator, plan: RlcPlan, budget: Budget, choices: dict) -> LevelPlan:
    by_node = {p.node: p for p in plan.profiles}
    saved_macs = sum(by_node[node].macs - o.macs for node, o in choices.items())
    saved_params = sum(by_node[node].params - o.params for node, o in choices.items())
    accuracy = _accuracy(evaluator, choices) if choices else plan.accuracy
    return LevelPlan(
        budget, choices, plan.macs - saved_macs, plan.weight_bytes - 4 * saved_params, accuracy
    )


def _accuracy(evaluator: Evaluator, choices: dict[str, Option]) -> float:
    weights = {o.layer.weights: o.layer.reconstruct(o.rank) for o in choices.values()}
    return evaluator.accuracy(evaluator.outputs(weights))


def _floor(profiles: list[LayerProfile], plan: RlcPlan) -> tuple[float, float]:
    """MACs and weight bytes with every factorable layer at its cheapest option."""
    macs, params = float(plan.macs), plan.params
    for profile in profiles:
        if profile.options:
            macs -= profile.macs - min(o.macs for o in profile.options)
            params -= profile.params - min(o.params for o in profile.options)
    return macs, 4 * params
