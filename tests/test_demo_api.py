"""The demo's JSON API through Flask's test client: answers against onnxruntime on the same
input (and verification.py for speaker-auth); bad input refused in one line while the
server keeps serving."""

from __future__ import annotations

import io
import json
import os
import time

import numpy as np
import pytest
from demo_tasks import (
    AUTH_THRESHOLD,
    EXAMPLES,
    auth_reference,
    make_examples,
    onnx_outputs,
    read_wav,
    softmax,
    tone,
    wav_bytes,
)
from scipy.signal import resample_poly

from deepxc.demo import verification

pytest.importorskip("flask")
from deepxc.demo.app import create_app  # noqa: E402

DIGITS_MODEL = os.path.join(EXAMPLES, "digits", "model.onnx")
SPEAKERS_MODEL = os.path.join(EXAMPLES, "speakers", "model.onnx")
JOB_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    examples = make_examples(str(tmp_path_factory.mktemp("examples")))
    cache = str(tmp_path_factory.mktemp("cache"))
    return create_app(examples, cache, warn=print).test_client(), examples


def post_run(client, fields: dict):
    """POST /api/run with the form `fields` (host, level 0, goal none unless given; `file`
    as (name, bytes))."""
    upload = fields.pop("file", None)
    data = {"target": "host", "level": "0", "goal": "none", **fields}
    if upload is not None:
        data["file"] = (io.BytesIO(upload[1]), upload[0])
    return client.post("/api/run", data=data, content_type="multipart/form-data")


def run(client, **fields) -> dict:
    """POST /api/run, then poll the job to its end; the job's final state."""
    response = post_run(client, fields)
    assert response.status_code == 202, response.get_json()
    job = response.get_json()["job"]
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        state = client.get(f"/api/jobs/{job}").get_json()
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {job} did not finish in {JOB_TIMEOUT_S} s")


def refused(client, **fields) -> str:
    response = post_run(client, fields)
    assert response.status_code == 400
    message = response.get_json()["error"]
    assert "\n" not in message and "Traceback" not in message
    return message


def task_labels(client, name: str) -> list[str]:
    tasks = client.get("/api/tasks").get_json()["tasks"]
    return next(task["labels"] for task in tasks if task["name"] == name)


def check_scores(result: dict, expected: np.ndarray, labels: list[str]) -> None:
    scores = np.array(result["answer"]["scores"])
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    assert result["answer"]["top"][0]["label"] == labels[int(np.argmax(expected))]


def test_tasks_listed(setup):
    client, examples = setup
    data = client.get("/api/tasks").get_json()
    kinds = {task["name"]: task["kind"] for task in data["tasks"]}
    expected = {
        name: json.load(open(os.path.join(examples, name, "task.json")))["kind"]
        for name in os.listdir(examples)
    }
    assert kinds == expected
    assert {"auth": "speaker-auth", "digits": "image", "speakers": "audio"}.items() <= kinds.items()
    assert kinds["speaker_auth"] == "speaker-auth"
    assert data["targets"] == ["host", "tegra-k1", "snapdragon-400", "aarch64"]
    auth = next(task for task in data["tasks"] if task["name"] == "auth")
    assert auth["samples"] == ["high/2.wav", "high/3.wav", "low/2.wav", "low/3.wav"]


def test_image_sample_matches_onnxruntime(setup):
    client, _ = setup
    state = run(client, task="digits", sample="test/3")
    assert state["state"] == "done", state["error"]
    with np.load(os.path.join(EXAMPLES, "digits", "test.npz")) as data:
        image = data["input"][3:4]
    expected = softmax(onnx_outputs(DIGITS_MODEL, image)[0])
    check_scores(state["result"], expected, [str(i) for i in range(10)])
    result = state["result"]
    assert result["latency_ms"] > 0 and result["emulated"] == ""
    assert result["macs"] == result["macs_full"] == 7_416_320  # examples/digits/README.md
    assert result["plan"] is None
    assert result["memory"]["arena_bytes"] > 0 and result["memory"]["code_bytes"] > 0


def test_image_upload_matches_onnxruntime(setup):
    from PIL import Image

    client, _ = setup
    with np.load(os.path.join(EXAMPLES, "digits", "test.npz")) as data:
        images = data["input"]
    confidence = [softmax(logits).max() for logits in onnx_outputs(DIGITS_MODEL, images)]
    # the image the model is least sure of (about 0.58): a wrong decoding shows in its scores
    pixels = np.round(images[int(np.argmin(confidence)), 0] * 255).astype(np.uint8)
    png = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(png, format="PNG")
    state = run(client, task="digits", file=("digit.png", png.getvalue()))
    assert state["state"] == "done", state["error"]
    expected = softmax(onnx_outputs(DIGITS_MODEL, (pixels / 255.0)[None])[0])
    check_scores(state["result"], expected, [str(i) for i in range(10)])


def test_audio_sample_matches_onnxruntime(setup):
    client, _ = setup
    sample = "en-us+f1_0.wav"
    state = run(client, task="speakers", sample=sample)
    assert state["state"] == "done", state["error"]
    signal = read_wav(os.path.join(EXAMPLES, "speakers", "samples", sample))
    windows = verification.utterance_windows(signal, 15)
    expected = softmax(onnx_outputs(SPEAKERS_MODEL, windows).astype(np.float64).mean(axis=0))
    check_scores(state["result"], expected, task_labels(client, "speakers"))
    assert state["result"]["answer"]["windows"] == len(windows)


def test_audio_upload_8khz_stereo_is_resampled(setup):
    client, _ = setup
    signal = read_wav(os.path.join(EXAMPLES, "speakers", "samples", "en+m3_0.wav"))
    low = resample_poly(signal, 1, 2)  # 8 kHz
    stereo = np.stack([low, low * 0.5], axis=1)
    state = run(client, task="speakers", file=("call.wav", wav_bytes(stereo, 8000)))
    assert state["state"] == "done", state["error"]
    heard = np.round(stereo * 32767).astype(np.int16) / 32768.0
    mono = resample_poly(heard.mean(axis=1), 2, 1)
    windows = verification.utterance_windows(mono, 15)
    expected = softmax(onnx_outputs(SPEAKERS_MODEL, windows).astype(np.float64).mean(axis=0))
    check_scores(state["result"], expected, task_labels(client, "speakers"))


@pytest.mark.parametrize("claim", ["low", "high"])
def test_speaker_auth_matches_verification_reference(setup, claim):
    client, examples = setup
    state = run(client, task="auth", sample="low/3.wav", claim=claim)
    assert state["state"] == "done", state["error"]
    answer = state["result"]["answer"]
    trial = read_wav(os.path.join(examples, "auth", "samples", "low", "3.wav"))
    expected = auth_reference(os.path.join(examples, "auth"), claim, trial)
    assert answer["claim"] == claim
    assert answer["score"] == pytest.approx(expected, abs=1e-4)
    assert answer["threshold"] == AUTH_THRESHOLD
    assert answer["accepted"] == (expected >= AUTH_THRESHOLD) == (claim == "low")


def test_the_speaker_auth_example_accepts_its_speaker_and_rejects_another(setup):
    client, examples = setup
    task = os.path.join(examples, "speaker_auth")
    settings = json.load(open(os.path.join(task, "task.json")))
    speakers = sorted(os.listdir(os.path.join(task, "samples")))
    trial_name = sorted(os.listdir(os.path.join(task, "samples", speakers[0])))[-1]
    trial = read_wav(os.path.join(task, "samples", speakers[0], trial_name))
    for claim in speakers[:2]:
        state = run(client, task="speaker_auth", sample=f"{speakers[0]}/{trial_name}", claim=claim)
        assert state["state"] == "done", state["error"]
        answer = state["result"]["answer"]
        expected = auth_reference(task, claim, trial, settings["window"], settings["enroll"])
        assert answer["score"] == pytest.approx(expected, abs=1e-4)
        assert answer["accepted"] == (claim == speakers[0])


def test_bad_inputs_refused_in_one_line(setup):
    client, _ = setup
    assert "empty (0 bytes)" in refused(client, task="digits", file=("blank.png", b""))
    assert "not a PNG or JPEG" in refused(client, task="digits", file=("notes.txt", b"hello"))
    assert "cannot decode" in refused(client, task="digits", file=("cut.png", b"\x89PNG\r\n\x1a\n"))
    assert "not a WAV file" in refused(client, task="speakers", file=("a.png", b"\x89PNG\r\n"))
    assert "empty" in refused(client, task="speakers", file=("a.wav", b""))
    long = wav_bytes(tone(150.0, 31.0, seed=1))
    assert "31.0 s of audio is longer than the 30 s" in refused(
        client, task="speakers", file=("long.wav", long)
    )
    silence = wav_bytes(np.zeros(1000))
    assert "too short" in refused(client, task="speakers", file=("short.wav", silence))
    short = wav_bytes(tone(150.0, 0.12, seed=1))
    assert "shorter than one window" in refused(client, task="speakers", file=("s.wav", short))
    assert "no task 'nope'" in refused(client, task="nope", sample="x")
    assert "level '7'" in refused(client, task="digits", sample="test/0", level="7")
    assert "target 'cray-1'" in refused(client, task="digits", sample="test/0", target="cray-1")
    assert "claimed speaker 'eve'" in refused(client, task="auth", sample="low/2.wav", claim="eve")
    assert client.get("/api/jobs/999").status_code == 404
    assert client.get("/api/tasks").status_code == 200  # still serving


def test_missing_cross_compiler_is_one_line(setup, tmp_path, monkeypatch):
    client, _ = setup
    bin_dir = tmp_path / "bin"  # the host's tools, no ARM cross compiler
    bin_dir.mkdir()
    for tool in ("cc", "gcc", "ar", "objcopy", "size", "make"):
        path = os.popen(f"command -v {tool}").read().strip()
        if path:
            os.symlink(path, bin_dir / tool)
    monkeypatch.setenv("PATH", str(bin_dir))
    state = run(client, task="digits", sample="test/0", target="tegra-k1")
    assert state["state"] == "failed"
    assert "arm-linux-gnueabihf-gcc not found" in state["error"]
    assert "\n" not in state["error"] and "Traceback" not in state["error"]
    assert client.get("/api/tasks").status_code == 200  # still serving


def test_gpu_plan_on_arm_is_shown_not_run(setup):
    client, _ = setup
    state = run(
        client, task="speakers", sample="en+f2_0.wav", target="snapdragon-400", goal="latency"
    )
    assert state["state"] == "done", state["error"]
    result = state["result"]
    assert result["answer"] is None and "latency_ms" not in result
    assert result["not_run"].startswith("not run: the plans put blocks on the gpu")
    assert "DEEPX_ENOGPU" in result["not_run"] and "\n" not in result["not_run"]
    assert result["emulated"].startswith("emulated (qemu)")
    blocks = result["plan"]["blocks"]
    assert {block["processor"] for block in blocks} == {"cpu", "gpu"}
    assert all(0 <= block["start_ms"] <= block["end_ms"] for block in blocks)


def test_busy_port_is_one_line(tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "deepxc.cli.main", "demo", "--port", str(port)]
        command += ["--examples", EXAMPLES, "--cache", str(tmp_path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == (
        f"deepxc: error: cannot serve on 127.0.0.1:{port}: Address already in use "
        "(try another --port)\n"
    )
