"""`deepxc ops` lists the importer registry, and a model using ops deepxc does not support
is refused with every such node named in one line."""

from __future__ import annotations

import pathlib

import numpy as np
import onnx
import pytest
from models import make_model, tensor
from onnx import helper, numpy_helper

from deepxc.cli.main import main
from deepxc.errors import UnsupportedOps
from deepxc.ingest.importers import IMPORTERS
from deepxc.ingest.importers.limits import LIMITS
from deepxc.ingest.reader import import_model


def test_ops_lists_exactly_the_importers_sorted(capsys):
    assert main(["ops"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split(":")[0] for line in lines]
    assert sorted(names) == sorted(IMPORTERS)
    assert names == sorted(names, key=str.lower)
    assert (
        "Pad: modes constant, reflect, edge; constant pads, value and axes; no negative pads"
        in lines
    )


def test_limits_name_only_supported_ops():
    assert set(LIMITS) <= set(IMPORTERS), set(LIMITS) - set(IMPORTERS)


def test_readme_lists_exactly_the_importers():
    readme = pathlib.Path(__file__).resolve().parents[1] / "README.md"
    section = readme.read_text().split("## Supported ONNX ops", 1)[1].split("\n## ", 1)[0]
    listed = section.split("```\n\n", 1)[1].split(" (default domain", 1)[0]
    assert sorted(name.strip() for name in listed.split(",")) == sorted(IMPORTERS)


def test_ops_help_has_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["ops", "--help"])
    assert exit_info.value.code == 0
    assert "examples:\n  deepxc ops\n" in capsys.readouterr().out


def several_unsupported() -> onnx.ModelProto:
    """Relu, then ops deepxc lacks: Erf, TopK twice (once unnamed), an op of a foreign
    domain and five Hardmax nodes."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu")]
    nodes += [helper.make_node("Erf", ["r"], ["e"], name="erf_1")]
    nodes += [helper.make_node("TopK", ["e", "k"], ["t1", "i1"], name="topk")]
    nodes += [helper.make_node("TopK", ["t1", "k"], ["t2", "i2"])]
    nodes += [helper.make_node("Gelu", ["t2"], ["g"], name="gelu", domain="com.microsoft")]
    previous = "g"
    for index in range(5):
        nodes.append(helper.make_node("Hardmax", [previous], [f"h{index}"], name=f"hm{index}"))
        previous = f"h{index}"
    k = numpy_helper.from_array(np.array([2], np.int64), "k")
    model = make_model(nodes, [tensor("x", [1, 8])], [tensor(previous, [1, 2])], [k])
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model


EXPECTED = (
    "9 nodes use ops deepxc does not support: Erf (node 'erf_1'), Hardmax (nodes 'hm0', "
    "'hm1', 'hm2' and 2 more), TopK (nodes 'topk', 'TopK_3'), com.microsoft.Gelu (node "
    "'gelu'); `deepxc ops` lists the supported ops"
)


def test_build_names_every_unsupported_node_and_the_file(tmp_path, capsys):
    path = tmp_path / "several.onnx"
    onnx.save(several_unsupported(), path)
    assert main(["build", str(path), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    assert error == f"deepxc: error: {path}: {EXPECTED}"
    assert not (tmp_path / "out").exists()


def test_inspect_refuses_the_same_way(tmp_path, capsys):
    path = tmp_path / "several.onnx"
    onnx.save(several_unsupported(), path)
    assert main(["inspect", str(path)]) == 1
    assert capsys.readouterr().err.strip() == f"deepxc: error: {path}: {EXPECTED}"


def test_one_unsupported_node_in_memory():
    model = make_model(
        [helper.make_node("Erf", ["x"], ["y"], name="e")], [tensor("x", [2])], [tensor("y", [2])]
    )
    with pytest.raises(UnsupportedOps) as error:
        import_model(model)
    assert str(error.value) == (
        "model 'test': 1 node uses an op deepxc does not support: Erf (node 'e'); "
        "`deepxc ops` lists the supported ops"
    )


def test_op_types_that_are_no_names_are_quoted():
    model = make_model(
        [helper.make_node("", ["x"], ["r"], name="e"), helper.make_node("Relu 6", ["r"], ["y"])],
        [tensor("x", [2])],
        [tensor("y", [2])],
    )
    with pytest.raises(UnsupportedOps, match=r": '' \(node 'e'\), 'Relu 6' \(node 'Relu 6_1'\);"):
        import_model(model)
