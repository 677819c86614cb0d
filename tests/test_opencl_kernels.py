"""OpenCL kernels of a partition, run on pocl by their launch table, against onnxruntime;
and the kernels held to the GPU limits of the target files (the Adreno 305's for
snapdragon-400)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
from models import make_model, tensor
from onnx import helper
from support import assert_close, quiet, random_inputs, reference_outputs
from zoo import realistic_model

from deepxc.errors import DeepxcError, LoweringError
from deepxc.lower.gpu import lower_gpu
from deepxc.lower.gpu_limits import limit_problems
from deepxc.pipeline import frontend
from deepxc.schedules.gpu import SMALL_REDUCTION
from deepxc.targets import TARGETS_DIR, load_target

cl = pytest.importorskip("pyopencl")
from opencl_host import OpenCLHost, opencl_device  # noqa: E402

DEVICE = opencl_device()
pytestmark = pytest.mark.skipif(DEVICE is None, reason="no OpenCL device (install pocl-opencl-icd)")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MODELS = ["tiny_cnn", "digits", "squeezenet", "shufflenet"]


def load(name: str) -> onnx.ModelProto:
    path = EXAMPLES / name / "model.onnx"
    return onnx.load(path) if path.exists() else realistic_model(name)


def run_on_device(model: onnx.ModelProto, target: str = "host-opencl", inputs=None):
    graph = frontend(model, log=quiet)
    partition = lower_gpu(graph, load_target(target), log=quiet)
    inputs = random_inputs(model) if inputs is None else inputs
    outputs = OpenCLHost(partition, DEVICE).run([inputs[name] for name in partition.inputs])
    return dict(zip(graph.outputs, outputs)), inputs, partition


@pytest.mark.parametrize(
    "name",
    MODELS + [pytest.param("inception_v2", marks=pytest.mark.slow)],  # about 80 s
)
def test_model_matches_onnxruntime(name):
    model = load(name)
    outputs, inputs, _ = run_on_device(model)
    assert_close(outputs, reference_outputs(model, inputs))


@pytest.mark.parametrize(
    "channels,groups,size",
    [(272, 4, 14), (1024, 2, 7), (64, 64, 9)],  # shufflenet's, a long reduction, depthwise
)
def test_grouped_conv_bias_relu(channels, groups, size):
    """A grouped 1x1 convolution fused with its bias and Relu (dlight's Reduction rule
    computes it wrongly) and a depthwise 3x3 one; a short one is one kernel."""
    kernel = 3 if groups == channels else 1
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((channels, channels // groups, kernel, kernel))
    bias = rng.standard_normal(channels)
    model = make_model(
        [
            helper.make_node(
                "Conv", ["x", "w", "b"], ["c"], name="conv", group=groups, pads=[kernel // 2] * 4
            ),
            helper.make_node("Relu", ["c"], ["y"], name="relu"),
        ],
        [tensor("x", [1, channels, size, size])],
        [tensor("y", [1, channels, size, size])],
        [
            onnx.numpy_helper.from_array(weights.astype(np.float32), "w"),
            onnx.numpy_helper.from_array(bias.astype(np.float32), "b"),
        ],
    )
    outputs, inputs, partition = run_on_device(model)
    assert_close(outputs, reference_outputs(model, inputs))
    if channels // groups * kernel * kernel <= SMALL_REDUCTION:  # bias and Relu in its kernel
        assert [launch.rule for launch in partition.launches] == ["small_reduction"]


def intermediate_outputs(model: onnx.ModelProto, names: list[str], inputs) -> dict:
    """onnxruntime's values of the tensors `names` (any in the model) for `inputs`."""
    inferred = onnx.shape_inference.infer_shapes(model)
    known = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    del inferred.graph.output[:]
    inferred.graph.output.extend(known[name] for name in names)
    return reference_outputs(inferred, inputs)


@pytest.mark.parametrize(
    "name,first,last,inputs_count",
    [
        ("tiny_cnn", "conv2", "gap", 1),  # the middle of the model
        # inside a residual block: the Sum (n51) also reads the skip (r40) from outside
        ("shufflenet", "n43", "n52", 2),
    ],
)
def test_partition_of_layers(name, first, last, inputs_count):
    """A run of layers lowered alone: it reads the tensors it takes from outside (as
    onnxruntime computes them) and makes those read outside it."""
    model = load(name)
    graph = frontend(model, log=quiet)
    order = [node.name for node in graph.nodes()]
    layers = order[order.index(first) : order.index(last) + 1]
    partition = lower_gpu(graph, load_target("host-opencl"), layers=layers, log=quiet)
    assert len(partition.inputs) == inputs_count
    assert set(partition.inputs).isdisjoint(graph.inputs)  # all made by earlier layers
    inputs = random_inputs(model)
    border = intermediate_outputs(model, partition.inputs + partition.output_tensors, inputs)
    host = OpenCLHost(partition, DEVICE)
    outputs = host.run([border[tensor] for tensor in partition.inputs])
    expected = {tensor: border[tensor] for tensor in partition.output_tensors}
    assert_close(dict(zip(partition.output_tensors, outputs)), expected)


def test_partition_of_unknown_layer():
    graph = frontend(load("tiny_cnn"), log=quiet)
    with pytest.raises(DeepxcError, match="partition: no layer named 'conv9'"):
        lower_gpu(graph, load_target("host-opencl"), layers=["conv1", "conv9"], log=quiet)


def test_nan_kept_through_relu_and_clip():
    """Relu and Clip keep a NaN as onnxruntime does (OpenCL's fmax and fmin would not)."""
    model = make_model(
        [
            helper.make_node("Relu", ["x"], ["r"], name="relu"),
            helper.make_node("Clip", ["r", "lo", "hi"], ["y"], name="clip"),
        ],
        [tensor("x", [1, 2, 4, 4])],
        [tensor("y", [1, 2, 4, 4])],
        [
            onnx.numpy_helper.from_array(np.float32(-0.5), "lo"),
            onnx.numpy_helper.from_array(np.float32(0.5), "hi"),
        ],
    )
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4)).astype(np.float32)
    x[0, 0, 1, 1] = x[0, 1, 3, 0] = np.nan
    outputs, inputs, _ = run_on_device(model, inputs={"x": x})
    expected = reference_outputs(model, inputs)["y"]
    assert np.isnan(expected).sum() == 2
    np.testing.assert_array_equal(outputs["y"], expected)  # NaN where it is NaN


@pytest.mark.parametrize("name", ["tiny_cnn", "squeezenet", "shufflenet"])
def test_kernels_fit_adreno_305(name):
    """snapdragon-400's kernels build as OpenCL C 1.1 and fit the [gpu] limits of its
    target file, as pocl measures each kernel (not only as the launch table says)."""
    limits = load_target("snapdragon-400").gpu
    assert (limits.opencl_c, limits.fp64, limits.int64) == ("1.1", False, False)
    graph = frontend(load(name), log=quiet)
    partition = lower_gpu(graph, load_target("snapdragon-400"), log=quiet)
    assert limit_problems(partition, limits) == []
    host = OpenCLHost(partition, DEVICE)
    info = cl.kernel_work_group_info
    for launch in partition.launches:
        kernel = host.kernels[launch.kernel]
        assert np.prod(launch.local_size) <= limits.max_work_group_size
        measured = kernel.get_work_group_info(info.LOCAL_MEM_SIZE, DEVICE)
        # the table pads each array to 64 bytes, as ptxas may: an upper bound
        assert measured <= launch.local_memory_bytes < measured + 256
        assert launch.local_memory_bytes <= limits.local_memory_bytes
        assert all(g % loc == 0 for g, loc in zip(launch.global_size, launch.local_size))


def test_limits_come_from_the_target_file(tmp_path):
    """A device with smaller work-groups than a kernel needs is refused, naming the
    kernel: the limits are read from the target file."""
    text = (TARGETS_DIR / "snapdragon-400.toml").read_text()
    small = tmp_path / "small-gpu.toml"
    small.write_text(text.replace("max_work_group_size = 256", "max_work_group_size = 32"))
    graph = frontend(load("tiny_cnn"), log=quiet)
    with pytest.raises(LoweringError, match=r"kernel \w+_kernel uses work-groups of 64"):
        lower_gpu(graph, load_target(str(small)), log=quiet)


def test_limit_check_finds_double_long_and_local_memory():
    graph = frontend(load("tiny_cnn"), log=quiet)
    target = load_target("snapdragon-400")
    partition = lower_gpu(graph, target, log=quiet)
    tight = dataclasses.replace(target.gpu, local_memory_bytes=1024)
    assert any("bytes of local memory" in p for p in limit_problems(partition, tight))
    for text, word in [("double d = 0;", "double"), ("long i = 0;", "64-bit")]:
        broken = dataclasses.replace(partition, source=partition.source + text)
        assert any(word in p for p in limit_problems(broken, target.gpu)), text


def test_launch_table_names_every_buffer():
    """Arguments are the partition's buffers with their byte sizes; weights are the
    numpy arrays the runtime uploads."""
    _, _, partition = run_on_device(load("tiny_cnn"))
    for launch in partition.launches:
        for arg in launch.args:
            spec = partition.buffers[arg.buffer].spec
            assert arg.nbytes == int(np.prod(spec.shape)) * np.dtype(spec.dtype).itemsize
            if arg.role == "weight":
                assert partition.weights[arg.buffer].nbytes == arg.nbytes
    roles = {arg.role for launch in partition.launches for arg in launch.args}
    assert {"input", "weight", "intermediate", "output"} <= roles
