"""Bad input gets one line on stderr, a non-zero exit and no traceback."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from models import make_model, relu_add, tensor
from onnx import helper

from deepxc.cli.main import main


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(capsys, argv, *fragments):
    code, _, err = run_cli(capsys, *argv)
    assert code == 1, err  # a user's error, not an internal one (70)
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def save(model: onnx.ModelProto, path) -> str:
    path.write_bytes(model.SerializeToString())
    return str(path)


@pytest.fixture
def good_model(tmp_path):
    return save(relu_add(), tmp_path / "good.onnx")


def test_missing_file(capsys, tmp_path):
    assert_one_line_error(
        capsys, ["build", tmp_path / "nope.onnx", "-o", tmp_path / "b"], "nope.onnx", "no such file"
    )


def test_not_onnx(capsys, tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n" * 10)
    assert_one_line_error(capsys, ["build", path, "-o", tmp_path / "b"], "notes.onnx")


def test_truncated_onnx(capsys, tmp_path, good_model):
    data = open(good_model, "rb").read()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    assert_one_line_error(capsys, ["build", path, "-o", tmp_path / "b"], "cut.onnx")


def test_corrupt_onnx(capsys, tmp_path, good_model):
    data = bytearray(open(good_model, "rb").read())
    for i in range(0, len(data), 7):
        data[i] ^= 0xFF
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(bytes(data))
    assert_one_line_error(capsys, ["build", path, "-o", tmp_path / "b"], "corrupt.onnx")


def test_unknown_target(capsys, tmp_path, good_model):
    line = assert_one_line_error(
        capsys, ["build", good_model, "--target", "pdp11", "-o", tmp_path / "b"], "pdp11"
    )
    assert "host" in line  # lists the known ones


def test_dangling_input(capsys, tmp_path):
    model = make_model(
        [helper.make_node("Relu", ["ghost"], ["y"], name="r1")],
        [tensor("x", [1, 4])],
        [tensor("y", [1, 4])],
    )
    assert_one_line_error(
        capsys, ["build", save(model, tmp_path / "m.onnx"), "-o", tmp_path / "b"], "ghost"
    )


def test_missing_initializer(capsys, tmp_path):
    model = make_model(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add_w")],
        [tensor("x", [1, 4])],
        [tensor("y", [1, 4])],
    )
    assert_one_line_error(
        capsys, ["build", save(model, tmp_path / "m.onnx"), "-o", tmp_path / "b"], "'w'"
    )


def test_cycle(capsys, tmp_path):
    model = make_model(
        [
            helper.make_node("Add", ["x", "b"], ["a"], name="first"),
            helper.make_node("Relu", ["a"], ["b"], name="second"),
        ],
        [tensor("x", [1, 4])],
        [tensor("a", [1, 4])],
    )
    assert_one_line_error(capsys, ["build", save(model, tmp_path / "m.onnx"), "-o", tmp_path / "b"])


@pytest.mark.parametrize("dim", [0, -3])
def test_bad_dimension(capsys, tmp_path, dim):
    model = relu_add()
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = dim
    assert_one_line_error(
        capsys, ["build", save(model, tmp_path / "m.onnx"), "-o", tmp_path / "b"], "dimension"
    )


def test_unsupported_op(capsys, tmp_path):
    model = make_model(
        [helper.make_node("Hardmax", ["x"], ["y"], name="hm_layer")],
        [tensor("x", [1, 4])],
        [tensor("y", [1, 4])],
    )
    assert_one_line_error(
        capsys,
        ["build", save(model, tmp_path / "m.onnx"), "-o", tmp_path / "b"],
        "hm_layer",
        "Hardmax",
    )


def test_symbolic_dim_needs_input_shape(capsys, tmp_path):
    model = relu_add()
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    path = save(model, tmp_path / "m.onnx")
    assert_one_line_error(capsys, ["build", path, "-o", tmp_path / "b"], "batch", "--input-shape")
    code, _, _ = run_cli(capsys, "build", path, "-o", tmp_path / "b", "--input-shape", "x=1,4")
    assert code == 0


def test_output_dir_not_a_bundle_is_refused(capsys, tmp_path, good_model):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert_one_line_error(capsys, ["build", good_model, "-o", out], "not a deepxc bundle")
    assert (out / "thesis.tex").read_text() == "precious"


@pytest.fixture
def bundle(tmp_path, good_model, capsys):
    code, _, _ = run_cli(capsys, "build", good_model, "-o", tmp_path / "bundle")
    assert code == 0
    return tmp_path / "bundle"


@pytest.mark.parametrize(
    "arrays, fragment",
    [
        ({"wrong_name": np.zeros((1, 4), np.float32)}, "wrong_name"),
        ({"x": np.zeros((2, 4), np.float32)}, "shape"),
        ({"x": np.zeros((1, 4), np.int64)}, "'x' is int64, the model wants float32"),
        ({"x": np.zeros((4,), np.float32)}, "add the batch axis"),
        ({"x": np.full((1, 4), 1e300)}, "beyond float32's range"),
        ({}, "lacks"),
    ],
)
def test_npz_mismatch(capsys, tmp_path, bundle, arrays, fragment):
    path = tmp_path / "in.npz"
    np.savez(path, **arrays)
    assert_one_line_error(capsys, ["run", bundle, "-i", path], fragment)


def test_npz_not_npz(capsys, tmp_path, bundle):
    path = tmp_path / "in.npz"
    path.write_text("nope")
    assert_one_line_error(capsys, ["run", bundle, "-i", path], "in.npz")


def test_run_not_a_bundle(capsys, tmp_path):
    assert_one_line_error(capsys, ["run", tmp_path], "not a deepxc bundle")


def test_rebuild_into_existing_bundle(capsys, tmp_path, good_model, bundle):
    code, _, _ = run_cli(capsys, "build", good_model, "-o", bundle)
    assert code == 0


def test_shape_operand_must_be_constant(capsys, tmp_path):
    model = make_model(
        [helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape_by_input")],
        [tensor("x", [2, 6]), tensor("target", [2], onnx.TensorProto.INT64)],
        [tensor("y", [3, 4])],
    )
    assert_one_line_error(
        capsys, ["build", save(model, tmp_path / "m.onnx"), "-o", tmp_path / "b"], "target"
    )


def test_run_refuses_without_emulator(capsys, bundle, monkeypatch):
    import json

    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["runner"] = ["qemu-vax-nonexistent"]
    manifest_path.write_text(json.dumps(manifest))
    assert_one_line_error(capsys, ["run", bundle], "qemu-vax-nonexistent", "not installed")


@pytest.mark.parametrize(
    "output, fragment",
    [
        ("somefile/bundle", "somefile (Not a directory)"),
        ("", "-o ''"),
        ("/proc/deepxc-bundle/b", "cannot create a directory in /proc"),
        ("good.onnx", "exists and is not a directory"),
    ],
    ids=["under_a_file", "empty", "unwritable", "the_model_file"],
)
def test_output_dir_that_cannot_be_made(capsys, tmp_path, good_model, output, fragment):
    (tmp_path / "somefile").write_text("mine")
    model_bytes = open(good_model, "rb").read()
    output = str(tmp_path / output) if output and not output.startswith("/") else output
    assert_one_line_error(capsys, ["build", good_model, "-o", output], fragment)
    assert (tmp_path / "somefile").read_text() == "mine"
    assert open(good_model, "rb").read() == model_bytes
    assert sorted(os.listdir(tmp_path)) == ["good.onnx", "somefile"]


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root (see /proc above)")
def test_output_dir_in_a_read_only_directory(capsys, tmp_path, good_model):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert_one_line_error(
            capsys, ["build", good_model, "-o", locked / "b"], "Permission denied"
        )
    finally:
        locked.chmod(0o755)


def test_bundle_holding_the_model_is_not_replaced(capsys, tmp_path, bundle):
    model = bundle / "good.onnx"
    model.write_bytes(relu_add().SerializeToString())
    assert_one_line_error(capsys, ["build", model, "-o", bundle], "'good.onnx'", "did not write")
    assert model.exists()


def test_empty_inputs_file(capsys, tmp_path, bundle):
    path = tmp_path / "in.npz"
    path.write_bytes(b"")
    assert_one_line_error(capsys, ["run", bundle, "-i", path], "in.npz", "empty")


def test_inputs_file_is_a_directory(capsys, tmp_path, bundle):
    assert_one_line_error(capsys, ["run", bundle, "-i", tmp_path], "is a directory")


def test_npy_is_the_input_of_a_one_input_model(capsys, tmp_path, bundle):
    x = np.random.default_rng(2).standard_normal((1, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", x=x)
    code, _, err = run_cli(
        capsys, "run", bundle, "-i", tmp_path / "x.npy", "-o", tmp_path / "a.npz"
    )
    assert code == 0, err
    code, _, err = run_cli(
        capsys, "run", bundle, "-i", tmp_path / "x.npz", "-o", tmp_path / "b.npz"
    )
    assert code == 0, err
    np.testing.assert_array_equal(
        np.load(tmp_path / "a.npz")["y"], np.load(tmp_path / "b.npz")["y"]
    )


def test_npy_for_a_model_of_two_inputs(capsys, tmp_path):
    model = make_model(
        [helper.make_node("Add", ["x", "z"], ["y"], name="add")],
        [tensor("x", [1, 4]), tensor("z", [1, 4])],
        [tensor("y", [1, 4])],
    )
    code, _, err = run_cli(capsys, "build", save(model, tmp_path / "m.onnx"), "-o", tmp_path / "b")
    assert code == 0, err
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    assert_one_line_error(
        capsys, ["run", tmp_path / "b", "-i", tmp_path / "x.npy"], "x.npy", "2 inputs (x, z)"
    )


@pytest.mark.parametrize("where", ["dir", "somefile/out.npz"])
def test_outputs_file_that_cannot_be_written(capsys, tmp_path, bundle, where):
    (tmp_path / "dir").mkdir()
    (tmp_path / "somefile").write_text("mine")
    assert_one_line_error(capsys, ["run", bundle, "-o", tmp_path / where], where)
    assert (tmp_path / "somefile").read_text() == "mine"


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "B", "--seed", "-1"],
        ["run", "B", "--bench", "-2"],
        ["inspect", "M", "--rlc", "--calibration", "X"],
    ],
    ids=["negative_seed", "negative_bench", "npy_calibration"],
)
def test_bad_option_values(capsys, tmp_path, bundle, good_model, argv):
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    names = {"B": bundle, "M": good_model, "X": tmp_path / "x.npy"}
    with pytest.raises(SystemExit) as exit_info:
        main([str(names.get(a, a)) for a in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "error" in line]) == 1, err
