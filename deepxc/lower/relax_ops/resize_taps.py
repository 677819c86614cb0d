"""Which input pixels each output pixel of a Resize reads along one axis, and with what
weights, computed at build time in float32 as onnxruntime computes them.

Resize is separable: along each axis an output pixel is a weighted sum of a few input
pixels (one for nearest, two for linear, four for cubic). Every tap is summed, even one
of weight 0, as onnxruntime does, so a NaN or an infinity next to a sampled pixel
spreads the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

F32 = np.float32


@dataclass(frozen=True)
class AxisResize:
    size: int  # input pixels along the axis
    out: int  # output pixels
    scale: float  # the scale ONNX maps coordinates with (given, or out / size)
    coordinates: str  # coordinate_transformation_mode
    mode: str  # nearest, linear, cubic
    nearest_mode: str = "round_prefer_floor"  # or "simple" (Resize-10 and Upsample)
    cubic_coeff_a: float = -0.75
    exclude_outside: bool = False


def taps(axis: AxisResize) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Per tap: the input index of each output pixel, and its weight (None: weight 1)."""
    source = _source_coordinates(axis)
    if axis.mode == "nearest":
        return [(_nearest(axis, source), None)]
    if axis.mode == "linear":
        return _linear(axis, source)
    return _cubic(axis, source)


def _source_coordinates(axis: AxisResize) -> np.ndarray:
    x = np.arange(axis.out, dtype=F32)
    if axis.scale == 1:  # onnxruntime maps an unscaled axis to itself, in every mode
        return x
    scale, size, out = F32(axis.scale), F32(axis.size), F32(axis.out)
    half = F32(0.5)
    mode = axis.coordinates
    if mode == "half_pixel":
        return (x + half) / scale - half
    if mode == "pytorch_half_pixel":
        return (x + half) / scale - half if axis.out > 1 else np.zeros_like(x)
    if mode == "align_corners":
        return x * (size - 1) / (out - 1) if axis.out > 1 else np.zeros_like(x)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_half_pixel_for_nn":
        return (x + half) / scale
    if mode == "half_pixel_symmetric":
        adjustment = out / (scale * size)
        offset = size / 2 * (1 - adjustment)
        return offset + (x + half) / scale - half
    raise ValueError(mode)


def _nearest(axis: AxisResize, source: np.ndarray) -> np.ndarray:
    mode = axis.nearest_mode
    away = np.sign(source) * np.floor(np.abs(source) + F32(0.5))  # C's round
    if mode == "round_prefer_floor":
        index = np.where(source == np.trunc(source) + F32(0.5), np.floor(source), away)
    elif mode == "round_prefer_ceil":
        index = away
    elif mode == "floor":
        index = np.floor(source)
    elif mode == "ceil":
        index = np.ceil(source)
    elif mode == "simple":  # onnxruntime's rule for Resize-10: up rounds down, down up
        index = np.ceil(source) if axis.scale < 1 else np.trunc(source)
    else:
        raise ValueError(mode)
    return np.clip(index, 0, axis.size - 1).astype(np.int64)


def _linear(axis: AxisResize, source: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    source = np.clip(source, F32(0), F32(axis.size - 1))
    first = np.minimum(source.astype(np.int64), axis.size - 1)
    second = np.minimum(first + 1, axis.size - 1)
    to_first = np.abs(source - first.astype(F32))
    to_second = np.abs(source - second.astype(F32))
    same = first == second  # the last pixel: onnxruntime weighs it twice by a half
    to_first[same] = to_second[same] = F32(0.5)
    return [(first, to_second), (second, to_first)]


def _cubic(axis: AxisResize, source: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    a = F32(axis.cubic_coeff_a)
    base = np.floor(source)
    s = np.abs(source - base)
    one, two = F32(1), F32(2)
    coefficients = [
        ((a * (s + one) - 5 * a) * (s + one) + 8 * a) * (s + one) - 4 * a,
        ((a + two) * s - (a + 3)) * s * s + one,
        ((a + two) * (one - s) - (a + 3)) * (one - s) * (one - s) + one,
        ((a * (two - s) - 5 * a) * (two - s) + 8 * a) * (two - s) - 4 * a,
    ]
    indices = [base.astype(np.int64) + offset for offset in (-1, 0, 1, 2)]
    if axis.exclude_outside:
        coefficients = [
            np.where((index < 0) | (index >= axis.size), F32(0), c)
            for index, c in zip(indices, coefficients)
        ]
        total = sum(coefficients)
        coefficients = [c / total for c in coefficients]
    return [
        (np.clip(index, 0, axis.size - 1), c.astype(F32)) for index, c in zip(indices, coefficients)
    ]
