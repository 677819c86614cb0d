"""`deepxc plan` and plan files: what a plan says is checked against the model (every
layer in exactly one block or its slices, no processor running two blocks at once, the
latency its last block's end) and against the baselines it must not lose to; bad plans
and impossible limits are refused in one line that says why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from support import quiet

from deepxc.pipeline import frontend

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "examples" / "tiny_cnn" / "model.onnx"
DIGITS = ROOT / "examples" / "digits" / "model.onnx"


def deepxc(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "deepxc.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def plan_json(*args: str) -> dict:
    return json.loads(deepxc("plan", *args, "--json").stdout)


def layers_of(model_path: Path) -> list[str]:
    return [node.name for node in frontend(onnx.load(model_path), log=quiet).nodes()]


def check_schedule(plan: dict, layers: list[str]) -> None:
    """Every layer in one whole block or in every slice of one group; blocks of a
    processor never overlap; the latency is the last end."""
    whole = [layer for b in plan["blocks"] if not b["slice"] for layer in b["layers"]]
    groups: dict[str, list[dict]] = {}
    for block in plan["blocks"]:
        if block["slice"]:
            groups.setdefault(block["slice"]["of"], []).append(block)
    sliced = [layer for parts in groups.values() for layer in parts[0]["layers"]]
    assert sorted(whole + sliced) == sorted(layers)
    for parts in groups.values():
        channels = sorted(tuple(p["slice"]["channels"]) for p in parts)
        assert all(a[1] == b[0] for a, b in zip(channels, channels[1:])), channels
        assert len({p["processor"] for p in parts}) == len(parts) or len(parts) > 2
    by_processor: dict[str, list[tuple[float, float]]] = {}
    for block in plan["blocks"]:
        assert block["end_ms"] >= block["start_ms"] >= 0
        by_processor.setdefault(block["processor"], []).append((block["start_ms"], block["end_ms"]))
    for spans in by_processor.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start >= end - 1e-9
    last = max(b["end_ms"] for b in plan["blocks"])
    assert plan["predicted"]["latency_ms"] >= last - 1e-9


@pytest.mark.parametrize("target", ["tegra-k1", "snapdragon-400"])
def test_plan_json_is_a_schedule_no_worse_than_its_baselines(target):
    plan = plan_json(str(DIGITS), "--target", target)
    check_schedule(plan, layers_of(DIGITS))
    latency = plan["predicted"]["latency_ms"]
    assert plan["predicted"]["energy_mj"] > 0
    for name in ("all_cpu", "all_gpu", "best_split"):
        assert plan["baselines"][name]["latency_ms"] > 0
        if plan["solver"]["optimal"]:
            assert latency <= plan["baselines"][name]["latency_ms"] * (1 + 1e-6)
    assert {b["processor"] for b in plan["blocks"]} <= {"cpu", "gpu"}


@pytest.mark.parametrize("goal", ["latency", "energy"])
def test_the_reported_bound_holds_for_the_plan(goal, tmp_path):
    """squeezenet's heavy layers are offered in slices, each reading the whole input: the
    bound must still be one on every plan, the sliced problem's included."""
    from zoo import realistic_model

    path = tmp_path / "squeezenet.onnx"
    onnx.save(realistic_model("squeezenet"), path)
    plan = plan_json(str(path), "--target", "tegra-k1", "--goal", goal, "--time-limit", "5")
    value = plan["predicted"]["latency_ms" if goal == "latency" else "energy_mj"]
    assert plan["solver"]["bound"] is not None
    assert plan["solver"]["bound"] <= value * (1 + 1e-9), plan["solver"]
    check_schedule(plan, layers_of(path))


def test_best_split_says_which_processor_gets_everything():
    plan = plan_json(str(DIGITS), "--target", "snapdragon-400", "--network", "3g")
    split = plan["baselines"]["best_split"]
    singles = {name: plan["baselines"][name]["latency_ms"] for name in ("all_cpu", "all_gpu")}
    if split["detail"].startswith("all on "):
        processor = split["detail"].split()[2]
        if processor in ("cpu", "gpu"):
            assert split["latency_ms"] == pytest.approx(singles[f"all_{processor}"])


def test_energy_goal_spends_no_more_energy_than_the_latency_plan():
    fast = plan_json(str(DIGITS), "--target", "tegra-k1")
    frugal = plan_json(str(DIGITS), "--target", "tegra-k1", "--goal", "energy")
    assert frugal["predicted"]["energy_mj"] <= fast["predicted"]["energy_mj"] * (1 + 1e-6)
    assert frugal["predicted"]["latency_ms"] >= fast["predicted"]["latency_ms"] * (1 - 1e-6)


def test_network_adds_a_remote_processor_and_a_split_baseline():
    plan = plan_json(str(DIGITS), "--target", "snapdragon-400", "--network", "wifi")
    assert plan["network"] == "wifi"
    check_schedule(plan, layers_of(DIGITS))
    assert "best_split" in plan["baselines"]
    if plan["solver"]["optimal"]:
        assert plan["predicted"]["latency_ms"] <= plan["baselines"]["best_split"]["latency_ms"] * (
            1 + 1e-6
        )


def test_table_and_timeline(tmp_path):
    svg = tmp_path / "plan.svg"
    result = deepxc("plan", str(TINY), "--target", "tegra-k1", "--timeline", str(svg))
    assert "predicted: latency" in result.stdout
    assert "baseline all_cpu" in result.stdout
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "gpu" in text or "cpu" in text


def test_a_limit_no_plan_meets_says_by_how_much():
    result = deepxc(
        "plan", str(DIGITS), "--target", "tegra-k1", "--max-latency-ms", "0.000001", check=False
    )
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("deepxc: error: ") and "Traceback" not in result.stderr
    assert "--max-latency-ms" in message and " over" in message, message


def build_with_plan(model: Path, target: str, plan: Path, tmp_path) -> str:
    """stderr of a build by `plan` that must fail."""
    out = str(tmp_path / "b")
    result = deepxc(
        "build", str(model), "--target", target, "--plan", str(plan), "-o", out, check=False
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    return result.stderr


def test_plan_file_for_another_model_is_refused(tmp_path):
    saved = tmp_path / "plan.json"
    deepxc("plan", str(TINY), "--target", "host-opencl", "-o", str(saved))
    assert "was made for model" in build_with_plan(DIGITS, "host-opencl", saved, tmp_path)


def test_plan_file_with_a_processor_the_target_lacks_is_refused(tmp_path):
    saved = tmp_path / "plan.json"
    deepxc("plan", str(TINY), "--target", "tegra-k1", "-o", str(saved))
    plan = json.loads(saved.read_text())
    plan["blocks"][0]["processor"] = "gpu"
    saved.write_text(json.dumps(plan))
    message = build_with_plan(TINY, "host", saved, tmp_path)
    assert "'gpu', which target host lacks" in message, message


def test_place_and_plan_together_are_refused(tmp_path):
    result = deepxc(
        "build",
        str(TINY),
        "--place",
        "gpu",
        "--plan",
        "auto",
        "--target",
        "host-opencl",
        "-o",
        str(tmp_path / "b"),
        check=False,
    )
    assert result.returncode == 1 and "give one of them" in result.stderr
