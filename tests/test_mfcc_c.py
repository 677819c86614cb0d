"""The C MFCC front end (examples/audio/mfcc.c), natively and for ARM under qemu-arm, holds
against the numpy reference deepxc/demo/features.py and the window choice of
deepxc/demo/verification.py: coefficients within 1e-4 of the utterance's largest one,
energies to 1e-9 dB, the same windows."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import numpy as np
import pytest
from scipy.io import wavfile
from speech_like import speech_like

from deepxc.demo import features
from deepxc.demo.verification import TooShort, utterance_windows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUDIO = os.path.join(ROOT, "examples", "audio")
DRIVER = os.path.join(ROOT, "tests", "c", "mfcc_driver.c")
CFLAGS = ["-O2", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror"]
ARM = ["arm-linux-gnueabihf-gcc", "-mcpu=cortex-a7", "-mfpu=neon-vfpv4", "-mfloat-abi=hard"]
COMPILERS = {"host": (["cc"], []), "arm": ([*ARM, "-static"], ["qemu-arm"])}
RATE = features.RATE
SAMPLES = sorted(
    glob.glob(os.path.join(ROOT, "examples", "*", "samples", "**", "*.wav"), recursive=True)
)


def signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(int(1.7 * RATE)) / RATE
    click = 1e-3 * rng.standard_normal(RATE)
    click[8000:8100] += 0.9
    cases = {
        "noise": 0.1 * rng.standard_normal(RATE + 123),
        "chirp": 0.5 * np.sin(2 * np.pi * (60 * t + 2200 * t**2)),
        "speech_like": speech_like(2.0, 120.0, [700.0, 1200.0, 2600.0], seed=1),
        "speech_like_high": speech_like(1.3, 210.0, [400.0, 2300.0, 3000.0], seed=2),
        "silence": np.zeros(RATE),
        "click_in_quiet": click,  # no window is mostly voiced: every window is used
        "one_frame": 0.2 * rng.standard_normal(400),
        "odd_401": 0.2 * rng.standard_normal(401),
        "odd_559": 0.2 * rng.standard_normal(559),
        "odd_8007": 0.2 * rng.standard_normal(8007),
    }
    for path in SAMPLES:
        rate, pcm = wavfile.read(path)
        assert rate == RATE and pcm.dtype == np.int16
        cases[os.path.relpath(path, ROOT)] = pcm / 32768.0
    # the C front end takes float samples (int16 / 32768 is exact in float)
    return {name: signal.astype(np.float32) for name, signal in cases.items()}


SIGNALS = signals()


@pytest.fixture(scope="module", params=sorted(COMPILERS))
def driver(request, tmp_path_factory):
    """(runner, program) of the test driver compiled for host or ARM."""
    compiler, runner = COMPILERS[request.param]
    if not shutil.which(compiler[0]) or (runner and not shutil.which(runner[0])):
        pytest.skip(f"{compiler[0]} or qemu-arm is not installed (.ci/run installs them)")
    program = str(tmp_path_factory.mktemp("mfcc") / "mfcc_driver")
    source = [DRIVER, os.path.join(AUDIO, "mfcc.c")]
    subprocess.run([*compiler, *CFLAGS, "-I", AUDIO, *source, "-lm", "-o", program], check=True)
    return runner, program


def run_c(driver, signal: np.ndarray, window: int, tmp_path) -> tuple:
    """(coefficients, energies, window starts or the negative error code) from the C side."""
    runner, program = driver
    signal.tofile(tmp_path / "signal.f32")
    out = tmp_path / "out.bin"
    command = [*runner, program, str(tmp_path / "signal.f32"), str(window), str(out)]
    subprocess.run(command, check=True)
    data = out.read_bytes()
    frames, count = np.frombuffer(data[:8], np.int32)
    body = 8 + frames * features.N_MFCC * 4
    coefficients = np.frombuffer(data[8:body], np.float32).reshape(frames, features.N_MFCC)
    energy = np.frombuffer(data[body : body + frames * 8], np.float64)
    starts = np.frombuffer(data[body + frames * 8 :], np.int32) if count >= 0 else count
    return coefficients, energy, starts


def relative_errors(c: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(max |c - ref| / max |ref|, worst |c - ref| / |ref| where |ref| >= 1e-3 max |ref|)."""
    scale = np.abs(reference).max()
    away_from_zero = np.abs(reference) >= 1e-3 * scale
    per_element = np.abs(c - reference)[away_from_zero] / np.abs(reference)[away_from_zero]
    return float(np.abs(c - reference).max() / scale), float(per_element.max())


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_coefficients_and_energies_match_numpy(driver, name, tmp_path):
    signal = SIGNALS[name]
    coefficients, energy, _ = run_c(driver, signal, 50, tmp_path)
    expected, expected_energy = features.mfcc(signal.astype(np.float64))
    assert coefficients.shape == expected.shape
    utterance, element = relative_errors(coefficients, expected)
    assert utterance <= 1e-4, f"{name}: {utterance:.2e} of the largest coefficient"
    assert element <= 1e-4, f"{name}: {element:.2e} relative on a coefficient away from 0"
    np.testing.assert_allclose(energy, expected_energy, rtol=0, atol=1e-9)


@pytest.mark.parametrize("window", [50, 31])
@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_windows_match_verification(driver, name, window, tmp_path):
    """The windows at the C side's starts are the ones verification.utterance_windows takes."""
    signal = SIGNALS[name]
    coefficients, _, starts = run_c(driver, signal, window, tmp_path)
    try:
        expected = utterance_windows(signal, window)
    except TooShort:
        assert isinstance(starts, np.integer) and starts == -1  # MFCC_ETOOSHORT
        return
    reference, _ = features.mfcc(signal.astype(np.float64))
    at_starts = np.stack([features.window_at(reference, s, window) for s in starts])
    np.testing.assert_array_equal(at_starts, expected)
    ours = np.stack([features.window_at(coefficients, s, window) for s in starts])
    assert np.abs(ours - expected).max() <= 1e-4 * np.abs(expected).max()


def test_click_in_quiet_falls_back_to_every_window(driver, tmp_path):
    """The fallback is taken: the click's few loud frames leave no window mostly voiced."""
    _, energy, starts = run_c(driver, SIGNALS["click_in_quiet"], 50, tmp_path)
    assert len(features.voiced_starts(energy, 50, 25)) == 0
    np.testing.assert_array_equal(starts, np.arange(0, len(energy) - 50 + 1, 25))


@pytest.mark.parametrize("samples", [0, 1, 399])
def test_less_than_one_frame_is_too_short(driver, samples, tmp_path):
    """Below one frame there are no frames (the numpy reference cannot frame it at all)."""
    coefficients, _, starts = run_c(driver, np.full(samples, 0.1, np.float32), 1, tmp_path)
    assert len(coefficients) == 0 and starts == -1
