"""Bundles with layers on the remote processor, without a server: the partition's call
finds no server and its local fallback computes it, so the outputs still match
onnxruntime (host, and tegra-k1 under qemu-arm); the bundle carries each remote partition
as ONNX that onnxruntime runs to the same result; the arena keeps a partition's inputs
apart from its outputs. Runs with a server are in test_remote_end_to_end.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from support import assert_close, quiet, random_inputs, reference_outputs

from deepxc.cli.main import main
from deepxc.pipeline import build_model
from deepxc.remote_url import RemoteUrlError, check_remote_url
from deepxc.runner import run_remote

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DIGITS = EXAMPLES / "digits" / "model.onnx"
MIDDLE = "remote,conv1=cpu,relu1=cpu,fc1=cpu,relu4=cpu,fc2=cpu"  # conv2 .. flatten remote
TAIL = "fc1=remote,relu4=remote,fc2=remote"


def build(tmp_path, place: str, target: str = "host", **options) -> tuple[dict, Path]:
    bundle = tmp_path / "bundle"
    manifest = build_model(
        onnx.load(DIGITS), target, str(bundle), log=quiet, place=place, **options
    )
    return manifest, bundle


@pytest.mark.parametrize("place", [MIDDLE, TAIL])
def test_without_a_server_the_fallback_gives_onnxruntimes_answer(tmp_path, monkeypatch, place):
    monkeypatch.delenv("DEEPX_REMOTE", raising=False)
    manifest, bundle = build(tmp_path, place)
    model = onnx.load(DIGITS)
    inputs = random_inputs(model, seed=3)
    outputs, stats, _ = run_remote(str(bundle), inputs)
    assert_close(outputs, reference_outputs(model, inputs))
    assert len(manifest["remote"]["partitions"]) == 1
    assert stats["remote_calls"] == 1 and stats["remote_ok"] == 0 and stats["fallbacks"] == 1
    assert sum(stats["causes"].values()) == 1


@pytest.mark.skipif(shutil.which("qemu-arm") is None, reason="qemu-user is not installed")
def test_tegra_k1_under_qemu_falls_back_to_the_same_answer(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPX_REMOTE", raising=False)
    _, bundle = build(tmp_path, MIDDLE, "tegra-k1")
    model = onnx.load(DIGITS)
    inputs = random_inputs(model, seed=4)
    outputs, stats, _ = run_remote(str(bundle), inputs, examples=0)
    assert_close(outputs, reference_outputs(model, inputs))
    assert stats["fallbacks"] == stats["remote_calls"] == 1


def intermediate(model: onnx.ModelProto, inputs: dict, tensor: str) -> np.ndarray:
    """`tensor` of `model` on `inputs`, by onnxruntime (the tensor made a graph output)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(tensor))
    session = ort.InferenceSession(probe.SerializeToString())
    return session.run([tensor], inputs)[0]


def test_the_tail_partition_as_onnx_gives_the_models_output(tmp_path):
    manifest, bundle = build(tmp_path, TAIL)
    (part,) = manifest["remote"]["partitions"]
    assert part["layers"] == ["fc1", "relu4", "fc2"]
    assert part["model"] == "digits_cnn_p0" and part["version"] == "1" and part["level"] == 0
    assert [t["name"] for t in part["inputs"]] == ["input0"]
    assert [t["name"] for t in part["outputs"]] == ["output0"]
    assert part["inputs"][0]["datatype"] == "FP32" and part["inputs"][0]["shape"] == [1, 1024]
    model = onnx.load(DIGITS)
    inputs = random_inputs(model, seed=5)
    flatten = next(node for node in model.graph.node if node.op_type == "Flatten")
    features = intermediate(model, inputs, flatten.output[0])
    served = ort.InferenceSession(str(bundle / part["onnx"]))
    assert [i.name for i in served.get_inputs()] == ["input0"]
    assert [o.name for o in served.get_outputs()] == ["output0"]
    (logits,) = served.run(None, {"input0": features})
    expected = reference_outputs(model, inputs)
    assert_close({"y": logits}, {"y": next(iter(expected.values()))})


def test_a_partitions_inputs_and_outputs_never_share_arena_bytes(tmp_path):
    """A response cut off half-way may have written the outputs before the fallback reads
    the inputs: the arena plan must keep them apart from the partition's call on."""
    manifest, _ = build(tmp_path, MIDDLE)
    calls = manifest["kernel_calls"]
    (step,) = [i for i, c in enumerate(calls) if c["step"] == "remote"]
    symbol = calls[step]["kernel"]
    (wait,) = [i for i, c in enumerate(calls) if c["step"] == "wait" and c["kernel"] == symbol]
    assert calls[wait]["args"] == calls[step]["args"]
    fallback = [c for c in calls if c.get("fallback_of") == symbol]
    assert fallback and all(c["layers"] for c in fallback)
    assert calls[wait + 1 : wait + 1 + len(fallback)] == fallback
    plan = {b["tensor"]: b for b in manifest["levels"][0]["arena_plan"]["buffers"]}
    count = len(manifest["remote"]["partitions"][0]["inputs"])
    ins, outs = calls[step]["args"][:count], calls[step]["args"][count:]
    for a in ins:
        for b in outs:
            x, y = plan[a], plan[b]
            assert (
                x["offset"] + x["bytes"] <= y["offset"] or y["offset"] + y["bytes"] <= x["offset"]
            )


def test_build_names_the_server_and_the_bundle_records_it(tmp_path):
    manifest, bundle = build(tmp_path, TAIL, remote="http://127.0.0.1:9", remote_timeout_ms=300)
    assert manifest["remote"]["url"] == "http://127.0.0.1:9"
    assert manifest["remote"]["timeout_ms"] == 300
    header = (bundle / "model.h").read_text()
    assert '#define DEEPX_REMOTE_URL "http://127.0.0.1:9"' in header
    assert "#define DEEPX_REMOTE_TIMEOUT_MS 300" in header
    assert json.loads((bundle / "manifest.json").read_text())["provenance"]["options"]["remote"]


def test_a_bundle_without_remote_layers_has_no_client(tmp_path):
    manifest, bundle = build(tmp_path, "fc1=cpu")
    assert manifest["remote"] is None and not (bundle / "remote").exists()
    assert "DEEPX_REMOTE_URL" not in (bundle / "model.h").read_text()


@pytest.mark.parametrize(
    "url, problem",
    [
        ("https://a:1", "plain HTTP"),
        ("http://a", "give the port"),
        ("http://a:0", "give the port"),
        ("http://a:80/v2", "no path"),
        ("http://:80", "no host"),
    ],
)
def test_a_bad_server_url_is_one_line_naming_it(url, problem):
    with pytest.raises(RemoteUrlError, match=problem) as error:
        check_remote_url(url)
    assert url in str(error.value) and "\n" not in str(error.value)


def test_check_remote_url_gives_host_and_port():
    assert check_remote_url("http://127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert check_remote_url("http://server.local:80/") == ("server.local", 80)


def test_the_cli_refuses_a_bad_url_before_any_work(tmp_path, capsys):
    code = main(
        ["build", str(DIGITS), "--place", TAIL, "--remote", "http://x", "-o", str(tmp_path / "b")]
    )
    assert code == 1
    assert "--remote http://x: give the port" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_the_planner_lets_the_remote_work_beside_the_cpu():
    """The runtime's remote call runs on a thread of its own while the CPU goes on."""
    from deepxc.dad.costs import load_costs
    from deepxc.targets import load_target

    costs = load_costs(load_target("tegra-k1")).with_network("wifi")
    groups = {p.name: p.serial_group for p in costs.processors()}
    assert len({groups["remote"], groups["cpu"], groups["gpu"]}) == 3


def test_a_fast_server_takes_the_watchs_squeezenet_and_3g_keeps_it_home():
    """The planner sends blocks to the remote when the link and the server pay (a
    measured localhost link: 2 ms round trip, 5 Gbit/s), not over 3G."""
    from zoo import realistic_model

    from deepxc.dad.network import measured_profile
    from deepxc.dad.planner import PlanRequest
    from deepxc.pipeline import frontend, plan_graph_for
    from deepxc.targets import load_target

    graph = frontend(realistic_model("squeezenet"), log=quiet)
    watch = load_target("snapdragon-400")
    fast = PlanRequest(network=measured_profile(2.0, 5000.0, 5000.0))
    plan = plan_graph_for(graph, watch, fast, log=quiet)
    assert "remote" in plan.processors() and plan.network == "measured"
    slow = plan_graph_for(graph, watch, PlanRequest(network="3g"), log=quiet)
    assert "remote" not in slow.processors()


def test_gpu_and_remote_partitions_in_one_bundle(tmp_path, monkeypatch):
    """On pocl: the GPU partition before the remote one is waited for before the remote
    call reads its output; the fallback and the GPU give onnxruntime's answer."""
    pytest.importorskip("pyopencl")
    from opencl_host import opencl_device

    if opencl_device() is None:
        pytest.skip("no OpenCL device (pocl-opencl-icd)")
    monkeypatch.delenv("DEEPX_REMOTE", raising=False)
    manifest, bundle = build(tmp_path, "gpu,fc1=remote,relu4=remote", "host-opencl")
    steps = [(c["step"], c["kernel"].split("_")[1]) for c in manifest["kernel_calls"]]
    gpu_wait, remote = steps.index(("wait", "gpu")), steps.index(("remote", "remote"))
    assert gpu_wait < remote < steps.index(("launch", "gpu"), remote)
    model = onnx.load(DIGITS)
    inputs = random_inputs(model, seed=6)
    outputs, stats, _ = run_remote(str(bundle), inputs)
    assert_close(outputs, reference_outputs(model, inputs))
    assert stats["fallbacks"] == 1
