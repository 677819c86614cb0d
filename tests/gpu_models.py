"""The models the GPU lowering tests use, read and lowered once per test process."""

from __future__ import annotations

import dataclasses
import functools
import os
import re

import onnx
from support import quiet
from zoo import realistic_model

from deepxc.lower.gpu import lower_gpu
from deepxc.pipeline import frontend
from deepxc.targets import load_target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the examples, then the light zoo (tests/zoo.py) but its four big models
MODELS = [
    "examples/tiny_cnn/model.onnx",
    "examples/digits/model.onnx",
    "squeezenet",
    "shufflenet",
    "inception_v1",
    "inception_v2",
    "densenet121",
]
K1 = load_target("tegra-k1")
PTXAS_ARCH = "sm_35"  # the oldest arch CUDA 11.8's ptxas takes; sm_32 PTX assembles for it


def model_proto(model: str) -> onnx.ModelProto:
    if model.endswith(".onnx"):
        return onnx.load(os.path.join(ROOT, model))
    return realistic_model(model)


@functools.cache
def graph(model: str):
    return frontend(model_proto(model), log=quiet)


@functools.cache
def lowered(model: str, address_bits: int):
    """The model's PTX partition for the K1's GPU with `address_bits` pointers."""
    gpu = dataclasses.replace(K1.gpu, address_bits=address_bits)
    return lower_gpu(graph(model), K1, gpu=gpu, log=quiet)


def directive(ptx: str, name: str) -> str:
    """The value of a PTX module directive (.target, .version, .address_size)."""
    return re.search(rf"^\.{name}\s+(\S+)", ptx, re.M).group(1)
