"""Synthetic keyword corpus: one-second clips of single spoken words, or of noise alone.

The words are spoken by the shared voices (`examples/audio/voices.py`), clean, at a
speaking rate and pitch drawn per word; `mix` then makes each clip: the word resampled
by a random factor, placed at a random offset in exactly one second (16 kHz) of noise
(white to brown, by a random spectral tilt) at a random SNR and gain. `_silence_` clips
hold the noise only. The noise fills the whole second, so the padding around a word is
low noise, not digital zeros. Audio is made in memory and never written to disk.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "audio"))

from voices import FESTIVAL_BATCH, RATE, VOICES, Request  # noqa: E402
from voices import synthesize_all as speak_all  # noqa: E402

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
UNKNOWN, SILENCE = "_unknown_", "_silence_"
LABELS = KEYWORDS + [UNKNOWN, SILENCE]
# other words, several close to a keyword in sound (as Speech Commands has them)
OTHER_WORDS = """
bed bird cat dog happy house tree wow zero one two three four five six seven eight nine
yet yellow now know cup town lift light write ride own of top shop goat toe
dune done lot yeah bus learn forward
""".split()
SPEAKERS = VOICES  # every voice reads the English words; non-English ones with an accent
CLIP = RATE  # samples: one second, 98 MFCC frames
SPEECH_RMS = 0.05  # -26 dB full scale before the gain


@dataclass(frozen=True)
class Word:
    voice: int  # index into SPEAKERS
    label: int  # index into LABELS
    text: str  # "" for silence
    rate: float  # speaking rate, 1.0 = the voice's own
    pitch: float  # semitones from the voice's own


def plan(voices: list[int], per_keyword: int, unknown: int, silence: int, seed: int) -> list[Word]:
    """For every voice: `per_keyword` renditions of each keyword, `unknown` of other words
    and `silence` empty ones; all random draws made up front."""
    rng = np.random.default_rng(seed)
    words = []
    for voice in voices:
        texts = [(LABELS.index(k), k) for k in KEYWORDS for _ in range(per_keyword)]
        texts += [(LABELS.index(UNKNOWN), str(w)) for w in rng.choice(OTHER_WORDS, unknown)]
        texts += [(LABELS.index(SILENCE), "")] * silence
        for label, text in texts:
            rate, pitch = float(rng.uniform(0.8, 1.3)), float(rng.uniform(-3.0, 3.0))
            words.append(Word(voice, label, text, rate, pitch))
    return words


def noise(samples: int, tilt: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise whose power falls as 1 / f**tilt."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    frequencies = np.maximum(np.fft.rfftfreq(samples, 1.0 / RATE), 20.0)
    coloured = np.fft.irfft(spectrum / frequencies ** (tilt / 2), samples)
    return coloured / np.sqrt(np.mean(coloured**2))


def trim(speech: np.ndarray, below_peak_db: float = 40.0) -> np.ndarray:
    """The speech without the leading and trailing near-silence the synthesiser adds."""
    envelope = np.convolve(np.abs(speech), np.ones(160) / 160, mode="same")
    loud = np.flatnonzero(envelope > envelope.max() * 10.0 ** (-below_peak_db / 20.0))
    return speech[loud[0] : loud[-1] + 1] if len(loud) else speech


def level(speech: np.ndarray) -> np.ndarray:
    """The speech trimmed to at most CLIP samples, at SPEECH_RMS."""
    speech = trim(speech)[:CLIP]
    return (speech / np.sqrt(np.mean(speech**2)) * SPEECH_RMS).astype(np.float32)


def mix(speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One clip (CLIP float32 samples): the speech resampled by a random factor of 0.9 to
    1.1 (its formants, pitch and length change together, as from a longer or shorter
    vocal tract), at a random offset in random noise 10-30 dB below it, at a random gain
    of -12 to +6 dB; noise alone at -58 to -40 dB full scale for silence."""
    gain = 10.0 ** (rng.uniform(-12.0, 6.0) / 20.0)
    background = noise(CLIP, rng.uniform(0.0, 2.0), rng) * SPEECH_RMS
    if len(speech) == 0:
        return (background * gain * 10.0 ** (-20.0 / 20.0)).astype(np.float32)
    speech = resample_poly(speech, 100, int(round(100 * rng.uniform(0.9, 1.1))))[:CLIP]
    signal = background * 10.0 ** (-rng.uniform(10.0, 30.0) / 20.0)
    start = int(rng.integers(0, CLIP - len(speech) + 1))
    signal[start : start + len(speech)] += speech
    return np.clip(signal * gain, -1.0, 1.0).astype(np.float32)


def _request(word: Word) -> Request:
    return Request(SPEAKERS[word.voice], word.text, word.rate, word.pitch)


def synthesize_all(words: list[Word], workers: int = 2) -> list[np.ndarray | None]:
    """Every word spoken (clean, `level`led), empty arrays for silence, None for the few
    words the synthesiser fails on."""
    speech: list[np.ndarray | None] = [np.zeros(0, dtype=np.float32)] * len(words)
    by_voice: dict[int, list[int]] = {}
    for i, word in enumerate(words):
        if word.text:
            by_voice.setdefault(word.voice, []).append(i)
    batches = [
        indices[start : start + FESTIVAL_BATCH]
        for indices in by_voice.values()
        for start in range(0, len(indices), FESTIVAL_BATCH)
    ]
    with ThreadPoolExecutor(workers) as pool:
        spoken = pool.map(
            lambda batch: speak_all([_request(words[i]) for i in batch], 1, missing_ok=True),
            batches,
        )
        for batch, results in zip(batches, spoken):
            for i, samples in zip(batch, results):
                speech[i] = None if samples is None else level(samples)
    return speech
