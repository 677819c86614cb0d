"""`deepxc profile`: the least-squares fit recovers known constants from synthetic times,
and a measured profile is a costs file the planner reads. How well it predicts kernels it
never saw is measured by benchmarks/cost_profile.py, not asserted here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import tomllib
from support import has_libcuda

from deepxc.cli.main import main
from deepxc.cost_profile import ProcessorProfile, costs_toml
from deepxc.dad.fit import ClassFit, FitError, LinkFit, Measurement, fit_costs
from deepxc.dad.planner import PlanRequest
from deepxc.pipeline import frontend, plan_graph_for
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


def test_a_host_profile_writes_every_kernel_class(tmp_path, capsys):
    """How well the constants predict kernels they never saw is a timing claim:
    benchmarks/cost_profile.py measures it (predicted/measured per held-out kernel)."""
    costs = profile_file("host", tmp_path / "host.toml")
    check_costs_file(costs, "host", {"cpu"})
    assert set(costs["cpu"]["cost"]) == set(KINDS)
    table = capsys.readouterr().out
    assert all(f"{kind:12} cpu" in table for kind in KINDS)
    assert costs["cpu"]["cost"]["conv"]["gmacs_per_s"] > 0


def opencl_available() -> bool:
    try:
        from opencl_host import opencl_device
    except ImportError:
        return False
    return opencl_device() is not None


@pytest.mark.skipif(not opencl_available(), reason="no OpenCL device (pocl-opencl-icd)")
def test_an_opencl_profile_writes_the_gpu_and_its_link(tmp_path):
    costs = profile_file("host-opencl", tmp_path / "ocl.toml")
    check_costs_file(costs, "host-opencl", {"cpu", "gpu"})
    assert set(costs["gpu"]["cost"]) == set(KINDS)
    assert set(costs["links"]) == {"cpu-gpu"}
    # the planner reads the file it wrote
    graph = frontend(onnx.load(EXAMPLES / "tiny_cnn" / "model.onnx"), log=lambda _: None)
    request = PlanRequest(costs=str(tmp_path / "ocl.toml"))
    plan = plan_graph_for(graph, load_target("host-opencl"), request, log=lambda _: None)
    assert str(tmp_path / "ocl.toml") in plan.costs_source, plan.costs_source
    assert plan.processors()


@pytest.mark.skipif(has_libcuda(), reason="a CUDA driver is installed here")
def test_host_cuda_without_a_device_is_a_one_line_error(tmp_path, capsys):
    assert main(["profile", "--target", "host-cuda", "--quick", "-o", str(tmp_path / "c")]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "no CUDA device was found" in errors[0], errors
    assert not (tmp_path / "c").exists()


def test_an_emulated_target_is_refused_in_one_line(capsys):
    assert main(["profile", "--target", "aarch64"]) == 1
    assert "emulated times are no costs" in capsys.readouterr().err
