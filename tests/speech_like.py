"""Speech-like test signals: a glottal pulse train through formant resonators, in
syllables with pauses between them (so voiced-window selection has something to do)."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

RATE = 16000


def speech_like(seconds: float, pitch: float, formants: list[float], seed: int) -> np.ndarray:
    """`seconds` of a voice at `pitch` Hz with resonances at `formants` Hz, peak 0.3."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    phase = np.cumsum(pitch * (1 + 0.05 * np.sin(2 * np.pi * 3 * t)) / RATE)
    signal = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(np.float64)
    signal += 1e-4 * rng.standard_normal(n)
    for formant in formants:
        radius = np.exp(-np.pi * 80 / RATE)
        poles = [1.0, -2 * radius * np.cos(2 * np.pi * formant / RATE), radius**2]
        signal = lfilter([1.0 - radius], poles, signal)
    syllables = np.clip(np.sin(2 * np.pi * 1.2 * t + rng.uniform(0, 1)), 0, None) ** 0.5
    return 0.3 * signal / np.abs(signal).max() * syllables
