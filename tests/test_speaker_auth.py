"""The speaker-authentication example (examples/speaker_auth): its committed model scored
on held-out speakers by the verification reference (deepxc.demo.verification), its
bundle against onnxruntime, an RLC level's MACs and EER, and the corpus's split.

Scores are computed here from the reference's functions, not by the example's own
trials.py: every utterance's embedding, each speaker's template from its enrollment
utterances, every other utterance against every template.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys

import numpy as np
import onnxruntime as ort
import pytest

from deepxc.cli.main import main
from deepxc.demo import verification
from deepxc.emit.bundle import read_manifest
from deepxc.runner import run_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "speaker_auth")
MODEL = os.path.join(EXAMPLE, "model.onnx")
CALIBRATION = os.path.join(EXAMPLE, "calibration.npz")
LEVEL = "0.3"  # the RLC level README.md and evaluate.py name: >= 3x fewer MACs


@functools.cache
def _trials() -> dict[str, np.ndarray]:
    with np.load(os.path.join(EXAMPLE, "trials.npz")) as data:
        return {key: data[key] for key in data.files}


@functools.cache
def _onnxruntime() -> np.ndarray:
    session = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input": w[None]})[0] for w in _trials()["input"]])


def _eer(embeddings: np.ndarray) -> float:
    trials = _trials()
    utterances = np.unique(trials["utterance"])
    embedded = {
        u: verification.utterance_embedding(embeddings[trials["utterance"] == u])
        for u in utterances
    }
    speaker = {u: int(trials["speaker"][trials["utterance"] == u][0]) for u in utterances}
    enroll = {u: bool(trials["enroll"][trials["utterance"] == u][0]) for u in utterances}
    speakers = sorted(set(speaker.values()))
    templates = {
        s: verification.enroll(
            np.stack([embedded[u] for u in utterances if speaker[u] == s and enroll[u]])
        )
        for s in speakers
    }
    genuine, impostor = [], []
    for u in utterances:
        if enroll[u]:
            continue
        for s in speakers:
            value = verification.score(templates[s], embedded[u])
            (genuine if speaker[u] == s else impostor).append(value)
    assert len(genuine) >= 100 and len(impostor) >= 1000
    return verification.equal_error_rate(np.array(genuine), np.array(impostor))[0]


def test_trials_hold_enrollment_and_trial_utterances_of_every_speaker():
    trials = _trials()
    for s in range(len(trials["names"])):
        own = trials["speaker"] == s
        assert len(np.unique(trials["utterance"][own & trials["enroll"]])) == 3
        assert len(np.unique(trials["utterance"][own & ~trials["enroll"]])) >= 5


def test_eer_on_held_out_speakers_is_at_most_5_percent():
    assert _eer(_onnxruntime()) <= 0.05


def test_random_embeddings_do_not_pass():
    """The EER measure itself: embeddings unrelated to the speaker score near 50%."""
    rng = np.random.default_rng(0)
    assert _eer(rng.standard_normal(_onnxruntime().shape)) > 0.3


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A host bundle with two levels: uncompressed, and at most LEVEL of the MACs."""
    directory = str(tmp_path_factory.mktemp("speaker_auth") / "bundle")
    argv = ["build", MODEL, "-o", directory, "--calibration", CALIBRATION]
    assert main(argv + ["--rlc-levels", f"1.0,{LEVEL}"]) == 0
    manifest = read_manifest(directory)
    runs = run_dataset(directory, {"input": _trials()["input"]}, [0, 1])
    return manifest, [run["embedding"] for run in runs]


def test_bundle_embeddings_match_onnxruntime(bundle):
    _, embeddings = bundle
    reference = _onnxruntime()
    assert embeddings[0].shape == reference.shape
    assert np.abs(embeddings[0] - reference).max() <= 1e-4 * np.abs(reference).max()


def test_rlc_level_has_3x_fewer_macs_and_eer_within_1_point(bundle):
    manifest, embeddings = bundle
    macs = [level["macs"] for level in manifest["levels"]]
    assert macs[0] >= 3 * macs[1]
    assert _eer(embeddings[1]) <= _eer(embeddings[0]) + 0.01


def _make_data():
    sys.path.insert(0, EXAMPLE)
    import make_data

    return make_data


def test_corpus_splits_speakers_and_sentences():
    make_data = _make_data()
    split = make_data.plan(0)
    train, held = set(split.train_speakers), set(split.held_out_speakers)
    assert not train & held
    assert any(v.real for v in train) and any(v.real for v in held)
    texts = {role: set() for role in ("train", "calibration", "enroll", "trial")}
    for utterance in split.utterances:
        texts[utterance.role].add(utterance.request.text)
        voices = (
            split.held_out_speakers
            if utterance.role in ("enroll", "trial")
            else split.train_speakers
        )
        assert utterance.request.voice == voices[utterance.speaker]
    assert not (texts["train"] | texts["calibration"]) & (texts["enroll"] | texts["trial"])
    assert make_data.plan(0).utterances == split.utterances  # reproducible


def _f0(signal: np.ndarray) -> float:
    """Median autocorrelation pitch (Hz) of the loud 64 ms frames."""
    found = []
    loud = np.sqrt(np.mean(signal**2))
    for start in range(0, len(signal) - 1024, 512):
        frame = signal[start : start + 1024].astype(np.float64)
        if np.sqrt(np.mean(frame**2)) < 0.5 * loud:
            continue
        correlation = np.correlate(frame, frame, "full")[1023:]
        lag = 40 + int(np.argmax(correlation[40:267]))  # 60-400 Hz
        if correlation[lag] > 0.3 * correlation[0]:
            found.append(16000 / lag)
    return float(np.median(found))


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("festival") is None,
    reason="needs espeak-ng and festival",
)
@pytest.mark.parametrize(
    "name", ["festival-kal_diphone", "festival-cmu_us_slt_arctic_hts", "espeak-en+m1-p30"]
)
def test_voice_rate_and_pitch(name):
    _make_data()
    import voices

    voice = next(v for v in voices.VOICES if v.name == name)
    text = "the quick brown fox jumps over the lazy dog near the river bank"
    plain, slow, high = voices.synthesize_all(
        [
            voices.Request(voice, text),
            voices.Request(voice, text, rate=0.8),
            voices.Request(voice, text, pitch=2.0),
        ]
    )
    assert all(a.dtype == np.float32 for a in (plain, slow, high))
    assert 1.15 < len(slow) / len(plain) < 1.4
    assert 0.9 < len(high) / len(plain) < 1.1
    assert 1.06 < _f0(high) / _f0(plain) < 1.2  # 2 semitones: 1.122
