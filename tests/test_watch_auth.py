"""The watch app (examples/speaker_auth/watch): WAV to accept/reject in C, for the host and
for snapdragon-400 under qemu-arm, scores like the Python reference (onnxruntime on the
ONNX model, verification.py on the numpy features) within 1e-4 with the same decisions;
input it cannot take is refused with one line and a non-zero exit."""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import shutil
import struct
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from scipy.io import wavfile
from speech_like import speech_like

from deepxc.demo import verification

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WINDOW, DIM = 50, 32
RATE = 16000
# (speaker, utterance): pitch, formants; speaker a enrolls with a0..a2
VOICES = {"a": (120.0, [700.0, 1200.0, 2600.0]), "b": (210.0, [400.0, 2300.0, 3000.0])}
ENROLL = ["a0", "a1", "a2"]
TRIALS = ["a3", "a4", "b0", "b1", "b2"]
TASK = os.path.join(ROOT, "examples", "speaker_auth", "task.json")


def load_watch_build():
    path = os.path.join(ROOT, "examples", "speaker_auth", "watch", "build.py")
    spec = importlib.util.spec_from_file_location("watch_build", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stand_in_model(path: str) -> None:
    """A random MLP with the speaker-auth model's interface: input [1, 50 * 20] of MFCC
    windows, output `embedding` [1, 32]."""
    rng = np.random.default_rng(3)
    arrays = {
        "w1": rng.standard_normal((WINDOW * 20, 64)) / np.sqrt(WINDOW * 20),
        "b1": 0.1 * rng.standard_normal(64),
        "w2": rng.standard_normal((64, DIM)) / 8,
    }
    nodes = [
        helper.make_node("Gemm", ["input", "w1", "b1"], ["hidden"], name="fc1"),
        helper.make_node("Relu", ["hidden"], ["relu"], name="relu1"),
        helper.make_node("MatMul", ["relu", "w2"], ["embedding"], name="fc2"),
    ]
    graph = helper.make_graph(
        nodes,
        "speaker_auth_stand_in",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, WINDOW * 20])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, DIM])],
        [numpy_helper.from_array(a.astype(np.float32), name) for name, a in arrays.items()],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def write_wav(path: str, signal: np.ndarray, rate: int = RATE) -> str:
    wavfile.write(path, rate, np.round(signal * 32767).astype(np.int16))
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("model") / "model.onnx")
    stand_in_model(path)
    return path


@pytest.fixture(scope="module")
def wavs(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("wavs")
    paths = {}
    for seed, name in enumerate(ENROLL + TRIALS):
        pitch, formants = VOICES[name[0]]
        jitter = 1 + 0.03 * np.random.default_rng(seed).standard_normal()
        signal = speech_like(1.2 + 0.3 * (seed % 3), pitch * jitter, formants, seed)
        paths[name] = write_wav(str(folder / f"{name}.wav"), signal)
    return paths


@pytest.fixture(scope="module", params=["host", "snapdragon-400"])
def app(request, model, tmp_path_factory) -> list[str]:
    """The command that runs the app built for the target (runner first)."""
    if request.param != "host" and not (
        shutil.which("arm-linux-gnueabihf-gcc") and shutil.which("qemu-arm")
    ):
        pytest.skip("ARM cross compiler and qemu-user are not installed (.ci/run installs them)")
    out = str(tmp_path_factory.mktemp(f"watch-{request.param}"))
    return load_watch_build().build(request.param, model, out, cflags=("-Werror",))


def python_embedding(session: ort.InferenceSession, path: str, window: int) -> np.ndarray:
    rate, pcm = wavfile.read(path)
    assert rate == RATE
    windows = verification.utterance_windows(pcm / 32768.0, window)
    name = session.get_inputs()[0].name
    outputs = [session.run(None, {name: w[None]})[0][0] for w in windows]
    return verification.utterance_embedding(np.array(outputs))


def run_app(app: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*app, *args], capture_output=True, text=True)


def check_against_python(app, model, window, enroll, trials, threshold, template) -> set[str]:
    """Enroll and verify with the app and in Python (onnxruntime + verification.py): the
    same template and scores within 1e-4, the same decisions. Returns the decisions."""
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    embeddings = [python_embedding(session, path, window) for path in enroll]
    expected_template = verification.enroll(np.array(embeddings))
    enrolled = run_app(app, "enroll", template, *enroll)
    assert enrolled.returncode == 0, enrolled.stderr
    stored = np.fromfile(template, np.float64, offset=12)
    np.testing.assert_allclose(stored, expected_template, rtol=0, atol=1e-6)
    threshold = float(f"{threshold:.6f}")  # as the app prints and reads it
    decisions = set()
    for path in trials:
        expected = verification.score(expected_template, python_embedding(session, path, window))
        verified = run_app(app, "verify", template, f"{threshold:.6f}", path)
        assert verified.returncode == 0, verified.stderr
        fields = dict(item.split("=") for item in verified.stdout.split())
        assert abs(float(fields["score"]) - expected) <= 1e-4, path
        if abs(expected - threshold) > 1e-5:  # farther from the threshold than the C side errs
            assert fields["accept"] == str(int(expected >= threshold)), path
        decisions.add(fields["accept"])
    return decisions


def test_enroll_and_verify_match_python(app, model, wavs, tmp_path):
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    enroll, trials = [wavs[n] for n in ENROLL], [wavs[n] for n in TRIALS]
    template = verification.enroll(np.array([python_embedding(session, p, WINDOW) for p in enroll]))
    scores = sorted(
        verification.score(template, python_embedding(session, p, WINDOW)) for p in trials
    )
    # a threshold halfway between the two middle scores: some trials pass, some fail
    threshold = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2
    template_path = str(tmp_path / "template.bin")
    decisions = check_against_python(app, model, WINDOW, enroll, trials, threshold, template_path)
    assert decisions == {"0", "1"}


@pytest.mark.skipif(not os.path.exists(TASK), reason="examples/speaker_auth has no model yet")
def test_speaker_auth_example_on_the_watch(tmp_path):
    """The example's own model and held-out samples, built for snapdragon-400 (qemu-arm):
    each speaker enrolls with their first files; every other file is a trial."""
    if not (shutil.which("arm-linux-gnueabihf-gcc") and shutil.which("qemu-arm")):
        pytest.skip("ARM cross compiler and qemu-user are not installed (.ci/run installs them)")
    with open(TASK) as file:
        task = json.load(file)
    model = os.path.join(os.path.dirname(TASK), task["model"])
    app = load_watch_build().build("snapdragon-400", model, str(tmp_path), cflags=("-Werror",))
    samples = os.path.join(os.path.dirname(TASK), "samples")
    speakers = {
        s: sorted(glob.glob(os.path.join(samples, s, "*.wav"))) for s in os.listdir(samples)
    }
    everything = sorted(f for files in speakers.values() for f in files)
    for speaker, files in sorted(speakers.items()):
        enroll = files[: task["enroll"]]
        trials = [f for f in everything if f not in enroll]
        template = str(tmp_path / f"{speaker}.bin")
        check_against_python(
            app, model, task["window"], enroll, trials, task["threshold"], template
        )


def bad_inputs(folder) -> dict[str, tuple[str, str]]:
    """name: (WAV path, what the one-line error must say)."""
    voice = speech_like(1.0, 150.0, [600.0, 1500.0], seed=9)
    pcm16 = np.round(voice * 32767).astype(np.int16)
    cases = {
        "rate_8k": (write_wav(str(folder / "rate.wav"), voice, 8000), "sample rate 8000 Hz"),
        "too_short": (
            write_wav(str(folder / "short.wav"), voice[:4000]),
            "shorter than one window",
        ),
        "missing": (str(folder / "missing.wav"), "cannot open"),
    }
    eight_bit = str(folder / "8bit.wav")
    wavfile.write(eight_bit, RATE, (pcm16 // 256 + 128).astype(np.uint8))
    stereo = str(folder / "stereo.wav")
    wavfile.write(stereo, RATE, np.stack([pcm16, pcm16], axis=1))
    floats = str(folder / "float.wav")
    wavfile.write(floats, RATE, voice.astype(np.float32))
    empty, text, header_only = (str(folder / n) for n in ("empty.wav", "text.wav", "header.wav"))
    open(empty, "wb").close()
    with open(text, "w") as file:
        file.write("not audio at all\n")
    wavfile.write(header_only, RATE, pcm16[:0])
    cases.update(
        eight_bit=(eight_bit, "8-bit samples"),
        stereo=(stereo, "2 channels"),
        float32=(floats, "sample format 3"),
        empty=(empty, "empty file"),
        text=(text, "not a WAV file"),
        no_samples=(header_only, "no samples"),
    )
    return cases


def test_bad_wavs_are_refused_in_one_line(app, wavs, tmp_path):
    template = str(tmp_path / "template.bin")
    assert run_app(app, "enroll", template, *(wavs[n] for n in ENROLL)).returncode == 0
    for name, (path, reason) in bad_inputs(tmp_path).items():
        for args in (["verify", template, "0.5", path], ["enroll", str(tmp_path / "t.bin"), path]):
            refused = run_app(app, *args)
            assert refused.returncode == 1, name
            assert refused.stdout == "", name
            lines = refused.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"auth: {path}: "), (name, lines)
            assert reason in lines[0], (name, lines)


def extensible_wav_with_chunks(path: str, plain: str) -> str:
    """The samples of a plain WAV behind a WAVE_FORMAT_EXTENSIBLE header (PCM sub-format),
    after an odd-sized LIST chunk and its pad byte, as other recorders write them."""
    _, pcm = wavfile.read(plain)
    guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt = struct.pack("<HHIIHHHHIH", 0xFFFE, 1, RATE, 2 * RATE, 2, 16, 22, 16, 4, 1) + guid_tail
    info = b"INFOISFT\x05\x00\x00\x00watch"
    data = pcm.astype("<i2").tobytes()
    chunks = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"LIST" + struct.pack("<I", len(info)) + info + b"\x00"
    chunks += b"data" + struct.pack("<I", len(data)) + data
    with open(path, "wb") as file:
        file.write(b"RIFF" + struct.pack("<I", len(chunks)) + chunks)
    return path


def test_wav_with_other_chunks_reads_as_the_plain_file(app, wavs, tmp_path):
    template = str(tmp_path / "template.bin")
    assert run_app(app, "enroll", template, *(wavs[n] for n in ENROLL)).returncode == 0
    other = extensible_wav_with_chunks(str(tmp_path / "other.wav"), wavs["b0"])
    assert wavfile.read(other)[1].tolist() == wavfile.read(wavs["b0"])[1].tolist()
    plain, unusual = (run_app(app, "verify", template, "0.5", p) for p in (wavs["b0"], other))
    assert unusual.returncode == 0, unusual.stderr
    assert unusual.stdout == plain.stdout


def test_bad_arguments_are_refused_in_one_line(app, wavs, tmp_path):
    template = str(tmp_path / "template.bin")
    assert run_app(app, "enroll", template, *(wavs[n] for n in ENROLL)).returncode == 0
    cases = {
        "threshold": (["verify", template, "high", wavs["a3"]], "threshold 'high' is not a number"),
        "template": (["verify", wavs["a3"], "0.5", wavs["a3"]], "not a template"),
        "usage": (["verify", template], "usage: auth"),
    }
    for name, (args, reason) in cases.items():
        refused = run_app(app, *args)
        lines = refused.stderr.splitlines()
        assert refused.returncode == 1 and len(lines) == 1 and reason in lines[0], (name, lines)
