"""Task folders for the demo's tests: the repository's examples, and a stand-in
speaker-auth task (a random MLP embedding, synthetic voices) made the way the task.json
contract describes, plus the references the answers are checked against."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from scipy.io import wavfile

from deepxc.demo import verification
from deepxc.demo.features import N_MFCC, RATE

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples")
AUTH_WINDOW = 15
AUTH_ENROLL = 2
AUTH_THRESHOLD = 0.96  # the random embedding scores the other voice about 0.92
VOICES = {"low": 110.0, "high": 260.0}  # speaker: base pitch (Hz)


def tone(pitch: float, seconds: float, seed: int, rate: int = RATE) -> np.ndarray:
    """A voice-like signal: harmonics of `pitch` under a syllable envelope, with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wobble = pitch * (1 + 0.03 * np.sin(2 * np.pi * 3 * t + seed))
    phase = 2 * np.pi * np.cumsum(wobble) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t + seed) ** 2
    signal = 0.3 * voice * envelope + 0.01 * rng.standard_normal(len(t))
    return np.clip(signal / np.abs(signal).max() * 0.8, -1, 1)


def wav_bytes(signal: np.ndarray, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    wavfile.write(buffer, rate, (np.asarray(signal) * 32767).astype(np.int16))
    return buffer.getvalue()


def make_auth_task(folder: str) -> str:
    """A speaker-auth task: a random MLP from a window of MFCCs to a 16-value embedding, and
    samples/<speaker>/<n>.wav (AUTH_ENROLL enrollment files + 2 trials each)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(7)
    features = AUTH_WINDOW * N_MFCC
    w1 = (rng.standard_normal((features, 48)) / np.sqrt(features)).astype(np.float32)
    w2 = (rng.standard_normal((48, 16)) / np.sqrt(48)).astype(np.float32)
    nodes = [
        helper.make_node("Gemm", ["input", "w1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["r"], name="relu1"),
        helper.make_node("Gemm", ["r", "w2"], ["embedding"], name="fc2"),
    ]
    graph = helper.make_graph(
        nodes,
        "auth_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, features])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 16])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, os.path.join(folder, "model.onnx"))
    for index, (speaker, pitch) in enumerate(VOICES.items()):
        os.makedirs(os.path.join(folder, "samples", speaker), exist_ok=True)
        for n in range(AUTH_ENROLL + 2):
            path = os.path.join(folder, "samples", speaker, f"{n}.wav")
            with open(path, "wb") as file:
                file.write(wav_bytes(tone(pitch, 1.0, seed=10 * index + n)))
    task = {
        "title": "Speaker authentication (stand-in)",
        "kind": "speaker-auth",
        "model": "model.onnx",
        "window": AUTH_WINDOW,
        "threshold": AUTH_THRESHOLD,
        "enroll": AUTH_ENROLL,
        "about": "A random MLP embedding of two synthetic voices.",
    }
    with open(os.path.join(folder, "task.json"), "w") as file:
        json.dump(task, file)
    return folder


def make_examples(folder: str) -> str:
    """An examples folder: the repository's examples that are demo tasks, and the stand-in
    auth."""
    os.makedirs(folder, exist_ok=True)
    for name in sorted(os.listdir(EXAMPLES)):
        if os.path.exists(os.path.join(EXAMPLES, name, "task.json")):
            os.symlink(os.path.join(EXAMPLES, name), os.path.join(folder, name))
    make_auth_task(os.path.join(folder, "auth"))
    return folder


def onnx_outputs(model_path: str, inputs: np.ndarray) -> np.ndarray:
    """onnxruntime's first output for each input in `inputs` (one at a time), stacked."""
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    shape = [int(d) for d in session.get_inputs()[0].shape]
    return np.concatenate(
        [session.run(None, {name: x.reshape(shape).astype(np.float32)})[0] for x in inputs]
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def read_wav(path: str) -> np.ndarray:
    rate, samples = wavfile.read(path)
    assert rate == RATE
    return samples.astype(np.float64) / 32768.0


def auth_reference(
    task_dir: str,
    claim: str,
    trial: np.ndarray,
    window: int = AUTH_WINDOW,
    enroll: int = AUTH_ENROLL,
) -> float:
    """The score of `trial` against `claim`'s template, by verification.py + onnxruntime."""
    model = os.path.join(task_dir, "model.onnx")

    def embedding(signal: np.ndarray) -> np.ndarray:
        windows = verification.utterance_windows(signal, window)
        return verification.utterance_embedding(onnx_outputs(model, windows))

    folder = os.path.join(task_dir, "samples", claim)
    enrollment = sorted(os.listdir(folder))[:enroll]
    template = verification.enroll(
        np.stack([embedding(read_wav(os.path.join(folder, f))) for f in enrollment])
    )
    return verification.score(template, embedding(trial))
