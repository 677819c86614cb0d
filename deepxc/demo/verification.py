"""Speaker verification from window embeddings: the reference the Python evaluation, the
demo and the C firmware app all follow.

1. An utterance's MFCCs (`features.mfcc`) are cut into windows of `window` frames
   starting at frames 0, hop, 2*hop, ... (hop = window // 2) that are mostly speech
   (`features.voiced_starts`); if none is, every full window is used; an utterance
   shorter than one window is refused.
2. Each window's embedding (the model's output) is scaled to unit length; the
   utterance's embedding is their mean, scaled to unit length.
3. Enrollment: the template is the mean of the enrollment utterances' embeddings,
   scaled to unit length.
4. The score is the cosine of template and utterance embedding (their dot product);
   the claim is accepted when score >= threshold.
"""

from __future__ import annotations

import numpy as np

from deepxc.demo.features import N_MFCC, RATE, mfcc, voiced_starts


class TooShort(ValueError):
    """The utterance holds less than one window of frames."""


def unit(vector: np.ndarray) -> np.ndarray:
    """`vector` scaled to length 1 along its last axis (zero stays zero)."""
    norm = np.linalg.norm(vector, axis=-1, keepdims=True)
    return vector / np.maximum(norm, 1e-12)


def utterance_windows(signal: np.ndarray, window: int) -> np.ndarray:
    """[N, window * N_MFCC] model inputs of a 16 kHz utterance (float32)."""
    coefficients, energy = mfcc(np.asarray(signal, dtype=np.float64))
    if len(coefficients) < window:
        seconds = (window - 1) * 0.01 + 0.025
        raise TooShort(
            f"{len(signal) / RATE:.2f} s of audio is shorter than one window ({seconds:.2f} s)"
        )
    hop = max(1, window // 2)
    starts = voiced_starts(energy, window, hop)
    if len(starts) == 0:
        starts = np.arange(0, len(coefficients) - window + 1, hop)
    return np.stack([coefficients[s : s + window].reshape(window * N_MFCC) for s in starts]).astype(
        np.float32
    )


def utterance_embedding(window_embeddings: np.ndarray) -> np.ndarray:
    """The unit-length mean of the unit-length window embeddings [N, D] -> [D]."""
    return unit(unit(np.asarray(window_embeddings, dtype=np.float64)).mean(axis=0))


def enroll(utterance_embeddings: np.ndarray) -> np.ndarray:
    """The template [D] of a speaker from their enrollment utterances' embeddings [K, D]."""
    return unit(np.asarray(utterance_embeddings, dtype=np.float64).mean(axis=0))


def score(template: np.ndarray, embedding: np.ndarray) -> float:
    """Cosine of a template and an utterance embedding, in [-1, 1]."""
    return float(np.dot(template, embedding))


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): the rate where false rejects of genuine scores equal false
    accepts of impostor scores, and the threshold that reaches it (accept: >=)."""
    genuine, impostor = np.sort(genuine), np.sort(impostor)
    best = (2.0, 0.0, 1.0)
    for threshold in np.unique(np.concatenate([genuine, impostor])):
        rejected = np.searchsorted(genuine, threshold, side="left") / len(genuine)
        accepted = 1.0 - np.searchsorted(impostor, threshold, side="left") / len(impostor)
        gap = abs(rejected - accepted)
        if gap < best[0]:
            best = (gap, threshold, (rejected + accepted) / 2)
    return best[2], float(best[1])
