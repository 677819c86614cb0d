"""The demo's bundles: each task built once per target and goal with every RLC level in it,
kept in a cache directory keyed by what went into the build."""

from __future__ import annotations

import hashlib
import json
import os
import threading

from deepxc.demo.tasks import Task

LEVELS = (1.0, 0.5, 0.25)  # --rlc-levels: fractions of the MACs, picked at run time
GOALS = ("none", "latency", "energy")  # none: all on the CPU; else --plan auto --goal G
TARGETS = ("host", "tegra-k1", "snapdragon-400", "aarch64")

_build_lock = threading.Lock()  # one build at a time: the compiler is not re-entrant


def default_cache() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "deepxc", "demo")


def build_key(task: Task, target: str, goal: str) -> str:
    """What the bundle depends on: the model's and calibration's bytes, the target, the
    levels and the goal (and deepxc's version)."""
    from deepxc import __version__

    digest = hashlib.sha256()
    for path in (task.model, task.path(task.calibration)):
        if path:
            with open(path, "rb") as file:
                digest.update(hashlib.sha256(file.read()).digest())
    digest.update(json.dumps([target, LEVELS, goal, __version__]).encode())
    return f"{task.name}-{target}-{goal}-{digest.hexdigest()[:12]}"


def bundle_for(task: Task, target: str, goal: str, cache: str, log) -> str:
    """The bundle directory, built now unless the cache holds it."""
    key = build_key(task, target, goal)
    out = os.path.join(cache, key)
    if not _build_lock.acquire(blocking=False):
        log("waiting for another build to finish")
        _build_lock.acquire()
    try:
        if os.path.isfile(os.path.join(out, "manifest.json")):
            log(f"cached build: {key}")
            return out
        from deepxc.dad.planner import PlanRequest
        from deepxc.dad.problem import Goal
        from deepxc.pipeline import build
        from deepxc.rlc.plan import Budget

        os.makedirs(cache, exist_ok=True)
        log(f"building {task.name} for {target} (levels {', '.join(map(str, LEVELS))})")
        build(
            task.model,
            target,
            out,
            log=log,
            budgets=[Budget(macs=fraction) for fraction in LEVELS],
            calibration=task.path(task.calibration),
            plan=None if goal == "none" else "auto",
            plan_request=None if goal == "none" else PlanRequest(Goal(goal)),
        )
    finally:
        _build_lock.release()
    return out
