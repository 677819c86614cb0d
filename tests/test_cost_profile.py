"""`deepxc profile`: the least-squares fit recovers known constants from synthetic times,
and a measured profile predicts the time of kernels it never saw (built separately, at
other sizes) within a factor of 2."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import onnx
import pytest
import tomllib
from onnx import TensorProto, helper, numpy_helper

from deepxc.cli.main import main
from deepxc.cost_profile import ProcessorProfile, costs_toml
from deepxc.dad.fit import ClassFit, FitError, LinkFit, Measurement, fit_costs
from deepxc.dad.planner import PlanRequest
from deepxc.pipeline import build_model, frontend, plan_graph_for
from deepxc.runner import profile_bundle
from deepxc.targets import load_target

KINDS = ("conv", "depthwise", "dense", "pool", "elementwise")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# ---- the fit, on synthetic times -----------------------------------------------------

TRUE = {  # launch s, s per MAC, s per byte
    "conv": (5e-6, 1 / 30e9, 1 / 6e9),
    "dense": (2e-6, 1 / 12e9, 1 / 20e9),
    "pool": (1e-6, 0.0, 1 / 9e9),  # no MAC term
}
LINK = (20e-6, 1 / 3e9)  # latency s (each way: a partition pays it twice), s per byte


def synthetic(rng, link: bool = False, noise: float = 0.0) -> list[Measurement]:
    """8 calls a class; with `link`, each a GPU partition of 1 to 3 kernels that pays the
    link's latency in and out."""
    rows = []
    for kind, (launch, per_mac, per_byte) in TRUE.items():
        for _ in range(8):
            macs = 0.0 if per_mac == 0 else float(np.exp(rng.uniform(np.log(1e5), np.log(5e7))))
            nbytes = float(np.exp(rng.uniform(np.log(1e4), np.log(4e6))))
            kernels = int(rng.integers(1, 4))
            moved = float(nbytes * rng.uniform(0.2, 1.0)) if link else 0.0
            time = launch * kernels + macs * per_mac + nbytes * per_byte
            time += (2 * LINK[0] + moved * LINK[1]) if link else 0.0
            time *= 1 + noise * rng.standard_normal()
            rows.append(Measurement(kind, macs, nbytes, time, kernels, int(link), moved))
    return rows


def expected(kind: str) -> tuple[float, float, float]:
    launch, per_mac, per_byte = TRUE[kind]
    return launch * 1e6, (1 / per_mac / 1e9 if per_mac else 0.0), 1 / per_byte / 1e9


@pytest.mark.parametrize("link", [False, True])
def test_the_fit_recovers_known_constants_within_1_percent(link):
    fits, fitted_link = fit_costs(synthetic(np.random.default_rng(1), link))
    for kind, fit in fits.items():
        launch_us, gmacs, gbytes = expected(kind)
        assert fit.launch_us == pytest.approx(launch_us, rel=0.01), kind
        assert fit.gmacs_per_s == pytest.approx(gmacs, rel=0.01), kind
        assert fit.gbytes_per_s == pytest.approx(gbytes, rel=0.01), kind
        assert fit.rms_rel_error < 1e-6 and fit.samples == 8
    if link:
        assert fitted_link.latency_us == pytest.approx(LINK[0] * 1e6, rel=0.01)
        assert fitted_link.gbytes_per_s == pytest.approx(1 / LINK[1] / 1e9, rel=0.01)
    else:
        assert fitted_link is None


def test_the_fit_weighs_small_kernels_by_their_relative_error():
    """With 5% noise on every time, the launch cost (all of a tiny kernel's time, nothing
    of a big one's) still comes out within 15%: an unweighted fit lets the big kernels'
    noise swamp it."""
    rng = np.random.default_rng(2)
    rows = []
    for _ in range(3):
        rows += [m for m in synthetic(rng, noise=0.05) if m.kind == "conv"]
    tiny = [
        Measurement("conv", 1e3, 1e3, (5e-6 + 1e3 / 30e9 + 1e3 / 6e9) * f) for f in (0.97, 1.03)
    ]
    fits, _ = fit_costs(rows + tiny)
    assert fits["conv"].launch_us == pytest.approx(5.0, rel=0.15)
    assert 0.02 < fits["conv"].rms_rel_error < 0.1


def test_too_few_measurements_of_a_class_is_an_error():
    with pytest.raises(FitError, match="kernel class dense: fewer than 2"):
        fit_costs([Measurement("conv", 1e6, 1e5, 1e-4), Measurement("conv", 2e6, 1e5, 2e-4)]
                  + [Measurement("dense", 1e6, 1e5, 1e-4)])  # fmt: skip


def test_predictions_use_the_constants():
    fit = ClassFit(launch_us=5.0, gmacs_per_s=10.0, gbytes_per_s=0.0, rms_rel_error=0, samples=3)
    assert fit.time_s(1e7, 1e9, kernels=2) == pytest.approx(10e-6 + 1e-3)
    assert LinkFit(10.0, 2.0).time_s(2e6, transfers=2) == pytest.approx(20e-6 + 1e-3)


# ---- measured profiles ----------------------------------------------------------------


def conv_model(channels: int, size: int, glue: bool) -> onnx.ModelProto:
    """A 3x3 convolution after a small one (the first parallel call of a run wakes the
    threads, a cost of the run rather than of the call), and, with `glue`, a CPU layer
    that ends the convolution's GPU partition."""
    rng = np.random.default_rng(5)

    def value(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    def weight(name, count, inner):
        w = rng.standard_normal((count, inner, 3, 3)).astype(np.float32) * 0.1
        return numpy_helper.from_array(w, name)

    shape = [1, channels, size, size]
    nodes = [
        helper.make_node("Conv", ["l", "lw"], ["ly"], name="lead", pads=[1] * 4),
        helper.make_node("Conv", ["x", "w"], ["y"], name="held_conv", pads=[1] * 4),
    ]
    inputs = [value("l", [1, 8, 16, 16]), value("x", shape)]
    outputs = [value("ly", [1, 8, 16, 16]), value("y", shape)]
    if glue:
        nodes.append(helper.make_node("Relu", ["g"], ["gy"], name="glue"))
        inputs.append(value("g", [1, 8]))
        outputs.append(value("gy", [1, 8]))
    weights = [weight("lw", 8, 8), weight("w", channels, channels)]
    graph = helper.make_graph(nodes, "held", inputs, outputs, weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def dense_model() -> onnx.ModelProto:
    """A small dense layer (1x96 by 96x40: no profiled size) after the lead conv, and the
    CPU layer that ends its GPU partition."""
    rng = np.random.default_rng(6)

    def value(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    lw = rng.standard_normal((8, 8, 3, 3)).astype(np.float32) * 0.1
    w = rng.standard_normal((40, 96)).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Conv", ["l", "lw"], ["ly"], name="lead", pads=[1] * 4),
        helper.make_node("Gemm", ["x", "w"], ["y"], name="held_fc", transB=1),
        helper.make_node("Relu", ["g"], ["gy"], name="glue"),
    ]
    inputs = [value("l", [1, 8, 16, 16]), value("x", [1, 96]), value("g", [1, 8])]
    outputs = [value("ly", [1, 8, 16, 16]), value("y", [1, 40]), value("gy", [1, 8])]
    weights = [numpy_helper.from_array(lw, "lw"), numpy_helper.from_array(w, "w")]
    graph = helper.make_graph(nodes, "held", inputs, outputs, weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def measured_seconds(
    model, target: str, bundle, place: str | None = None, layer: str = "held_conv"
) -> float:
    """The held-out layer's call (or its GPU partition's): median of 5 profiled runs, on
    one CPU thread as the profile was."""
    build_model(
        model, target, str(bundle), log=lambda _: None, profile=True, place=place, threads=1
    )
    times = []
    for _ in range(5):
        _, _, calls = profile_bundle(str(bundle), bench=5)
        times.append(sum(c["ms"] for c in calls if layer in c["layers"]) * 1e-3)
    return float(np.median(times))


FIELDS = {"gmacs_per_s", "gbytes_per_s", "launch_us", "rms_rel_error", "samples"}


def check_costs_file(costs: dict, target: str, processors: set[str]) -> None:
    """The costs-file format the planner reads: target, machine and measured; a table of
    finite numbers >= 0 per processor and kernel class; links with a bandwidth > 0."""
    assert costs["target"] == target and costs["machine"] and costs["measured"]
    assert set(costs) == {"target", "machine", "measured", "links"} & set(costs) | processors
    for processor in processors:
        assert set(costs[processor]) == {"cost"}
        for kind, table in costs[processor]["cost"].items():
            assert kind in KINDS and set(table) == FIELDS, (processor, kind)
            assert all(np.isfinite(v) and v >= 0 for v in table.values()), (processor, table)
    for link in costs.get("links", {}).values():
        assert set(link) == {"latency_us", "gbytes_per_s"}
        assert link["gbytes_per_s"] > 0 and np.isfinite(link["gbytes_per_s"])


def profile_file(target: str, path) -> dict:
    """A quick profile on one CPU thread: the 2-core test machine is shared, and a kernel
    on two threads waits for whichever is descheduled, so its times swing far more."""
    command = ["profile", "--target", target, "--quick", "--threads", "1", "-o", str(path)]
    assert main(command) == 0
    return tomllib.loads(path.read_text())


def test_a_link_without_a_byte_term_is_written_with_a_bandwidth():
    """The planner needs a link's rate > 0: a fit that saw no per-byte cost (pocl copies
    nothing) writes a bandwidth at which a MB takes a nanosecond."""
    fit = ClassFit(5.0, 0.0, 3.0, 0.1, 4)
    profiles = [
        ProcessorProfile("cpu", {"conv": fit}, None, [], 0.0),
        ProcessorProfile("gpu", {"pool": fit}, LinkFit(12.0, 0.0), [], 0.0),
    ]
    costs = tomllib.loads(costs_toml(load_target("host-opencl"), profiles, None))
    check_costs_file(costs, "host-opencl", {"cpu", "gpu"})
    assert costs["links"]["cpu-gpu"]["latency_us"] == 12.0
    link = LinkFit(12.0, costs["links"]["cpu-gpu"]["gbytes_per_s"])
    assert link.time_s(1e6) == pytest.approx(12e-6, abs=2e-9)


def predicted(costs: dict, processor: str, macs: float, nbytes: float, kind="conv") -> float:
    cost = costs[processor]["cost"][kind]
    fit = ClassFit(cost["launch_us"], cost["gmacs_per_s"], cost["gbytes_per_s"], 0.0, 0)
    return fit.time_s(macs, nbytes)


def conv_work(channels: int, size: int) -> tuple[float, float, float]:
    """MACs, bytes read and written (input, weights, output), bytes moved (in + out)."""
    activations = channels * size * size * 4
    macs = channels * size * size * channels * 9
    return macs, 2 * activations + channels * channels * 9 * 4, 2 * activations


def test_a_host_profile_predicts_held_out_kernels_within_2x(tmp_path, capsys):
    costs = profile_file("host", tmp_path / "host.toml")
    check_costs_file(costs, "host", {"cpu"})
    assert set(costs["cpu"]["cost"]) == set(KINDS)
    table = capsys.readouterr().out
    assert all(f"{kind:12} cpu" in table for kind in KINDS)
    for channels, size in [(24, 20), (64, 16)]:  # 2.1 and 9.4 MMACs, sizes not profiled
        macs, nbytes, _ = conv_work(channels, size)
        seconds = measured_seconds(conv_model(channels, size, False), "host", tmp_path / "b")
        guess = predicted(costs, "cpu", macs, nbytes)
        assert 0.5 < guess / seconds < 2.0, (channels, size, guess, seconds)


def opencl_available() -> bool:
    try:
        from opencl_host import opencl_device
    except ImportError:
        return False
    return opencl_device() is not None


@pytest.mark.skipif(not opencl_available(), reason="no OpenCL device (pocl-opencl-icd)")
def test_an_opencl_profile_predicts_a_held_out_gpu_partition_within_2x(tmp_path):
    costs = profile_file("host-opencl", tmp_path / "ocl.toml")
    check_costs_file(costs, "host-opencl", {"cpu", "gpu"})
    assert set(costs["gpu"]["cost"]) == set(KINDS)
    link = costs["links"]["cpu-gpu"]
    moving = LinkFit(link["latency_us"], link["gbytes_per_s"])
    for channels, size in [(24, 20), (64, 16)]:
        macs, nbytes, moved = conv_work(channels, size)
        model = conv_model(channels, size, glue=True)
        seconds = measured_seconds(model, "host-opencl", tmp_path / "b", place="held_conv=gpu")
        guess = predicted(costs, "gpu", macs, nbytes) + moving.time_s(moved, transfers=2)
        assert 0.5 < guess / seconds < 2.0, (channels, size, guess, seconds)
    # a small layer alone on the GPU is mostly its partition's overhead (the link's
    # latency in and out) and its launch: predicted within 2x too
    seconds = measured_seconds(
        dense_model(), "host-opencl", tmp_path / "d", "held_fc=gpu", "held_fc"
    )
    macs, moved = 96 * 40, (96 + 40) * 4
    guess = predicted(costs, "gpu", macs, moved + 96 * 40 * 4, "dense")
    guess += moving.time_s(moved, transfers=2)
    assert 0.5 < guess / seconds < 2.0, ("dense", guess, seconds)
    # so a plan of tiny_cnn (13 us on the CPU alone; pocl partitions cost tens of us)
    # keeps it all on the CPU
    graph = frontend(onnx.load(EXAMPLES / "tiny_cnn" / "model.onnx"), log=lambda _: None)
    request = PlanRequest(costs=str(tmp_path / "ocl.toml"))
    plan = plan_graph_for(graph, load_target("host-opencl"), request, log=lambda _: None)
    assert plan.processors() == ["cpu"], plan.placement()


def cuda_driver_present() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


@pytest.mark.skipif(cuda_driver_present(), reason="a CUDA driver is installed here")
def test_host_cuda_without_a_device_is_a_one_line_error(tmp_path, capsys):
    assert main(["profile", "--target", "host-cuda", "--quick", "-o", str(tmp_path / "c")]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "no CUDA device was found" in errors[0], errors
    assert not (tmp_path / "c").exists()


def test_an_emulated_target_is_refused_in_one_line(capsys):
    assert main(["profile", "--target", "aarch64"]) == 1
    assert "emulated times are no costs" in capsys.readouterr().err
