"""The Tegra K1's GPU schedules computed, where no CUDA device is: the kernels scheduled
for sm_32 (work-groups up to 1024, the K1's shared memory) and its launch table, printed
as OpenCL C instead of PTX and run launch by launch on pocl against onnxruntime. The PTX
itself is checked by ptxas (test_ptx.py); this checks the numbers its schedules give."""

from __future__ import annotations

import dataclasses
import math

import pytest
from gpu_models import K1, graph, model_proto
from support import assert_close, quiet, random_inputs, reference_outputs

from deepxc.lower.gpu import lower_gpu

cl = pytest.importorskip("pyopencl")
from opencl_host import OpenCLHost, opencl_device  # noqa: E402

DEVICE = opencl_device()
pytestmark = pytest.mark.skipif(DEVICE is None, reason="no OpenCL device (install pocl-opencl-icd)")


@pytest.mark.parametrize(
    "model",
    ["examples/tiny_cnn/model.onnx", "examples/digits/model.onnx", "squeezenet", "shufflenet"],
)
def test_k1_schedules_match_onnxruntime(model):
    gpu = dataclasses.replace(K1.gpu, address_bits=64)
    partition = lower_gpu(graph(model), K1, gpu=gpu, log=quiet, emit_as="opencl")
    # the K1's own configuration, not host-opencl's: work-groups past OpenCL's usual 256
    assert max(math.prod(launch.local_size) for launch in partition.launches) > 256
    proto = model_proto(model)
    inputs = random_inputs(proto)
    outputs = OpenCLHost(partition, DEVICE).run([inputs[name] for name in partition.inputs])
    assert_close(dict(zip(graph(model).outputs, outputs)), reference_outputs(proto, inputs))
