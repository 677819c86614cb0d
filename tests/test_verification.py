"""The speaker-verification reference: equal error rate against a brute-force sweep,
windows of an utterance, enrollment and scores."""

from __future__ import annotations

import numpy as np
import pytest

from deepxc.demo.features import RATE, mfcc
from deepxc.demo.verification import (
    TooShort,
    enroll,
    equal_error_rate,
    score,
    utterance_embedding,
    utterance_windows,
)


def _brute_force_eer(genuine, impostor):
    """The smallest |FRR - FAR| over every threshold, by counting."""
    best = None
    for threshold in np.concatenate([genuine, impostor]):
        false_reject = np.mean([g < threshold for g in genuine])
        false_accept = np.mean([i >= threshold for i in impostor])
        key = abs(false_reject - false_accept)
        if best is None or key < best[0]:
            best = (key, (false_reject + false_accept) / 2)
    return best[1]


@pytest.mark.parametrize("seed", range(6))
def test_eer_equals_a_brute_force_sweep(seed):
    rng = np.random.default_rng(seed)
    genuine = rng.normal(0.7, 0.2, 40 + seed * 7)
    impostor = rng.normal(0.2, 0.2, 60 + seed * 5)
    eer, threshold = equal_error_rate(genuine, impostor)
    assert eer == pytest.approx(_brute_force_eer(genuine, impostor))
    false_reject = np.mean(genuine < threshold)
    false_accept = np.mean(impostor >= threshold)
    assert eer == pytest.approx((false_reject + false_accept) / 2)


def test_eer_of_separated_and_identical_scores():
    assert equal_error_rate(np.array([0.9, 0.8]), np.array([0.1, 0.2]))[0] == 0.0
    same = np.linspace(0, 1, 101)
    assert equal_error_rate(same, same)[0] == pytest.approx(0.5, abs=0.01)


def test_windows_step_half_a_window_over_speech():
    rng = np.random.default_rng(0)
    speech = rng.standard_normal(RATE) * 0.3
    silence = rng.standard_normal(RATE // 2) * 1e-4
    signal = np.concatenate([silence, speech, silence])
    coefficients, _ = mfcc(signal)
    windows = utterance_windows(signal, 20)
    starts = [
        s
        for s in range(0, len(coefficients) - 19, 10)
        if 45 <= s and s + 20 <= 50 + 98 + 7  # mostly inside the loud second
    ]
    assert len(windows) == len(starts)
    for row, start in zip(windows, starts):
        np.testing.assert_array_equal(row, coefficients[start : start + 20].reshape(-1))


def test_a_signal_shorter_than_a_window_is_refused():
    with pytest.raises(TooShort, match="shorter than one window"):
        utterance_windows(np.zeros(RATE // 10), 50)


def test_scores_are_cosines_of_unit_means():
    rng = np.random.default_rng(1)
    windows = rng.standard_normal((5, 8))
    embedding = utterance_embedding(windows)
    expected = (windows / np.linalg.norm(windows, axis=1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(embedding, expected / np.linalg.norm(expected))
    template = enroll(np.stack([embedding, embedding]))
    assert score(template, embedding) == pytest.approx(1.0)
    assert score(template, -embedding) == pytest.approx(-1.0)


@pytest.mark.parametrize("samples", [0, 1, 399])
def test_less_than_one_frame_is_too_short(samples):
    assert mfcc(np.ones(samples))[0].shape == (0, 20)
    with pytest.raises(TooShort):
        utterance_windows(np.ones(samples), 15)


def test_a_window_exactly_two_thirds_voiced_is_kept():
    from deepxc.demo.features import voiced_starts

    energy = np.full(30, -60.0)
    energy[:20] = 0.0  # frames 0-19 voiced: window 0-29 holds 20 of 30
    assert list(voiced_starts(energy, 30)) == [0]
    energy[19] = -60.0  # 19 of 29 is under 2/3
    assert list(voiced_starts(energy[:29], 29)) == []
