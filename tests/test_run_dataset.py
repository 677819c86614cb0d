"""`deepxc run --dataset`: the trained digits CNN on its held-out split, in one run of the
bundle. The printed accuracy of each level is the accuracy onnxruntime gives on the same
examples (for a compressed level, running the model with numpy's rank-r weights)."""

from __future__ import annotations

import json
import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from lowrank_reference import reference_model
from test_cli_errors import assert_one_line_error, run_cli

from deepxc.cli.main import main
from deepxc.errors import RunError
from deepxc.runner import stack_examples

DIGITS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
MODEL = os.path.join(DIGITS, "digits", "model.onnx")
TEST = os.path.join(DIGITS, "digits", "test.npz")
CALIBRATION = os.path.join(DIGITS, "digits", "calibration.npz")
LEVEL_LINE = re.compile(r"^level (\d+) \(([\d,]+) MACs[^)]*\): accuracy [\d.]+% \((\d+)/(\d+)\)$")


def _onnxruntime_correct(model: onnx.ModelProto, inputs: np.ndarray, labels: np.ndarray) -> int:
    session = ort.InferenceSession(model.SerializeToString())
    logits = np.concatenate([session.run(None, {"input": x[None]})[0] for x in inputs])
    return int(np.sum(logits.argmax(axis=1) == labels))


def _level_lines(out: str) -> list[tuple[int, int, int, int]]:
    found = [LEVEL_LINE.match(line) for line in out.splitlines()]
    return [tuple(int(g.replace(",", "")) for g in m.groups()) for m in found if m]


@pytest.fixture(scope="module")
def levels_bundle(tmp_path_factory):
    """Two levels, listed uncompressed first: level 0 is the uncompressed model."""
    directory = str(tmp_path_factory.mktemp("digits_levels") / "bundle")
    argv = ["build", MODEL, "-o", directory, "--threads", "1", "--calibration", CALIBRATION]
    assert main(argv + ["--rlc-levels", "1.0,0.2"]) == 0
    with open(os.path.join(directory, "manifest.json")) as file:
        return directory, json.load(file)


@pytest.fixture
def popen_calls(monkeypatch):
    """How many processes the runner starts."""
    calls = []
    real = subprocess.Popen

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", counting)
    return calls


def test_accuracy_of_every_level_matches_onnxruntime(capsys, levels_bundle, popen_calls):
    directory, manifest = levels_bundle
    with np.load(TEST) as data:
        inputs, labels = data["input"], data["labels"]
    code, out, err = run_cli(capsys, "run", directory, "--dataset", TEST, "--level", "all")
    assert code == 0, err
    assert len(popen_calls) == 1  # one process for every example of both levels
    rows = _level_lines(out)
    assert [row[0] for row in rows] == [0, 1]
    model = onnx.load(MODEL)
    assert manifest["levels"][0]["macs"] == manifest["totals"]["macs"]  # level 0: uncompressed
    for level, macs, correct, total in rows:
        assert macs == manifest["levels"][level]["macs"]
        assert total == len(labels) == 360
        reference = reference_model(MODEL, manifest["levels"][level]["rlc"]["layers"])
        assert correct == _onnxruntime_correct(reference, inputs, labels), out
    assert rows[1][1] < rows[0][1]
    assert _onnxruntime_correct(model, inputs, labels) == rows[0][2]


def test_one_level_and_its_outputs(capsys, tmp_path, levels_bundle):
    directory, manifest = levels_bundle
    with np.load(TEST) as data:
        inputs, labels = data["input"][:40], data["labels"][:40]
    # a one-input model takes a single array of any name; the labels under another name
    np.savez(tmp_path / "part.npz", images=inputs, classes=labels)
    out_path = tmp_path / "logits.npy"
    argv = ["run", directory, "--dataset", tmp_path / "part.npz", "--labels", "classes"]
    code, out, err = run_cli(capsys, *argv, "--level", "1", "-o", out_path)
    assert code == 0, err
    assert "array 'images' taken as the model input 'input'" in err
    ((level, _, correct, total),) = _level_lines(out)
    reference = reference_model(MODEL, manifest["levels"][1]["rlc"]["layers"])
    assert (level, total) == (1, 40)
    assert correct == _onnxruntime_correct(reference, inputs, labels)
    session = ort.InferenceSession(reference.SerializeToString())
    expected = np.concatenate([session.run(None, {"input": x[None]})[0] for x in inputs])
    np.testing.assert_allclose(np.load(out_path), expected, rtol=1e-3, atol=1e-3)


def test_without_labels_levels_are_compared(capsys, tmp_path, levels_bundle):
    directory, _ = levels_bundle
    with np.load(TEST) as data:
        inputs = data["input"][:50]
    np.save(tmp_path / "x.npy", inputs.astype(np.float64))
    code, out, err = run_cli(
        capsys, "run", directory, "--dataset", tmp_path / "x.npy", "--level", "all"
    )
    assert code == 0, err
    assert "no labels" in out
    model = onnx.load(MODEL)
    session = ort.InferenceSession(model.SerializeToString())
    logits = np.concatenate([session.run(None, {"input": x[None]})[0] for x in inputs])
    level0 = next(line for line in out.splitlines() if line.startswith("level 0 "))
    stats = re.search(r"'logits' \[50, 10\] mean (\S+) std (\S+) min (\S+) max (\S+)", level0)
    expected = [logits.mean(), logits.std(), logits.min(), logits.max()]
    np.testing.assert_allclose([float(v) for v in stats.groups()], expected, rtol=2e-3)
    level1 = next(line for line in out.splitlines() if line.startswith("level 1 "))
    assert re.search(r"top-1 agrees with level 0 on [\d.]+% \(\d+/50\)", level1)


@pytest.mark.parametrize(
    "arrays, argv, fragment",
    [
        ({"input": np.zeros((3, 1, 16, 16), np.float32), "label": np.zeros(3, int)}, [], "label"),
        ({"input": np.zeros((3, 16, 16), np.float32)}, [], "expected [N, 1, 1, 16, 16]"),
        (
            {"input": np.zeros((3, 1, 16, 16), np.float32), "labels": np.zeros(2, int)},
            [],
            "2 labels for 3",
        ),
        (
            {"input": np.zeros((3, 1, 16, 16), np.float32), "labels": np.zeros(3)},
            [],
            "integer classes",
        ),
        ({"input": np.zeros((3, 1, 16, 16), np.float32)}, ["--labels", "y"], "no array 'y'"),
        ({"input": np.zeros((3, 1, 16, 16), np.float32)}, ["--bench", "2"], "--bench"),
        (
            {"input": np.zeros((3, 1, 16, 16), np.float32)},
            ["--level", "all", "-o", "o.npz"],
            "one level",
        ),
    ],
    ids=[
        "stray_array",
        "shape",
        "label_count",
        "float_labels",
        "missing_labels",
        "bench",
        "all_with_o",
    ],
)
def test_dataset_errors(capsys, tmp_path, levels_bundle, arrays, argv, fragment):
    directory, _ = levels_bundle
    np.savez(tmp_path / "data.npz", **arrays)
    argv = [tmp_path / a if a.endswith(".npz") else a for a in argv]
    assert_one_line_error(
        capsys, ["run", directory, "--dataset", tmp_path / "data.npz", *argv], fragment
    )


def test_level_all_needs_a_dataset(capsys, levels_bundle):
    assert_one_line_error(capsys, ["run", levels_bundle[0], "--level", "all"], "--dataset")


def test_examples_are_stacked_from_either_form():
    batches = np.arange(24, dtype=np.float32).reshape(6, 4)  # 3 batches of [2, 4]
    stacked = stack_examples("x", batches, [2, 4])
    assert stacked.shape == (3, 2, 4)
    np.testing.assert_array_equal(stacked[1], batches[2:4])
    assert stack_examples("x", stacked, [2, 4]) is stacked
    with pytest.raises(RunError, match=r"expected \[N, 2, 4\] or \[N\*2, 4\]"):
        stack_examples("x", batches[:5], [2, 4])
    most = numpy_max_dims()
    with pytest.raises(RunError, match="more than numpy holds"):
        stack_examples("x", np.zeros([2] + [1] * (most - 1), np.float32), [1] * most)


def numpy_max_dims() -> int:
    """The most dimensions an array of this numpy may have (64 from numpy 2, 32 before)."""
    for dims in (64, 32):
        try:
            np.empty([1] * dims)
        except ValueError:
            continue
        return dims
    raise AssertionError("numpy takes neither 64 nor 32 dimensions")
