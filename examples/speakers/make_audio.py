"""Synthetic speech corpus: espeak-ng speakers reading random word sequences, with noise.

Each speaker is an espeak-ng voice and variant with its own base pitch. Every utterance
draws a new word sequence, speaking rate, pitch jitter, gain and white-noise SNR
(10-30 dB). Audio is made in memory at 16 kHz and never written to disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from features import RATE
from scipy.signal import resample_poly

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "audio")
)
from words import WORDS  # noqa: E402

# (espeak-ng voice+variant, base pitch 0-99)
SPEAKERS = [
    ("en+m1", 40),
    ("en+m3", 50),
    ("en-us+m2", 45),
    ("en-us+m7", 35),
    ("en-gb-scotland+m4", 55),
    ("en+f2", 65),
    ("en+f3", 75),
    ("en-us+f1", 60),
    ("en-us+f4", 70),
    ("en-029+f5", 55),
]


@dataclass(frozen=True)
class Utterance:
    speaker: int
    text: str
    rate_wpm: int
    pitch: int
    gain_db: float
    snr_db: float
    seed: int


def plan(per_speaker: int, seed: int) -> list[Utterance]:
    """`per_speaker` utterances for every speaker, all random draws made up front."""
    rng = np.random.default_rng(seed)
    utterances = []
    for speaker, (_, base_pitch) in enumerate(SPEAKERS):
        for _ in range(per_speaker):
            words = rng.choice(WORDS, size=int(rng.integers(4, 11)))
            utterances.append(
                Utterance(
                    speaker=speaker,
                    text=" ".join(words),
                    rate_wpm=int(rng.integers(130, 211)),
                    pitch=int(np.clip(base_pitch + rng.integers(-6, 7), 0, 99)),
                    gain_db=float(rng.uniform(-12.0, 6.0)),
                    snr_db=float(rng.uniform(10.0, 30.0)),
                    seed=int(rng.integers(2**31)),
                )
            )
    return utterances


def synthesize(utterance: Utterance) -> np.ndarray:
    """The utterance as float32 samples at RATE, gain and noise applied."""
    voice = SPEAKERS[utterance.speaker][0]
    command = ["espeak-ng", "-v", voice, "-p", str(utterance.pitch)]
    command += ["-s", str(utterance.rate_wpm), "--stdout", utterance.text]
    wav = subprocess.run(command, check=True, capture_output=True).stdout
    # espeak-ng writes a 44-byte RIFF header (its size fields unset when piped), then int16.
    source_rate = int.from_bytes(wav[24:28], "little")
    samples = np.frombuffer(wav[44 : 44 + (len(wav) - 44) // 2 * 2], dtype="<i2") / 32768.0
    speech = resample_poly(samples, RATE, source_rate)
    rng = np.random.default_rng(utterance.seed)
    noise_power = np.mean(speech**2) / 10.0 ** (utterance.snr_db / 10.0)
    noisy = speech + rng.standard_normal(len(speech)) * np.sqrt(noise_power)
    return (noisy * 10.0 ** (utterance.gain_db / 20.0)).astype(np.float32)


def synthesize_all(utterances: list[Utterance], workers: int = 2) -> list[np.ndarray]:
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng not found: apt-get install espeak-ng")
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(synthesize, utterances))
