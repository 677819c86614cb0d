"""The DAD cost model: the formula against hand arithmetic, the target files' constants,
costs files, the network links and the planning problem built from unit blocks."""

import math
import subprocess
import sys

import pytest

from deepxc.dad.build_problem import gpu_refused, problem_of
from deepxc.dad.costs import load_costs
from deepxc.dad.network import network_profile
from deepxc.dad.unit_block import UnitBlock
from deepxc.errors import DeepxcError, TargetError
from deepxc.ir.graph import Graph, Node, TensorSpec
from deepxc.targets import known_targets, load_target
from deepxc.targets.cost_tables import KERNEL_CLASSES

TARGET = """
name = "{name}"
description = "a made-up two-processor board"
[tvm]
kind = "llvm"
[toolchain]
cc = "cc"

[[processors]]
name = "cpu"
kind = "cpu"
cores = 2
clock_ghz = 1.0
{cpu}

[[processors]]
name = "gpu"
kind = "gpu"
cores = 8
clock_ghz = 0.5
group = "{gpu_group}"
memory_mb = 64
{gpu}

[[links]]
between = ["cpu", "gpu"]
latency_us = 20.0
gbytes_per_s = 2.0
nj_per_byte = 0.5
"""

CPU = """
[processors.cost.conv]
gmacs_per_s = 2.0
gbytes_per_s = 4.0
launch_us = 10.0
[processors.cost.elementwise]
gmacs_per_s = 0.0
gbytes_per_s = 8.0
launch_us = 3.0
[processors.energy]
nj_per_mac = 0.5
nj_per_byte = 0.25
idle_mw = 300.0
"""

GPU = """
[processors.cost.conv]
gmacs_per_s = 10.0
gbytes_per_s = 5.0
launch_us = 50.0
[processors.cost.elementwise]
gmacs_per_s = 0.0
gbytes_per_s = 5.0
launch_us = 50.0
[processors.energy]
nj_per_mac = 0.1
nj_per_byte = 0.2
idle_mw = 100.0
"""


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """No costs file of this machine's cache takes part unless a test puts one there."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def board(tmp_path, name="board", cpu=CPU, gpu=GPU, gpu_group=""):
    path = tmp_path / f"{name}.toml"
    path.write_text(TARGET.format(name=name, cpu=cpu, gpu=gpu, gpu_group=gpu_group))
    return load_target(str(path))


def block(name, kind="conv", macs=1_000_000, **kw):
    fields = dict(
        layers=[name],
        kind=kind,
        macs=macs,
        kernels=1,
        bytes_in=1_000_000,
        bytes_out=2_000_000,
        weight_bytes=1_000_000,
        inputs=["x"],
        outputs=[f"{name}_out"],
    )
    fields.update(kw)
    return UnitBlock(name=name, **fields)


def test_time_and_energy_follow_the_formula(tmp_path):
    costs = load_costs(board(tmp_path))
    conv = block("conv", kernels=2)  # 1e6 MACs, 4e6 bytes moved (in + out + weights)
    assert costs.time_s(conv, "cpu") == pytest.approx(2 * 10e-6 + 1e6 / 2e9 + 4e6 / 4e9)
    assert costs.time_s(conv, "gpu") == pytest.approx(2 * 50e-6 + 1e6 / 10e9 + 4e6 / 5e9)
    assert costs.energy_j(conv, "cpu") == pytest.approx(1e6 * 0.5e-9 + 4e6 * 0.25e-9)
    assert costs.energy_j(conv, "gpu") == pytest.approx(1e6 * 0.1e-9 + 4e6 * 0.2e-9)
    # gmacs_per_s = 0: no MAC term, whatever the MACs
    relu = block("relu", kind="elementwise", macs=123_456_789)
    assert costs.time_s(relu, "cpu") == pytest.approx(3e-6 + 4e6 / 8e9)


def test_a_pool_pays_its_window_reads_at_its_mac_rate(tmp_path):
    """A pool has no MACs; its `ops` (window reads) take the MAC term of the pool class."""
    pool_rates = "[processors.cost.pool]\ngmacs_per_s = 4.0\ngbytes_per_s = 8.0\nlaunch_us = 2.0\n"
    costs = load_costs(board(tmp_path, cpu=CPU + pool_rates, gpu=GPU + pool_rates))
    pool = block("pool", kind="pool", macs=0, ops=9_000_000)  # a 3x3 window, 1e6 outputs
    assert costs.time_s(pool, "cpu") == pytest.approx(2e-6 + 9e6 / 4e9 + 4e6 / 8e9)
    # a conv's MACs are its MAC term, whatever `ops` holds
    assert costs.time_s(block("conv", ops=5), "cpu") == costs.time_s(block("conv"), "cpu")


def test_a_slice_pays_its_share_and_a_whole_launch(tmp_path):
    costs = load_costs(board(tmp_path))
    whole = block("conv", macs=8_000_000, bytes_out=4_000_000, weight_bytes=2_000_000)
    half = block(
        "conv@0of2",
        macs=4_000_000,
        bytes_out=2_000_000,
        weight_bytes=1_000_000,
        slice_of="conv",
        slices=2,
    )
    launch = 10e-6
    assert costs.time_s(half, "cpu") - launch == pytest.approx(
        (costs.time_s(whole, "cpu") - launch) - (4e6 / 2e9 + 3e6 / 4e9)
    )
    assert costs.time_s(half, "cpu") == pytest.approx(launch + 4e6 / 2e9 + 4e6 / 4e9)


def test_processors_and_links_of_a_target(tmp_path):
    costs = load_costs(board(tmp_path, gpu_group="cpu"))
    cpu, gpu = costs.processors()
    assert (cpu.name, cpu.memory_bytes, cpu.idle_w, cpu.serial_group) == (
        "cpu",
        math.inf,
        0.3,
        "cpu",
    )
    assert (gpu.memory_bytes, gpu.idle_w, gpu.serial_group) == (64 * 2**20, 0.1, "cpu")
    links = costs.links()
    assert set(links) == {("cpu", "gpu"), ("gpu", "cpu")}
    assert links[("gpu", "cpu")].time_s(2e6) == pytest.approx(20e-6 + 2e6 / 2e9)
    assert links[("cpu", "gpu")].energy_j(2e6) == pytest.approx(2e6 * 0.5e-9)


@pytest.mark.parametrize("name", known_targets())
def test_every_target_has_constants_for_every_processor_and_class(name):
    target = load_target(name)
    costs = load_costs(target)
    for processor in target.processors:
        assert set(processor.cost) == set(KERNEL_CLASSES), processor.name
        for kind, constants in processor.cost.items():
            assert constants["gbytes_per_s"] > 0 and constants["launch_us"] > 0, kind
            if kind in ("conv", "depthwise", "dense"):
                assert constants["gmacs_per_s"] > 0, kind
        assert processor.energy["nj_per_mac"] > 0 and processor.energy["nj_per_byte"] > 0
        for kind in KERNEL_CLASSES:
            assert costs.time_s(block("b", kind=kind), processor.name) > 0
    names = [p.name for p in target.processors]
    assert set(costs.links()) == {(a, b) for a in names for b in names if a != b}


@pytest.mark.parametrize(
    "name, cpu_macs_per_cycle", [("tegra-k1", 4), ("snapdragon-400", 2), ("aarch64", 4)]
)
def test_board_rates_stay_below_the_hardware_peak(name, cpu_macs_per_cycle):
    """Achieved rates are a derating of the peak: cores x clock x fp32 MACs per cycle (a
    128-bit NEON multiply-accumulate per cycle per core on the A15 and A72, every other
    cycle on the A7's 64-bit NEON unit; one multiply-add per GPU core or ALU)."""
    target = load_target(name)
    for processor in target.processors:
        if processor.kind == "cpu":
            peak = processor.cores * processor.clock_ghz * cpu_macs_per_cycle
        else:  # the [gpu] section counts the ALUs (the Adreno's processor entry: one SP)
            peak = max(processor.cores, target.gpu.cores) * processor.clock_ghz
        for kind in ("conv", "depthwise", "dense"):
            assert 0 < processor.cost[kind]["gmacs_per_s"] < 0.5 * peak, (processor.name, kind)


def test_pocl_shares_the_cpu_group():
    processors = {p.name: p for p in load_costs(load_target("host-opencl")).processors()}
    assert processors["gpu"].serial_group == processors["cpu"].serial_group


def test_a_costs_file_replaces_the_constants_it_names(tmp_path):
    target = board(tmp_path)
    measured = tmp_path / "measured.toml"
    measured.write_text(
        'target = "board"\nmachine = "test cpu"\nmeasured = "2026-01-01"\n'
        "[cpu.cost.conv]\ngmacs_per_s = 1.0\ngbytes_per_s = 1.0\nlaunch_us = 1.0\n"
        "rms_rel_error = 0.1\nsamples = 5\n"
        "[links.cpu-gpu]\nlatency_us = 100.0\ngbytes_per_s = 1.0\n"
    )
    costs = load_costs(target, measured)
    conv, relu = block("conv"), block("relu", kind="elementwise")
    assert costs.time_s(conv, "cpu") == pytest.approx(1e-6 + 1e6 / 1e9 + 4e6 / 1e9)
    assert costs.time_s(relu, "cpu") == pytest.approx(3e-6 + 4e6 / 8e9)  # not in the file
    assert costs.time_s(conv, "gpu") == pytest.approx(50e-6 + 1e6 / 10e9 + 4e6 / 5e9)
    link = costs.links()[("gpu", "cpu")]
    assert link.time_s(1e6) == pytest.approx(100e-6 + 1e6 / 1e9)
    assert link.energy_j(1e6) == pytest.approx(1e6 * 0.5e-9)  # kept from the target
    assert str(measured) in costs.source and "test cpu" in costs.source
    assert "target file" in load_costs(target).source


def test_the_cached_costs_file_is_found(tmp_path):
    target = board(tmp_path)
    cached = tmp_path / "cache" / "deepxc" / "costs" / "board.toml"
    cached.parent.mkdir(parents=True)
    cached.write_text('target = "board"\n[gpu.cost.conv]\ngmacs_per_s = 1.0\n')
    costs = load_costs(target)
    assert str(cached) in costs.source
    assert costs.time_s(block("conv", macs=10**9), "gpu") == pytest.approx(1.0)


@pytest.mark.parametrize(
    "text, message",
    [
        ('target = "other"\n', "measured for target 'other'"),
        ('target = "board"\n[dsp.cost.conv]\ngmacs_per_s = 1.0\n', "no processor 'dsp'"),
        ('target = "board"\n[cpu.cost.convv]\ngmacs_per_s = 1.0\n', "unknown kernel class"),
        ('target = "board"\n[cpu.cost.conv]\ngmacs_per_s = -1.0\n', "gmacs_per_s = -1.0"),
    ],
)
def test_a_broken_costs_file_is_named(tmp_path, text, message):
    measured = tmp_path / "measured.toml"
    measured.write_text(text)
    with pytest.raises(DeepxcError, match=message) as error:
        load_costs(board(tmp_path), measured)
    assert str(measured) in str(error.value)


def test_network_links_follow_the_power_model():
    """Huang et al.'s model by hand: a transfer of n bytes at t Mbps takes n*8/(t*1e6) s
    at (alpha*t + beta) mW, after half a round trip."""
    lte = network_profile("lte")
    n = 1e6
    for link, mbps, alpha in [
        (lte.uplink(), lte.up_mbps, lte.alpha_up_mw_per_mbps),
        (lte.downlink(), lte.down_mbps, lte.alpha_down_mw_per_mbps),
    ]:
        seconds = n * 8 / (mbps * 1e6)
        assert link.time_s(n) == pytest.approx(lte.rtt_ms / 2e3 + seconds)
        assert link.energy_j(n) == pytest.approx((alpha * mbps + lte.beta_mw) * 1e-3 * seconds)
    assert (lte.alpha_up_mw_per_mbps, lte.alpha_down_mw_per_mbps, lte.beta_mw) == (
        438.39,
        51.97,
        1288.04,
    )


def test_remote_links_go_through_the_cpu(tmp_path):
    costs = load_costs(board(tmp_path), network="wifi")
    wifi, links = network_profile("wifi"), costs.links()
    n = 50_000
    assert links[("cpu", "remote")].time_s(n) == pytest.approx(wifi.uplink().time_s(n))
    assert links[("gpu", "remote")].time_s(n) == pytest.approx(
        20e-6 + n / 2e9 + wifi.uplink().time_s(n)
    )
    assert links[("remote", "gpu")].energy_j(n) == pytest.approx(
        n * 0.5e-9 + wifi.downlink().energy_j(n)
    )
    remote = costs.processors()[-1]
    assert (remote.name, remote.on_device, remote.idle_w) == ("remote", False, 0.0)


def test_the_remote_runs_at_the_server_targets_cpu_costs(tmp_path):
    costs = load_costs(board(tmp_path), network="lte")
    host = load_target("host").processors[0].cost["conv"]
    conv = block("conv")
    expected = (
        host["launch_us"] * 1e-6
        + 1e6 / (host["gmacs_per_s"] * 1e9)
        + 4e6 / (host["gbytes_per_s"] * 1e9)
    )
    assert costs.time_s(conv, "remote") == pytest.approx(expected)
    assert costs.energy_j(conv, "remote") == 0.0


def test_problem_of_pins_io_refuses_and_carries_edges(tmp_path):
    costs = load_costs(board(tmp_path))
    conv = block("conv", inputs=["image"], outputs=["conv_out"])
    cast = block("cast", kind="elementwise", inputs=["conv_out"], outputs=["label"])
    problem = problem_of(
        [conv, cast],
        [("conv", "cast", 2_000_000)],
        {"image": ["conv"]},
        {"label": ["cast"]},
        costs,
        refused={"cast": {"gpu"}},
    )
    assert [b.name for b in problem.blocks] == ["input:image", "conv", "cast", "output:label"]
    for io in (problem.block("input:image"), problem.block("output:label")):
        assert (io.kind, io.time_s) == ("io", {"cpu": 0.0})
    assert set(problem.block("conv").time_s) == {"cpu", "gpu"}
    assert set(problem.block("cast").time_s) == set(problem.block("cast").energy_j) == {"cpu"}
    assert problem.block("conv").time_s["gpu"] == pytest.approx(50e-6 + 1e6 / 10e9 + 4e6 / 5e9)
    assert problem.block("conv").memory_bytes == 1_000_000 + 2_000_000
    assert [(e.src, e.dst, e.nbytes) for e in problem.edges] == [
        ("input:image", "conv", 1_000_000),  # the reader's bytes_in: it reads only that
        ("conv", "cast", 2_000_000),
        ("cast", "output:label", 2_000_000),
    ]
    edge = problem.edges[0]
    assert problem.transfer_s(edge, "cpu", "gpu") == pytest.approx(20e-6 + 1e6 / 2e9)


def test_problem_of_with_a_network_and_slices(tmp_path):
    costs = load_costs(board(tmp_path))
    parts = [
        block(f"conv@{i}of2", slice_of="conv", slice_index=i, slices=2, outputs=["y"])
        for i in range(2)
    ]
    problem = problem_of(
        parts,
        [],
        {"x": ["conv@0of2", "conv@1of2"]},
        {},
        costs,
        network="3g",
        refused={"conv": {"remote"}},
        tensor_bytes={"x": 4096},
    )
    assert [p.name for p in problem.processors] == ["cpu", "gpu", "remote"]
    for part in parts:
        assert set(problem.block(part.name).time_s) == {"cpu", "gpu"}
        assert problem.block(part.name).slice_of == "conv"
    assert [e.nbytes for e in problem.edges] == [4096, 4096]
    assert ("gpu", "remote") in problem.links


def test_missing_constants_name_the_target_and_the_fix(tmp_path):
    with pytest.raises(
        DeepxcError,
        match=r"processor gpu has no cost constants \(run `deepxc "
        r"profile --target nogpu`\)",
    ):
        load_costs(board(tmp_path, name="nogpu", gpu=""))
    partial = load_costs(board(tmp_path, name="partial"))
    with pytest.raises(DeepxcError, match="processor cpu has no cost constants for dense"):
        partial.time_s(block("fc", kind="dense"), "cpu")


def test_an_unknown_network_lists_the_known_ones(tmp_path):
    with pytest.raises(DeepxcError, match="unknown network '5g': known networks are 3g, lte, wifi"):
        load_costs(board(tmp_path), network="5g")


@pytest.mark.parametrize(
    "cpu, message",
    [
        (CPU.replace("cost.conv]", "cost.convolution]"), "processors cpu.cost.convolution"),
        (CPU.replace("gmacs_per_s = 2.0", "gmacs_per_s = -2.0"), "cost.conv] gmacs_per_s = -2.0"),
        (CPU.replace("idle_mw = 300.0", "idle_mw = 300.0\nidle_w = 1.0"), "unknown field 'idle_w'"),
        (CPU.replace("launch_us = 10.0", 'launch_us = "fast"'), "launch_us = 'fast': not a number"),
    ],
)
def test_a_bad_cost_field_names_the_file_and_field(tmp_path, cpu, message):
    with pytest.raises(TargetError, match=message) as error:
        board(tmp_path, cpu=cpu)
    assert str(tmp_path / "board.toml") in str(error.value)


def test_a_link_to_a_missing_processor_is_refused(tmp_path):
    path = tmp_path / "board.toml"
    path.write_text(
        TARGET.format(name="board", cpu=CPU, gpu=GPU, gpu_group="")
        + '[[links]]\nbetween = ["cpu", "dsp"]\ngbytes_per_s = 1.0\n'
    )
    with pytest.raises(TargetError, match="links #2.*'dsp', which the target lacks"):
        load_target(str(path))


def test_blocks_with_a_non_float32_tensor_are_refused_the_gpu():
    """An int64 Cast output is what the GPU path refuses (deepxc.ir.placement); the
    slice copy "relu@1" is judged as its layer "relu"."""
    graph = Graph()
    graph.inputs = ["x"]
    graph.tensors.update(
        x=TensorSpec((1, 4), "float32"),
        y=TensorSpec((1, 4), "float32"),
        z=TensorSpec((1, 4), "int64"),
    )
    graph.add_node(Node("relu", "Relu", ["x"], ["y"]))
    graph.add_node(Node("cast", "Cast", ["y"], ["z"], {"to": 7}))
    blocks = [
        block("relu@1", layers=["relu@1"], slice_of="relu"),
        block("cast", layers=["cast"]),
    ]
    assert gpu_refused(graph, blocks) == {"cast": {"gpu"}}


def test_planning_imports_no_lowering():
    """The cost model and the problem builder stay off TVM and the lowering stages."""
    code = (
        "import sys, deepxc.dad.build_problem\n"
        "print([m for m in sys.modules if m.split('.')[0] == 'tvm'"
        " or m.startswith(('deepxc.lower', 'deepxc.emit', 'deepxc.pipeline'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
