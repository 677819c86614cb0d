"""Bundles with GPU partitions on an OpenCL device (pocl here, `host-opencl`): the
generated runtime opens OpenCL with dlopen, builds the embedded kernels, and runs them
between the CPU's; every output is checked against onnxruntime."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from models import make_model, tensor
from onnx import helper
from support import assert_close, quiet, random_inputs, reference_outputs
from zoo import realistic_model

from deepxc.pipeline import build_model, frontend
from deepxc.runner import run_bundle

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
OPENCL_LIBRARY = "libOpenCL.so.1"


pytest.importorskip("pyopencl")
from opencl_host import opencl_device  # noqa: E402

pytestmark = pytest.mark.skipif(
    opencl_device() is None,
    reason="no OpenCL device: install pocl-opencl-icd and ocl-icd-opencl-dev (.ci/run does)",
)


def load(name: str) -> onnx.ModelProto:
    path = EXAMPLES / name / "model.onnx"
    return onnx.load(path) if path.exists() else realistic_model(name)


def build_and_check(model: onnx.ModelProto, bundle: Path, place: str, target="host-opencl"):
    messages = []
    build_model(model, target, str(bundle), log=messages.append, place=place)
    inputs = random_inputs(model)
    outputs, _ = run_bundle(str(bundle), inputs)
    assert_close(outputs, reference_outputs(model, inputs))
    return json.loads((bundle / "manifest.json").read_text()), messages


LIGHT = ["squeezenet", "shufflenet", "inception_v1", "inception_v2", "densenet121"]
HEAVY = ["bvlc_alexnet", "zfnet512", "resnet50", "vgg19"]


@pytest.mark.parametrize(
    "name",
    ["tiny_cnn", "digits", "speakers", *LIGHT]
    + [pytest.param(name, marks=pytest.mark.slow) for name in HEAVY],
)
def test_whole_model_on_the_gpu_matches_onnxruntime(name, tmp_path):
    manifest, _ = build_and_check(load(name), tmp_path / "b", "gpu")
    calls = manifest["kernel_calls"]
    assert any(call["kernel"].startswith("dx_gpu_partition") for call in calls)
    assert sorted(tmp_path.joinpath("b").glob("kernels_gpu_p*.cl"))


def layer_names(model: onnx.ModelProto) -> list[str]:
    from deepxc.pipeline import frontend

    return [node.name for node in frontend(model, log=quiet).nodes()]


def test_alternating_layers_match_onnxruntime(tmp_path):
    """Every other layer on the GPU: six partitions each way, stitched in order."""
    model = load("digits")
    names = layer_names(model)
    place = ",".join(f"{name}={'gpu' if i % 2 else 'cpu'}" for i, name in enumerate(names))
    manifest, messages = build_and_check(model, tmp_path / "b", place)
    steps = [c["step"] for c in manifest["kernel_calls"]]
    assert steps.count("launch") == steps.count("wait") == len(names) // 2
    records = [p for p in manifest["partitions"] if p["processor"] == "gpu"]
    assert [r["layers"] for r in records] == [[n] for n in names[1::2]]
    assert all((tmp_path / "b" / r["source"]).is_file() for r in records)
    assert any(f"({len(names)} partitions)" in m for m in messages)


def residual_model(seed: int = 0) -> onnx.ModelProto:
    """x -> conv1 -> relu1 -> [conv2 -> relu2 -> conv3] + relu1 -> relu3 -> pool -> fc"""
    rng = np.random.default_rng(seed)

    def weight(name, shape):
        scale = np.sqrt(2.0 / np.prod(shape[1:]))
        return onnx.numpy_helper.from_array(
            (rng.standard_normal(shape) * scale).astype(np.float32), name
        )

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="conv3", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c3", "r1"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["r3"], name="relu3"),
        helper.make_node("GlobalAveragePool", ["r3"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1),
    ]
    inits = [
        weight("w1", (16, 3, 3, 3)),
        weight("w2", (16, 16, 3, 3)),
        weight("w3", (16, 16, 3, 3)),
        weight("wf", (10, 16)),
    ] + [
        onnx.numpy_helper.from_array(rng.standard_normal(n).astype(np.float32) * 0.1, name)
        for name, n in [("b1", 16), ("b2", 16), ("b3", 16), ("bf", 10)]
    ]
    return make_model(nodes, [tensor("x", [1, 3, 12, 12])], [tensor("y", [1, 10])], inits)


@pytest.mark.parametrize(
    "place",
    [
        "conv2=gpu,relu2=gpu",  # the residual branch's middle on the GPU, the skip on the CPU
        "relu2=gpu,conv3=gpu,add=gpu",  # the join on the GPU, its skip input from the CPU
        "gpu,relu2=cpu",  # the GPU around one CPU layer inside the block
    ],
)
def test_a_gpu_partition_inside_a_residual_block_matches(place, tmp_path):
    build_and_check(residual_model(), tmp_path / "b", place)


def test_a_layer_name_the_model_lacks_is_a_one_line_error(tmp_path):
    from deepxc.errors import DeepxcError

    with pytest.raises(DeepxcError, match=r"--place conv9=gpu: the model has no layer 'conv9'"):
        build_model(
            residual_model(), "host-opencl", str(tmp_path / "b"), log=quiet, place="conv9=gpu"
        )
    with pytest.raises(DeepxcError, match=r"no processor 'dsp'"):
        build_model(residual_model(), "host-opencl", str(tmp_path / "b"), log=quiet, place="dsp")
    with pytest.raises(
        DeepxcError, match=r"--place gpu: no processor 'gpu' on target host \(it has cpu, remote\)"
    ):
        build_model(residual_model(), "host", str(tmp_path / "b"), log=quiet, place="gpu")


@pytest.fixture(scope="module")
def counting_opencl(tmp_path_factory) -> Path:
    """tests/c/opencl_counter.c built as a shared library."""
    source = Path(__file__).parent / "c" / "opencl_counter.c"
    library = tmp_path_factory.mktemp("shim") / "libopencl_counter.so"
    subprocess.run(
        [
            "cc",
            "-O1",
            "-shared",
            "-fPIC",
            "-Wall",
            "-Werror",
            str(source),
            "-o",
            str(library),
            "-ldl",
        ],
        check=True,
    )
    return library


def driver_counts(bundle: Path, library: Path, runs: int, tmp_path: Path) -> dict[str, int]:
    """The driver calls of the bundle's test driver running `runs` examples."""
    counts = tmp_path / f"counts{runs}.txt"
    stacked = tmp_path / f"inputs{runs}.npy"
    np.save(stacked, np.random.default_rng(0).standard_normal((runs, 1, 1, 16, 16), np.float32))
    env = dict(os.environ, DEEPX_OPENCL_LIBRARY=str(library), OPENCL_COUNTS=str(counts))
    command = [str(bundle / "model"), "-w", str(bundle / "weights.bin"), "-i", str(stacked)]
    result = subprocess.run(
        [*command, "--examples", str(runs), "-o", str(tmp_path / f"out{runs}.npy")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return {k: int(v) for k, v in (line.split() for line in counts.read_text().splitlines())}


def test_no_driver_allocation_per_inference(counting_opencl, tmp_path):
    """Through a counting stand-in for libOpenCL: the driver objects a bundle makes (one
    buffer per device tensor, one kernel per launch, one program per partition) are made in
    deepx_init whatever the number of runs, all released by deepx_deinit; a run only
    enqueues (launches x runs)."""
    model = load("digits")
    bundle = tmp_path / "b"
    build_model(model, "host-opencl", str(bundle), log=quiet, place="gpu,fc1=cpu")
    manifest = json.loads((bundle / "manifest.json").read_text())
    header = (bundle / "model.h").read_text()
    buffers = int(header.split("DEEPX_GPU_BUFFERS ")[1].split()[0])
    one, five = (driver_counts(bundle, counting_opencl, n, tmp_path) for n in (1, 5))
    made = ["clCreateBuffer", "clCreateKernel", "clCreateProgramWithSource", "clCreateContext"]
    assert {k: one[k] for k in made} == {k: five[k] for k in made}
    # the tensors between a partition's kernels are regions of one device arena
    arena = int(header.split("DEEPX_GPU_ARENA_BYTES ")[1].split()[0])
    assert arena > 0 and one["clCreateSubBuffer"] > 0
    # planned by lifetime: less than the tensors between the kernels take side by side
    from deepxc.ir.placement import parse_place
    from deepxc.lower.placed import lower_placed
    from deepxc.targets import load_target

    graph = frontend(model, log=quiet)
    placed = lower_placed(
        graph,
        load_target("host-opencl"),
        parse_place("gpu,fc1=cpu", graph, ["cpu", "gpu"]),
        str(tmp_path),
        log=quiet,
    )
    between = max(
        sum(
            b.spec.nbytes
            for n, b in part.buffers.items()
            if b.kind in ("activation", "scratch") and n not in part.inputs + part.outputs
        )
        for part in placed.offloaded.values()
    )
    assert arena < between
    assert one["clCreateBuffer"] + one["clCreateSubBuffer"] == buffers + 1
    assert one["clSetKernelArg"] == five["clSetKernelArg"]
    partitions = sum(c["step"] == "launch" for c in manifest["kernel_calls"])
    assert one["clCreateProgramWithSource"] == partitions == 2
    launches_per_run = (five["clEnqueueNDRangeKernel"] - one["clEnqueueNDRangeKernel"]) // 4
    assert launches_per_run == one["clCreateKernel"] > 0
    # the partitions' inputs and outputs wrap the arena: handed over by unmapping and
    # mapping (no copy on a device sharing the CPU's memory), never copied by the runtime
    assert five["clEnqueueWriteBuffer"] == five["clEnqueueReadBuffer"] == 0
    borders = 4  # partition 0: input, output; partition 1: input, output
    assert five["clEnqueueUnmapMemObject"] - one["clEnqueueUnmapMemObject"] == 4 * borders
    assert five["clEnqueueMapBuffer"] == five["clEnqueueUnmapMemObject"]
    for made_name, freed, *also in [
        ("clCreateBuffer", "clReleaseMemObject", "clCreateSubBuffer"),
        ("clCreateKernel", "clReleaseKernel"),
        ("clCreateProgramWithSource", "clReleaseProgram"),
        ("clCreateContext", "clReleaseContext"),
        ("clCreateCommandQueue", "clReleaseCommandQueue"),
    ]:
        assert five[made_name] + sum(five[name] for name in also) == five[freed], made_name


@pytest.mark.parametrize("name", ["digits", "squeezenet", "shufflenet"])
def test_snapdragon_bundle_kernels_build_under_the_adreno_limits(name, tmp_path):
    """The snapdragon-400 GPU bundle cross-compiles; its OpenCL source, as the bundle
    keeps it, builds on pocl as OpenCL C 1.1 and each kernel fits the Adreno 305's
    work-group and local memory limits as pocl measures them; under qemu-arm (no OpenCL
    there) the driver says there is no GPU, cleanly."""
    import pyopencl as cl

    from deepxc.targets import load_target

    gpu = load_target("snapdragon-400").gpu
    bundle = tmp_path / "b"
    build_model(load(name), "snapdragon-400", str(bundle), log=quiet, place="gpu")
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["runner"][:3] == ["qemu-arm", "-L", "/usr/arm-linux-gnueabihf"]
    device = opencl_device()
    context = cl.Context([device])
    sources = sorted(bundle.glob("kernels_gpu_p*.cl"))
    assert sources
    for path in sources:
        source = path.read_text()
        assert not re.search(r"\bdouble\b|\blong\b", source)
        program = cl.Program(context, source).build(options=["-cl-std=CL1.1"])
        for kernel in program.all_kernels():
            info = cl.kernel_work_group_info
            assert kernel.get_work_group_info(info.LOCAL_MEM_SIZE, device) <= gpu.local_memory_bytes
    result = subprocess.run(
        [*manifest["runner"], str(bundle / "model"), "-w", str(bundle / "weights.bin")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "no GPU" in result.stderr and "Segmentation" not in result.stderr


def test_rlc_levels_each_run_their_own_gpu_partitions(tmp_path):
    """A bundle of three runtime compression levels with the model on the GPU but fc2:
    each level has its own partitions (a factored layer goes where the layer went), and
    each level matches onnxruntime on the low-rank model it computes."""
    import tempfile

    from test_levels import RANKS, conv_mlp, level_graphs, low_rank_model

    from deepxc.emit.bundle import prepare_output_dir, write_bundle
    from deepxc.ir.placement import carry_placement, parse_place
    from deepxc.ir.stats import model_summary
    from deepxc.lower.placed import lower_placed
    from deepxc.targets import load_target

    model = conv_mlp()
    graphs = level_graphs(model, RANKS)
    target = load_target("host-opencl").dynamically_linked()
    placement = parse_place("gpu,fc2=cpu", graphs[0], ["cpu", "gpu"])
    prepare_output_dir(str(tmp_path / "b"))
    levels = []
    with tempfile.TemporaryDirectory() as workdir:
        for index, graph in enumerate(graphs):
            placed = carry_placement(graph, placement, "gpu")
            assert all(p == "cpu" for n, p in placed.items() if n.startswith("fc2"))
            levels.append(
                lower_placed(
                    graph,
                    target,
                    placed,
                    workdir,
                    log=quiet,
                    level=index,
                    first_partition=sum(len(level.offloaded) for level in levels),
                )
            )
        summaries = [model_summary(graph) for graph in graphs]
        write_bundle(str(tmp_path / "b"), levels, target, "conv_mlp", graphs[0].outputs, summaries)
    inputs = random_inputs(model)
    for level, ranks in enumerate(RANKS):
        got, _ = run_bundle(str(tmp_path / "b"), inputs, level=level)
        assert_close(got, reference_outputs(low_rank_model(model, ranks), inputs))
    assert len({symbol for level in levels for symbol in level.offloaded}) == len(RANKS)


@pytest.mark.parametrize("channels", [1, 3, 300])
def test_short_reductions_with_an_epilogue_match(channels, tmp_path):
    """A global mean then Relu and a residual add, one work-item per output: with fewer
    outputs than a work-group (1, 3) the epilogue ran in every work-item, most of which
    had no sum (the output came out 0); 300 is more than one group and not a multiple."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["m"], name="mean"),
        helper.make_node("Relu", ["m"], ["r"], name="relu"),
        helper.make_node("Add", ["r", "b"], ["y"], name="add"),
    ]
    bias = onnx.numpy_helper.from_array(
        np.random.default_rng(1).standard_normal((1, channels, 1, 1)).astype(np.float32), "b"
    )
    model = make_model(
        nodes, [tensor("x", [1, channels, 3, 3])], [tensor("y", [1, channels, 1, 1])], [bias]
    )
    build_and_check(model, tmp_path / "b", "gpu")


def test_softmax_sums_are_not_its_output(tmp_path):
    """LogSoftmax's kernels hand the maximum and the sum to the last one in buffers of their
    own; the sum's buffer has the output's name (`compute`): the launch table tells them
    apart by the buffer, not the name (the output was read as the sum: NaN)."""
    model = make_model(
        [helper.make_node("LogSoftmax", ["x"], ["y"], name="logsoftmax", axis=1)],
        [tensor("x", [2, 5])],
        [tensor("y", [2, 5])],
    )
    build_and_check(model, tmp_path / "b", "gpu")


def test_split_outputs_go_to_their_own_buffers(tmp_path):
    """Split's three outputs share one name in TVM's lowered code (`T_split`): each
    launch writes the output of its parameter position (all went to the first)."""
    model = make_model(
        [helper.make_node("Split", ["x"], ["a", "b", "c"], name="split", axis=1, num_outputs=3)],
        [tensor("x", [1, 6, 4])],
        [tensor(name, [1, 2, 4]) for name in "abc"],
        opset=18,
    )
    build_and_check(model, tmp_path / "b", "gpu")
