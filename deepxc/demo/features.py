"""MFCC features in numpy/scipy, the reference of every audio example and of the C front
end: pre-emphasis 0.97, 25 ms Hamming frames every 10 ms, 512-point FFT, 40 log-mel
bands (60-7600 Hz), DCT-II, the first 20 coefficients (c0 included).

A model's input is a window of consecutive frames flattened frame by frame: feature
t * N_MFCC + c is coefficient c of frame t.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct

RATE = 16000
FRAME, HOP, N_FFT = 400, 160, 512
N_MELS, N_MFCC = 40, 20
LOW_HZ, HIGH_HZ = 60.0, 7600.0
PRE_EMPHASIS = 0.97
VOICED_BELOW_PEAK_DB = 15.0


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank() -> np.ndarray:
    """[N_MELS, N_FFT // 2 + 1] triangular filters, evenly spaced on the mel scale."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(LOW_HZ), _hz_to_mel(HIGH_HZ), N_MELS + 2))
    bins = np.fft.rfftfreq(N_FFT, 1.0 / RATE)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None] - lower) / (centre - lower)
    falling = (upper - bins[None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


_FILTERS = mel_filterbank()


def frames(signal: np.ndarray) -> np.ndarray:
    """[T, FRAME] Hamming-windowed frames of the pre-emphasised signal (T = 0 when the
    signal is shorter than one frame)."""
    emphasised = np.append(signal[:1], signal[1:] - PRE_EMPHASIS * signal[:-1])
    if len(emphasised) < FRAME:
        return np.zeros((0, FRAME))
    count = 1 + (len(emphasised) - FRAME) // HOP
    index = np.arange(FRAME)[None] + HOP * np.arange(count)[:, None]
    return emphasised[index] * np.hamming(FRAME)


def mfcc(signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(MFCCs [T, N_MFCC] float32, frame log energies [T] in dB) of a 16 kHz signal."""
    framed = frames(signal)
    power = np.abs(np.fft.rfft(framed, N_FFT)) ** 2 / N_FFT
    log_mel = np.log(power @ _FILTERS.T + 1e-10)
    coefficients = dct(log_mel, type=2, norm="ortho", axis=1)[:, :N_MFCC]
    energy = 10.0 * np.log10(np.sum(framed**2, axis=1) + 1e-10)
    return coefficients.astype(np.float32), energy


def voiced(energy: np.ndarray, below_peak_db: float = VOICED_BELOW_PEAK_DB) -> np.ndarray:
    """1.0 for the frames within `below_peak_db` of the loudest frame, else 0.0."""
    if len(energy) == 0:
        return np.zeros(0)
    return (energy > energy.max() - below_peak_db).astype(np.float64)


def voiced_starts(energy: np.ndarray, window: int, hop: int = 1) -> np.ndarray:
    """First frames (0, hop, 2*hop, ...) of the full windows of `window` frames that are
    mostly speech: at least 2/3 of their frames are voiced (`voiced`)."""
    if len(energy) < window:
        return np.zeros(0, dtype=np.int64)
    counts = np.convolve(voiced(energy).astype(np.int64), np.ones(window, np.int64), "valid")
    starts = np.arange(0, len(counts), hop)
    return starts[3 * counts[starts] >= 2 * window]


def window_at(coefficients: np.ndarray, start: int, window: int) -> np.ndarray:
    """The model input [window * N_MFCC] for the `window` frames from `start`."""
    return coefficients[start : start + window].reshape(-1)
