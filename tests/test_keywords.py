"""The keyword-spotting example (examples/keywords): its accuracy on voices training never
heard, its host bundle against onnxruntime, and its sample WAVs through the demo's
reference pipeline (features, windows, mean logits)."""

from __future__ import annotations

import functools
import json
import os

import numpy as np
import onnx
import pytest
from scipy.io import wavfile
from support import assert_close, reference_outputs

from deepxc.cli.main import main
from deepxc.demo.features import N_MFCC, RATE
from deepxc.demo.verification import utterance_windows
from deepxc.runner import run_dataset

FOLDER = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "keywords"
)
MODEL = os.path.join(FOLDER, "model.onnx")
# Measured 87.8% on the test voices (README); chance is 1 in 12 (8.3%).
ACCURACY_FLOOR = 0.75


@functools.cache
def _task() -> dict:
    with open(os.path.join(FOLDER, "task.json")) as file:
        return json.load(file)


@functools.cache
def _test() -> tuple[np.ndarray, np.ndarray]:
    with np.load(os.path.join(FOLDER, "test.npz")) as data:
        return data["input"], data["labels"]


@functools.cache
def _model() -> onnx.ModelProto:
    return onnx.load(MODEL)


def _logits(windows: np.ndarray) -> np.ndarray:
    """[N, classes] onnxruntime logits, one window (batch 1) at a time."""
    return np.concatenate(
        [reference_outputs(_model(), {"input": w[None]})["logits"] for w in windows]
    )


def test_task_matches_the_model():
    task, model = _task(), _model()
    assert task["kind"] == "audio"
    (inputs,), (outputs,) = model.graph.input, model.graph.output
    dims = [[d.dim_value for d in v.type.tensor_type.shape.dim] for v in (inputs, outputs)]
    assert (inputs.name, outputs.name) == ("input", "logits")
    assert dims == [[1, task["window"] * N_MFCC], [1, len(task["labels"])]]
    assert (model.ir_version, model.opset_import[0].version) == (8, 17)


def test_accuracy_on_unseen_voices_is_far_above_chance():
    inputs, labels = _test()
    assert len(labels) >= 300 and set(labels.tolist()) == set(range(len(_task()["labels"])))
    accuracy = float(np.mean(_logits(inputs).argmax(axis=1) == labels))
    assert accuracy >= ACCURACY_FLOOR, f"test accuracy {accuracy:.2%}"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> str:
    directory = str(tmp_path_factory.mktemp("keywords") / "bundle")
    assert main(["build", MODEL, "-o", directory, "--threads", "1"]) == 0
    return directory


def test_host_bundle_matches_onnxruntime_on_the_test_windows(bundle):
    inputs, _ = _test()
    (outputs,) = run_dataset(bundle, {"input": inputs}, [0])
    expected = _logits(inputs)
    for got, reference in zip(outputs["logits"], expected):
        assert_close({"logits": got}, {"logits": reference}, tolerance=1e-4)
    assert np.array_equal(outputs["logits"].argmax(axis=1), expected.argmax(axis=1))


def _read_wav(path: str) -> np.ndarray:
    rate, samples = wavfile.read(path)
    assert rate == RATE and samples.dtype == np.int16 and samples.ndim == 1, path
    assert len(samples) <= 3 * RATE, path
    return samples / 32768.0


def test_samples_classify_as_their_names_through_the_reference_pipeline():
    """Each WAV's answer: the softmax of the mean logits over its windows."""
    task = _task()
    folder = os.path.join(FOLDER, "samples")
    names = sorted(os.listdir(folder))
    assert sum(os.path.getsize(os.path.join(folder, n)) for n in names) < 600_000
    right = []
    for name in names:
        label = name.rsplit("_", 1)[0]
        assert label in task["labels"], name
        windows = utterance_windows(_read_wav(os.path.join(folder, name)), task["window"])
        answer = task["labels"][int(_logits(windows).mean(axis=0).argmax())]
        right.append(answer == label)
    assert len(names) >= len(task["labels"])
    assert np.mean(right) >= 0.75, [n for n, ok in zip(names, right) if not ok]
