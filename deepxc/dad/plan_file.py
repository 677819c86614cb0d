"""A decomposition plan as JSON (`deepxc plan --json`, `-o plan.json`) and back
(`deepxc build --plan plan.json`), checked against the model and the target it is used
with: a plan is refused for another model, or for a target without its processors."""

from __future__ import annotations

import hashlib
import json

from deepxc.dad.planner import Baseline, DecompositionPlan, PlannedBlock
from deepxc.dad.problem import Goal, PlanError
from deepxc.ir.graph import Graph

FORMAT = "deepxc-plan/1"


def graph_fingerprint(graph: Graph) -> str:
    """What a plan depends on: every layer's name, op and output shapes, and the inputs'
    shapes (a different model, or the same at other shapes, gets another)."""
    digest = hashlib.sha256()
    for tensor in graph.inputs:
        digest.update(f"in {tensor} {graph.spec(tensor).shape}\n".encode())
    for node in graph.nodes():
        shapes = [graph.spec(t).shape for t in node.outputs if t in graph.tensors]
        digest.update(f"{node.name} {node.op} {shapes}\n".encode())
    return digest.hexdigest()[:16]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 6)


def _mj(joules: float | None) -> float | None:
    return None if joules is None else round(joules * 1e3, 6)


def plan_dict(plan: DecompositionPlan) -> dict:
    goal = plan.goal
    bound = plan.bound
    bound_value = (
        None if bound is None else _ms(bound) if goal.objective == "latency" else _mj(bound)
    )
    return {
        "format": FORMAT,
        "model": {"name": plan.model, "fingerprint": plan.fingerprint},
        "target": plan.target,
        "network": plan.network,
        "costs": plan.costs_source,
        "goal": {
            "objective": goal.objective,
            "max_latency_ms": _ms(goal.max_latency_s),
            "max_energy_mj": _mj(goal.max_energy_j),
            "max_memory_bytes": goal.max_memory_bytes,
        },
        "solver": {
            "method": plan.method,
            "optimal": plan.optimal,
            "bound": bound_value,
            "gap": None if plan.gap() is None else round(plan.gap(), 6),
            "seconds": round(plan.solve_s, 3),
        },
        "blocks": [
            {
                "name": b.name,
                "layers": b.layers,
                "kind": b.kind,
                "processor": b.processor,
                "slice": (
                    {
                        "of": b.slice_of,
                        "index": b.slice_index,
                        "parts": b.slices,
                        "channels": list(b.channels),
                    }
                    if b.slice_of
                    else None
                ),
                "macs": b.macs,
                "start_ms": _ms(b.start_s),
                "end_ms": _ms(b.finish_s),
            }
            for b in plan.blocks
        ],
        "predicted": {
            "latency_ms": _ms(plan.latency_s),
            "energy_mj": _mj(plan.energy_j),
            "memory_bytes": {p: int(v) for p, v in plan.memory_bytes.items()},
        },
        "baselines": {
            name: {
                "latency_ms": _ms(b.latency_s),
                "energy_mj": _mj(b.energy_j),
                "detail": b.detail,
            }
            for name, b in plan.baselines.items()
        },
    }


def write_plan(plan: DecompositionPlan, path: str) -> None:
    with open(path, "w") as handle:
        json.dump(plan_dict(plan), handle, indent=1)
        handle.write("\n")


def read_plan(path: str, graph: Graph, processors: list[str], target: str) -> DecompositionPlan:
    """The plan in `path`, refused (PlanError, one line) when it is not a plan, was made
    for another model, or puts a block on a processor `target` lacks."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except OSError as error:
        raise PlanError(f"plan file {path}: cannot read it ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise PlanError(f"plan file {path}: not JSON ({error})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PlanError(f"plan file {path}: not a deepxc plan (write one with `deepxc plan -o`)")
    model = data.get("model", {})
    fingerprint = graph_fingerprint(graph)
    if model.get("fingerprint") != fingerprint:
        raise PlanError(
            f"plan file {path} was made for model '{model.get('name')}' "
            f"(fingerprint {model.get('fingerprint')}), not this one ('{graph.name}', "
            f"{fingerprint}): plan this model with `deepxc plan`"
        )
    try:
        blocks = [_block(b) for b in data["blocks"]]
        goal = Goal(
            data["goal"]["objective"],
            _s(data["goal"].get("max_latency_ms")),
            _j(data["goal"].get("max_energy_mj")),
            data["goal"].get("max_memory_bytes"),
        )
        predicted = data["predicted"]
        solver = data["solver"]
    except (KeyError, TypeError, ValueError) as error:
        raise PlanError(f"plan file {path}: broken ({type(error).__name__}: {error})") from None
    layers = {node.name for node in graph.nodes()}
    for block in blocks:
        if block.processor not in processors:
            raise PlanError(
                f"plan file {path}: block '{block.name}' is placed on '{block.processor}', "
                f"which target {target} lacks (it has {', '.join(processors)})"
            )
        missing = [layer for layer in block.layers if layer not in layers]
        if missing:
            raise PlanError(f"plan file {path}: block '{block.name}': no layer '{missing[0]}'")
    return DecompositionPlan(
        model=model.get("name", ""),
        fingerprint=fingerprint,
        target=data.get("target", ""),
        network=data.get("network"),
        goal=goal,
        blocks=blocks,
        latency_s=_s(predicted["latency_ms"]) or 0.0,
        energy_j=_j(predicted["energy_mj"]) or 0.0,
        memory_bytes=dict(predicted.get("memory_bytes", {})),
        method=solver.get("method", ""),
        optimal=bool(solver.get("optimal")),
        bound=None,
        solve_s=float(solver.get("seconds", 0.0)),
        costs_source=str(data.get("costs", "")),
        baselines={
            name: Baseline(_s(b["latency_ms"]) or 0.0, _j(b["energy_mj"]) or 0.0, b["detail"])
            for name, b in data.get("baselines", {}).items()
        },
    )


def _block(data: dict) -> PlannedBlock:
    part = data.get("slice")
    return PlannedBlock(
        name=str(data["name"]),
        layers=[str(layer) for layer in data["layers"]],
        kind=str(data.get("kind", "")),
        processor=str(data["processor"]),
        start_s=_s(data.get("start_ms")) or 0.0,
        finish_s=_s(data.get("end_ms")) or 0.0,
        macs=int(data.get("macs", 0)),
        slice_of=str(part["of"]) if part else "",
        slice_index=int(part["index"]) if part else 0,
        slices=int(part["parts"]) if part else 1,
        channels=tuple(int(c) for c in part["channels"]) if part else (0, 0),
    )


def _s(ms: float | None) -> float | None:
    return None if ms is None else float(ms) / 1e3


def _j(mj: float | None) -> float | None:
    return None if mj is None else float(mj) / 1e3
