"""`deepxc run -i/-o`: a one-input model takes an .npy (float64 converted), `-o` writes
exactly the file asked for (.npy for a one-output model, .npz for all outputs), and an
`-o` that cannot be written as asked is refused before anything runs."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from models import make_model, relu_add, tensor
from onnx import helper
from support import reference_outputs
from test_cli_errors import assert_one_line_error, run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_CNN = os.path.join(ROOT, "examples", "tiny_cnn", "model.onnx")


def two_outputs() -> onnx.ModelProto:
    return make_model(
        [
            helper.make_node("Relu", ["x"], ["y"], name="relu"),
            helper.make_node("Sigmoid", ["x"], ["z"], name="sigmoid"),
        ],
        [tensor("x", [1, 4])],
        [tensor("y", [1, 4]), tensor("z", [1, 4])],
    )


@pytest.fixture(scope="module")
def tiny_cnn(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny") / "bundle"
    from deepxc.cli.main import main

    assert main(["build", TINY_CNN, "-o", str(directory), "--threads", "1"]) == 0
    return directory


@pytest.fixture(scope="module")
def two_output_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two")
    onnx.save(two_outputs(), folder / "m.onnx")
    from deepxc.cli.main import main

    assert main(["build", str(folder / "m.onnx"), "-o", str(folder / "bundle")]) == 0
    return folder / "bundle"


def test_float64_npy_is_converted_and_npy_output_is_a_plain_array(capsys, tmp_path, tiny_cnn):
    model = onnx.load(TINY_CNN)
    spec = model.graph.input[0]
    shape = [d.dim_value for d in spec.type.tensor_type.shape.dim]
    x = np.random.default_rng(4).standard_normal(shape)  # float64, as numpy makes it
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    code, _, err = run_cli(capsys, "run", tiny_cnn, "-i", tmp_path / "x.npy", "-o", out)
    assert code == 0, err
    assert f"input '{spec.name}' converted from float64 to float32" in err
    assert sorted(os.listdir(tmp_path)) == ["x.npy", "y.npy"]  # no y.npy.npz
    got = np.load(out)  # an .npy: an array, not an archive
    assert isinstance(got, np.ndarray)
    expected = reference_outputs(model, {spec.name: x.astype(np.float32)})
    (expected,) = expected.values()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_npz_output_holds_every_output_by_name(capsys, tmp_path, two_output_bundle):
    x = np.random.default_rng(5).standard_normal((1, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npz"
    code, _, err = run_cli(capsys, "run", two_output_bundle, "-i", tmp_path / "x.npy", "-o", out)
    assert code == 0, err
    expected = reference_outputs(two_outputs(), {"x": x})
    with np.load(out) as got:
        assert sorted(got.files) == ["y", "z"]
        for name in ("y", "z"):
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "output, fragment",
    [
        ("missing/out.npz", "folder"),
        ("out", "name the file .npz"),
        ("out.txt", "name the file .npz"),
        ("out.npy", "cannot hold the model's 2 outputs (y, z)"),
    ],
    ids=["missing_folder", "no_suffix", "other_suffix", "npy_for_two_outputs"],
)
def test_bad_output_is_refused_before_running(
    capsys, tmp_path, two_output_bundle, output, fragment
):
    # without its executable the bundle cannot run: the error must come before trying
    bundle = tmp_path / "bundle"
    os.mkdir(bundle)
    for name in os.listdir(two_output_bundle):
        if name != "model":
            os.link(two_output_bundle / name, bundle / name)
    line = assert_one_line_error(capsys, ["run", bundle, "-o", tmp_path / output], fragment)
    assert output in line
    assert sorted(os.listdir(tmp_path)) == ["bundle"]


def test_one_line_errors_name_the_input_and_what_it_wants(capsys, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(relu_add((1, 4)), path)
    code, _, err = run_cli(capsys, "build", path, "-o", tmp_path / "b")
    assert code == 0, err
    cases = {
        "batchless.npy": (np.zeros(4, np.float32), "[4], the model wants [1, 4] float32"),
        "many.npy": (np.zeros((5, 4), np.float32), "for 5 examples on axis 0 use --dataset"),
        "bytes.npy": (np.zeros((1, 4), np.uint8), "'x' is uint8, the model wants float32"),
    }
    for name, (array, fragment) in cases.items():
        np.save(tmp_path / name, array)
        assert_one_line_error(
            capsys, ["run", tmp_path / "b", "-i", tmp_path / name], name, fragment
        )
