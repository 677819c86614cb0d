"""The speakers model's input: WINDOW = 15 consecutive MFCC frames of the shared audio
front end (`deepxc.demo.features`), flattened frame by frame: feature t * N_MFCC + c is
coefficient c of frame t.
"""

from __future__ import annotations

import numpy as np

from deepxc.demo.features import HOP, N_MFCC, RATE, mfcc, window_at
from deepxc.demo.features import voiced_starts as _voiced_starts

__all__ = ["FEATURES", "HOP", "N_MFCC", "RATE", "WINDOW", "mfcc", "voiced_starts", "window"]

WINDOW = 15
FEATURES = N_MFCC * WINDOW


def voiced_starts(energy: np.ndarray) -> np.ndarray:
    """First frames of the windows whose frames are mostly (at least 2/3) speech."""
    return _voiced_starts(energy, WINDOW)


def window(coefficients: np.ndarray, start: int) -> np.ndarray:
    """The model input [FEATURES] for the WINDOW frames from `start`."""
    return window_at(coefficients, start, WINDOW)
