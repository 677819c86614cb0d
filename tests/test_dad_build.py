"""Bundles built by decomposition plans on an OpenCL device (pocl): `--plan auto` for the
examples and every zoo model, saved plans, and plans with RLC levels; every output is
checked against onnxruntime.

pocl shares the CPU's cores, so on `host-opencl` itself the planner keeps everything on
the CPU (its GPU is slower there and never runs at the same time). These tests plan on a
copy of `host-opencl` whose GPU is as fast as its CPU and has cores of its own: the plans
then cut the models between both processors, slice their heaviest layers, and order
the work so that the two overlap, which is what the bundles must get right."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from own_cores import opencl_target_with_own_gpu
from support import assert_close, quiet, random_inputs, reference_outputs
from zoo import realistic_model

from deepxc.dad.planner import PlanRequest
from deepxc.pipeline import build_model
from deepxc.runner import run_bundle

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytest.importorskip("pyopencl")
from opencl_host import opencl_device  # noqa: E402

pytestmark = pytest.mark.skipif(
    opencl_device() is None,
    reason="no OpenCL device: install pocl-opencl-icd and ocl-icd-opencl-dev (.ci/run does)",
)

LIGHT = ["squeezenet", "shufflenet", "inception_v1", "inception_v2", "densenet121"]
HEAVY = ["bvlc_alexnet", "zfnet512", "resnet50", "vgg19"]


def load(name: str) -> onnx.ModelProto:
    path = EXAMPLES / name / "model.onnx"
    return onnx.load(path) if path.exists() else realistic_model(name)


@pytest.fixture(autouse=True)
def no_cached_costs(tmp_path, monkeypatch):
    """A costs file `deepxc profile` left on this machine must not change the plans."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def split_target(tmp_path_factory) -> str:
    """host-opencl with a GPU of its own cores, as fast as the CPU, and a quick link."""
    return opencl_target_with_own_gpu(tmp_path_factory.mktemp("target"), fast=True)


def build_planned(model, target: str, bundle: Path, **how):
    messages = []
    build_model(model, target, str(bundle), log=messages.append, **how)
    inputs = random_inputs(model)
    outputs, _ = run_bundle(str(bundle), inputs)
    assert_close(outputs, reference_outputs(model, inputs))
    return json.loads((bundle / "manifest.json").read_text()), messages


def steps(manifest: dict) -> list[str]:
    return [call.get("step", "kernel") for call in manifest["kernel_calls"]]


@pytest.mark.parametrize(
    "name",
    ["tiny_cnn", "digits", "speakers", *LIGHT]
    + [pytest.param(name, marks=pytest.mark.slow) for name in HEAVY],
)
def test_plan_auto_matches_onnxruntime(name, split_target, tmp_path):
    model = load(name)
    manifest, messages = build_planned(
        model, split_target, tmp_path / "b", plan="auto", plan_request=PlanRequest()
    )
    plan = manifest["levels"][0]["plan"]
    processors = {block["processor"] for block in plan["blocks"]}
    assert processors == {"cpu", "gpu"}, plan["blocks"]
    assert "launch" in steps(manifest) and "wait" in steps(manifest)
    assert plan["predicted"]["latency_ms"] <= min(
        b["latency_ms"] for b in plan["baselines"].values()
    ) * (1 + 1e-6)
    assert any(m.startswith("plan: ") and "predicted" in m for m in messages)


def test_sliced_layers_write_their_channel_ranges(split_target, tmp_path):
    """digits' convolutions and dense layers are cut between the processors: each slice
    computes its channels, and the joined output matches onnxruntime."""
    manifest, _ = build_planned(
        load("digits"), split_target, tmp_path / "b", plan="auto", plan_request=PlanRequest()
    )
    plan = manifest["levels"][0]["plan"]
    sliced = [block for block in plan["blocks"] if block["slice"]]
    assert sliced, plan["blocks"]
    assert {block["processor"] for block in sliced} == {"cpu", "gpu"}
    layers = {layer for call in manifest["kernel_calls"] for layer in call["layers"]}
    assert any("@" in layer for layer in layers)


def test_saved_plan_builds_as_planned(split_target, tmp_path):
    from deepxc.cli.main import main

    model_path = EXAMPLES / "digits" / "model.onnx"
    saved = tmp_path / "plan.json"
    assert main(["plan", str(model_path), "--target", split_target, "-o", str(saved)]) == 0
    plan = json.loads(saved.read_text())
    manifest, _ = build_planned(
        onnx.load(model_path), split_target, tmp_path / "b", plan=str(saved)
    )
    built = manifest["levels"][0]["plan"]
    assert [(b["name"], b["processor"]) for b in built["blocks"]] == [
        (b["name"], b["processor"]) for b in plan["blocks"]
    ]


def test_plan_auto_with_rlc_levels_matches_each_level(split_target, tmp_path):
    """Each RLC level is planned like any graph; each level's output equals
    onnxruntime on that level's own (low-rank) model."""
    from lowrank_reference import reference_model

    from deepxc.rlc.plan import Budget

    model = load("digits")
    calibration = str(EXAMPLES / "digits" / "calibration.npz")
    bundle = tmp_path / "b"
    build_model(
        model,
        split_target,
        str(bundle),
        log=quiet,
        budgets=[Budget(macs=1.0), Budget(macs=0.3)],
        calibration=calibration,
        plan="auto",
        plan_request=PlanRequest(),
    )
    manifest = json.loads((bundle / "manifest.json").read_text())
    inputs = random_inputs(model)
    for level, record in enumerate(manifest["levels"]):
        assert {b["processor"] for b in record["plan"]["blocks"]} == {"cpu", "gpu"}
        outputs, _ = run_bundle(str(bundle), inputs, level=level)
        reference = reference_model(
            str(EXAMPLES / "digits" / "model.onnx"), record["rlc"]["layers"]
        )
        assert_close(outputs, reference_outputs(reference, inputs))
