"""GPU partitions that run while the CPU works: a partition's call starts it and a wait
follows right before the first call that reads its outputs. Two independent branches,
one per processor, in the plan's order (the GPU's first): the CPU's branch runs between
the GPU's launch and its wait, the arena keeps the two apart, and the outputs match
onnxruntime (pocl here, `host-opencl`)."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from models import make_model, tensor
from onnx import helper
from own_cores import opencl_target_with_own_gpu
from support import assert_close, quiet, random_inputs, reference_outputs
from test_gpu_bundle_opencl import build_and_check, layer_names, load, residual_model
from test_gpu_cuda_bundle import fake_cuda  # noqa: F401  (the stand-in libcuda, built)
from test_sanitizers import _check_under_asan as check_under_asan

from deepxc.emit.bundle import prepare_output_dir, write_bundle
from deepxc.ir.order import in_order
from deepxc.ir.placement import parse_place
from deepxc.ir.stats import model_summary
from deepxc.lower.placed import lower_placed
from deepxc.pipeline import frontend
from deepxc.runner import profile_times, run_bundle
from deepxc.targets import load_target


def _has_opencl() -> bool:
    try:
        from opencl_host import opencl_device
    except ImportError:  # no pyopencl
        return False
    return opencl_device() is not None


needs_opencl = pytest.mark.skipif(
    not _has_opencl(),
    reason="no OpenCL device: install pocl-opencl-icd and ocl-icd-opencl-dev (.ci/run does)",
)

BRANCH_A = ["a_conv1", "a_relu1", "a_conv2", "a_relu2"]
BRANCH_B = ["b_conv1", "b_relu1", "b_conv2", "b_relu2"]


def two_branches(
    channels: int = 4, size: int = 16, in_channels: int = 16, seed: int = 0
) -> onnx.ModelProto:
    """x -> [conv, relu, conv, relu] twice, side by side -> add. The ONNX file lists
    branch B first, so only a reordering puts A's layers before B's. The input is the
    largest tensor: the arena plan places it first, and a tensor made after its last
    reader on the CPU lands on it unless the plan knows the GPU still reads it."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    for branch in "ba":
        previous = "x"
        for step in (1, 2):
            inputs = in_channels if step == 1 else channels
            weight = rng.standard_normal((channels, inputs, 3, 3)) * np.sqrt(2 / (inputs * 9))
            inits.append(
                onnx.numpy_helper.from_array(weight.astype(np.float32), f"{branch}_w{step}")
            )
            nodes += [
                helper.make_node(
                    "Conv",
                    [previous, f"{branch}_w{step}"],
                    [f"{branch}_c{step}"],
                    name=f"{branch}_conv{step}",
                    pads=[1, 1, 1, 1],
                ),
                helper.make_node(
                    "Relu",
                    [f"{branch}_c{step}"],
                    [f"{branch}_r{step}"],
                    name=f"{branch}_relu{step}",
                ),
            ]
            previous = f"{branch}_r{step}"
    nodes.append(helper.make_node("Add", ["a_r2", "b_r2"], ["y"], name="join"))
    return make_model(
        nodes,
        [tensor("x", [1, in_channels, size, size])],
        [tensor("y", [1, channels, size, size])],
        inits,
    )


def build_in_order(
    model,
    order: list[str] | None,
    place: str,
    bundle: Path,
    target: str | None = None,
    profile: bool = False,
) -> dict:
    """The bundle of `model` with its layers in `order` (None: as the model lists them)
    and placed by `place`; its manifest. The target defaults to host-opencl with a GPU of
    its own cores (on host-opencl itself pocl shares the CPU's: see own_cores)."""
    target = target or opencl_target_with_own_gpu(bundle.parent)
    target = load_target(target).dynamically_linked()
    graph = frontend(model, log=quiet)
    if order is not None:
        graph = in_order(graph, order)
    placement = parse_place(place, graph, ["cpu", "gpu"])
    prepare_output_dir(str(bundle))
    with tempfile.TemporaryDirectory() as workdir:
        lowered = lower_placed(graph, target, placement, workdir, log=quiet)
        return write_bundle(
            str(bundle),
            [lowered],
            target,
            "two_branches",
            graph.outputs,
            [model_summary(graph)],
            profile=profile,
        )


A_ON_GPU = ",".join(f"{name}=gpu" for name in BRANCH_A)


@needs_opencl
def test_a_gpu_on_the_cpus_own_cores_is_waited_for_at_once(tmp_path):
    """On host-opencl pocl runs on the CPU's cores: nothing runs beside a partition, so
    its wait follows its launch, and the outputs still match."""
    model = two_branches()
    order = [*BRANCH_A, *BRANCH_B, "join"]
    manifest = build_in_order(model, order, A_ON_GPU, tmp_path / "b", target="host-opencl")
    inputs = random_inputs(model)
    outputs, _ = run_bundle(str(tmp_path / "b"), inputs)
    assert_close(outputs, reference_outputs(model, inputs))
    steps = [call["step"] for call in manifest["kernel_calls"]]
    assert steps.count("launch") == 1
    assert steps[steps.index("launch") + 1] == "wait", steps


@needs_opencl
def test_the_cpu_branch_runs_between_the_gpu_launch_and_its_wait(tmp_path):
    model = two_branches()
    manifest = build_in_order(model, [*BRANCH_A, *BRANCH_B, "join"], A_ON_GPU, tmp_path / "b")
    inputs = random_inputs(model)
    outputs, _ = run_bundle(str(tmp_path / "b"), inputs)
    assert_close(outputs, reference_outputs(model, inputs))
    calls = manifest["kernel_calls"]
    steps = [call["step"] for call in calls]
    assert steps.count("launch") == steps.count("wait") == 1
    launch, wait = steps.index("launch"), steps.index("wait")
    between = [layer for call in calls[launch + 1 : wait] for layer in call["layers"]]
    assert set(BRANCH_B) <= set(between), between
    assert calls[wait + 1]["layers"] == ["join"] and wait + 2 == len(calls)
    # model.c calls them in that order: the launch, B's kernels, the wait, the join
    source = (tmp_path / "b" / "model.c").read_text()
    run = source[source.index("static int dx_run_level0(") :]
    symbol = calls[launch]["kernel"]
    at_launch = run.index(f"int status = {symbol}(")
    at_wait = run.index("int status = dx_gpu_wait(ctx);")
    b_comments = [m.start() for m in re.finditer(r"/\* b_conv\d", run)]
    assert b_comments and all(at_launch < at < at_wait for at in b_comments)
    assert run.index("/* join") > at_wait
    # the arena keeps A's inputs and outputs apart from every buffer B's kernels use
    plan = {b["tensor"]: b for b in manifest["levels"][0]["arena_plan"]["buffers"]}
    a_buffers = set(calls[launch]["args"]) & set(plan)
    b_buffers = {arg for call in calls[launch + 1 : wait] for arg in call["args"]}
    b_buffers = (b_buffers & set(plan)) - a_buffers
    assert b_buffers
    for a in a_buffers:
        for b in b_buffers:
            lo = max(plan[a]["offset"], plan[b]["offset"])
            hi = min(plan[a]["offset"] + plan[a]["bytes"], plan[b]["offset"] + plan[b]["bytes"])
            assert lo >= hi, f"{a} and {b} share arena bytes"


@needs_opencl
def test_without_the_plan_order_the_gpu_branch_runs_after_the_cpu_branch(tmp_path):
    """The model's own order (B first) gives cpu[B], gpu[A], cpu[join]: nothing between
    the launch and the wait, which in_order's plan order changes."""
    model = two_branches()
    manifest = build_in_order(model, None, A_ON_GPU, tmp_path / "b")
    steps = [call["step"] for call in manifest["kernel_calls"]]
    assert steps.index("wait") == steps.index("launch") + 1


def test_in_order_rejects_an_order_that_is_not_topological():
    graph = frontend(two_branches(), log=quiet)
    with pytest.raises(ValueError, match="'join' comes before"):
        in_order(graph, ["join", *BRANCH_A, *BRANCH_B])
    with pytest.raises(ValueError, match="is missing"):
        in_order(graph, [*BRANCH_A, *BRANCH_B])
    ordered = in_order(graph, [*BRANCH_A, *BRANCH_B, "join"])
    assert [node.name for node in ordered.nodes()] == [*BRANCH_A, *BRANCH_B, "join"]
    assert json.dumps(sorted(ordered.dag.edges)) == json.dumps(sorted(graph.dag.edges))


def cuda_run_log(order, bundle: Path, library: str, monkeypatch) -> list[list[str]]:
    """The stand-in libcuda's log of one run of the two-branch model, A on the GPU."""
    model = two_branches()
    build_in_order(model, order, A_ON_GPU, bundle, target="host-cuda")
    log = bundle.parent / f"{bundle.name}.log"
    monkeypatch.setenv("DEEPX_CUDA_LIBRARY", library)
    monkeypatch.setenv("FAKE_CUDA_LOG", str(log))
    run_bundle(str(bundle), random_inputs(model))
    return [line.split() for line in log.read_text().splitlines()]


def test_cuda_queues_the_partition_and_synchronises_after_the_cpu_branch(
    fake_cuda,  # noqa: F811  (the fixture imported above)
    tmp_path,
    monkeypatch,
):
    """Through the stand-in libcuda: the arena is registered at init; a run copies A's
    input in and its output back asynchronously from page-locked memory on the stream, and
    synchronises once the CPU has written B's tensors into the arena (its hash changed
    since the copy back was queued); in the model's own order (B first) nothing runs
    between the two. At exit nothing is left: no stream, no registration."""
    library = fake_cuda["host-cuda"]
    lines = cuda_run_log([*BRANCH_A, *BRANCH_B, "join"], tmp_path / "a_first", library, monkeypatch)
    first_launch = next(i for i, line in enumerate(lines) if line[0] == "launch")
    assert ["register"] == [line[0] for line in lines[:first_launch] if line[0] == "register"]
    run = lines[first_launch - 1 :]
    kinds = [line[0] for line in run]
    assert kinds[0] == "htod" and run[0][3:] == ["async", "pinned"]
    copy_back = kinds.index("dtoh")
    assert set(kinds[1:copy_back]) == {"launch"}
    assert run[copy_back][3:5] == ["async", "pinned"]
    assert kinds[copy_back + 1] == "sync"
    assert run[copy_back + 1][1] != run[copy_back][5], "no CPU work between launch and wait"
    assert lines[-2:] == [
        ["live", "streams=0", "registered=0"],
        ["exit", "allocations=0", "modules=0", "contexts=0"],
    ]
    lines = cuda_run_log(None, tmp_path / "b_first", library, monkeypatch)
    copy_back = next(i for i, line in enumerate(lines) if line[0] == "dtoh")
    assert lines[copy_back + 1][0] == "sync"
    assert lines[copy_back + 1][1] == lines[copy_back][5]


@needs_opencl
@pytest.mark.parametrize("place", ["alternate", "gpu,relu2=cpu", "conv2=gpu,relu2=gpu"])
def test_residual_blocks_match_onnxruntime(place, tmp_path):
    """A residual block with partitions that overlap CPU kernels (every other layer on
    the GPU; the GPU around one CPU layer; the branch's middle on the GPU)."""
    model = residual_model()
    if place == "alternate":
        place = alternate(model)
    own_gpu = opencl_target_with_own_gpu(tmp_path)
    manifest, _ = build_and_check(model, tmp_path / "b", place, target=own_gpu)
    steps = [call["step"] for call in manifest["kernel_calls"]]
    assert steps.count("launch") == steps.count("wait") > 0


@needs_opencl
def test_squeezenet_with_alternating_placements_matches_onnxruntime(tmp_path):
    """Every other layer on the GPU: a fire module's two expand convolutions often land on
    different processors and the one started first on the GPU runs with the other."""
    model = load("squeezenet")
    own_gpu = opencl_target_with_own_gpu(tmp_path)
    manifest, _ = build_and_check(model, tmp_path / "b", alternate(model), target=own_gpu)
    calls = manifest["kernel_calls"]
    steps = [call["step"] for call in calls]
    overlapped = [
        i for i, step in enumerate(steps) if step == "launch" and steps[i + 1] == "kernel"
    ]
    assert overlapped, "no CPU kernel runs between a launch and its wait"


@needs_opencl
def test_two_branches_under_asan_and_ubsan(tmp_path):
    """The runtime and driver under AddressSanitizer and UBSan, pocl loaded by dlopen:
    the asynchronous maps and the arena the CPU's branch writes meanwhile. Without leak
    detection: the OpenCL library leaves a few allocations of its own at exit (reported
    from an unknown module, as it is unloaded by then); the runtime allocates nothing."""
    model = two_branches()
    bundle = tmp_path / "b"
    build_in_order(model, [*BRANCH_A, *BRANCH_B, "join"], A_ON_GPU, bundle)
    check_under_asan(model, bundle, tmp_path, threads_env="1", detect_leaks=False)


def alternate(model) -> str:
    """`--place` with every other layer (in the model's order) on the GPU."""
    names = layer_names(model)
    return ",".join(f"{name}={'gpu' if i % 2 else 'cpu'}" for i, name in enumerate(names))


@needs_opencl
def test_a_profiling_build_times_each_gpu_launch(tmp_path):
    """With --profile a partition waits at the end of its call, and each of its launches
    is finished and timed on its own, in the profile lines after the calls' that the
    manifest's gpu_launch_profile names with their layers."""
    model = two_branches()
    bundle = tmp_path / "b"
    manifest = build_in_order(model, [*BRANCH_A, *BRANCH_B, "join"], A_ON_GPU, bundle, profile=True)
    np.save(tmp_path / "x.npy", random_inputs(model)["x"])
    command = [
        str(bundle / "model"),
        "-w",
        str(bundle / "weights.bin"),
        "-i",
        str(tmp_path / "x.npy"),
    ]
    result = subprocess.run(
        [*command, "--bench", "3", "--profile"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    times = dict(profile_times(result.stdout))
    calls, launches = manifest["kernel_calls"], manifest["gpu_launch_profile"]
    assert launches and sorted(times) == list(range(len(calls) + len(launches)))
    assert [row["slot"] for row in launches] == list(range(len(calls), len(times)))
    assert {layer for row in launches for layer in row["layers"]} == set(BRANCH_A)
    assert all(times[row["slot"]] > 0 for row in launches)
    launch = next(i for i, call in enumerate(calls) if call["step"] == "launch")
    assert sum(times[row["slot"]] for row in launches) <= times[launch] * 1.01 + 0.01


def test_each_wait_comes_right_before_the_first_reader_of_its_outputs():
    """Two partitions on the GPU and CPU kernels around them: p0's output is read by p1
    (its wait comes before p1's launch, of any processor), p1's by nothing (its wait is
    last); a CPU kernel reading only the model's input does not wait."""
    from deepxc.artifacts import KernelCall
    from deepxc.lower.placed import with_waits

    calls = [
        KernelCall("p0", ["x", "a"], ["g0"], processor="gpu"),
        KernelCall("cpu0", ["x", "b"], ["c0"]),
        KernelCall("p1", ["a", "b", "y"], ["g1"], processor="gpu"),
        KernelCall("cpu1", ["b", "z"], ["c1"]),
    ]
    scheduled = with_waits(calls, {"p0": 1, "p1": 1})
    assert [(c.kernel, c.wait) for c in scheduled] == [
        ("p0", False),
        ("cpu0", False),
        ("p0", True),
        ("p1", False),
        ("cpu1", False),
        ("p1", True),
    ]
    assert scheduled[2].args == ["x", "a"] and scheduled[5].args == ["a", "b", "y"]
