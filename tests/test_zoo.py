"""The onnx wheel's light model zoo, built for the host and compared with onnxruntime."""

from __future__ import annotations

import pytest
from support import check_model
from zoo import realistic_model

SMALL = ["squeezenet", "shufflenet", "inception_v1", "inception_v2", "densenet121"]
BIG = ["bvlc_alexnet", "resnet50", "zfnet512", "vgg19"]  # seconds per untuned run


@pytest.mark.parametrize("name", SMALL)
def test_zoo_model(name, tmp_path):
    check_model(realistic_model(name), tmp_path / name)


@pytest.mark.slow
@pytest.mark.parametrize("name", BIG)
def test_big_zoo_model(name, tmp_path):
    check_model(realistic_model(name), tmp_path / name)
