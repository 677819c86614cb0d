"""`deepxc export-remote`: a Triton model repository whose configs Triton's own protobuf
schema parses, agreeing with the ONNX files, which compute what the partitions do."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from google.protobuf import text_format
from remote_bundles import reference, tiny_cnn_bundle, whole_model_tensors

from deepxc.cli.main import main
from deepxc.serve.partitions import remote_partitions

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")

ONNX_TYPES = {onnx.TensorProto.FLOAT: "TYPE_FP32"}


def _boundary(values) -> list[tuple[str, str, list[int]]]:
    return [
        (
            v.name,
            ONNX_TYPES[v.type.tensor_type.elem_type],
            [d.dim_value for d in v.type.tensor_type.shape.dim],
        )
        for v in values
    ]


def _config_tensors(tensors) -> list[tuple[str, str, list[int]]]:
    names = model_config_pb2.DataType.Name
    return [(t.name, names(t.data_type), list(t.dims)) for t in tensors]


def test_repository_configs_and_models(tmp_path, capsys):
    bundle = tiny_cnn_bundle(str(tmp_path / "bundle"))
    repository = tmp_path / "models"
    assert main(["export-remote", bundle, "-o", str(repository)]) == 0
    partitions = remote_partitions(bundle)
    with open(os.path.join(bundle, "manifest.json")) as file:
        entries = {e["model"]: e for e in json.load(file)["remote"]["partitions"]}
    whole = whole_model_tensors(seed=5)
    assert sorted(os.listdir(repository)) == sorted(p.model for p in partitions)
    for partition in partitions:
        folder = repository / partition.model
        config = text_format.Parse(
            (folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
        )
        assert config.name == partition.model
        assert config.platform == "onnxruntime_onnx"
        assert config.max_batch_size == 0
        assert list(config.version_policy.specific.versions) == [1]
        model_path = str(folder / "1" / "model.onnx")
        model = onnx.load(model_path)
        assert _config_tensors(config.input) == _boundary(model.graph.input)
        assert _config_tensors(config.output) == _boundary(model.graph.output)
        # the exported model computes its piece of tiny_cnn as the whole model does
        entry = entries[partition.model]
        feeds = {t["name"]: whole[t["tensor"]] for t in entry["inputs"]}
        got = reference(model_path, feeds)
        for tensor in entry["outputs"]:
            np.testing.assert_allclose(got[tensor["name"]], whole[tensor["tensor"]], atol=1e-5)
    # exporting again replaces the models' folders
    (repository / partitions[0].model / "stale.txt").write_text("old")
    assert main(["export-remote", bundle, "-o", str(repository)]) == 0
    assert not (repository / partitions[0].model / "stale.txt").exists()
    assert "wrote 2 model(s)" in capsys.readouterr().err


def test_bundle_without_remote_partitions(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text('{"name": "m", "remote": null}')
    assert main(["export-remote", str(tmp_path), "-o", str(tmp_path / "out")]) == 1
    assert "nothing to serve" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
