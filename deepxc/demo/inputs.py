"""What a visitor uploads, decoded into model inputs: images (PNG/JPEG -> grayscale, the
task's size, [0, 1]) and WAV audio (any rate -> 16 kHz mono)."""

from __future__ import annotations

import io
from math import gcd

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from deepxc.demo.features import RATE
from deepxc.errors import DeepxcError, first_line

MAX_AUDIO_SECONDS = 30.0
MIN_AUDIO_SECONDS = 0.1
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG


class InputError(DeepxcError):
    """An uploaded file the demo cannot use."""


def decode_image(data: bytes, size: tuple[int, int], name: str = "upload") -> np.ndarray:
    """A PNG or JPEG as [H, W] float32 in [0, 1] (grayscale, resized to `size`)."""
    if not data:
        raise InputError(f"{name}: the file is empty (0 bytes)")
    if not data.startswith(IMAGE_SIGNATURES):
        raise InputError(f"{name}: not a PNG or JPEG image")
    try:
        return _read_image(data, size)
    except Exception as error:  # a truncated or corrupt file: the decoder's one line
        raise InputError(f"{name}: cannot decode the image ({first_line(error)})") from None


def _read_image(data: bytes, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    try:
        from PIL import Image
    except ImportError:  # matplotlib (a dependency) reads PNG and, with Pillow, JPEG
        import matplotlib.image
        from scipy.ndimage import zoom

        pixels = np.asarray(matplotlib.image.imread(io.BytesIO(data)), dtype=np.float64)
        if pixels.max() > 1.0:
            pixels = pixels / 255.0
        if pixels.ndim == 3:
            pixels = pixels[..., :3].mean(axis=2)
        scaled = zoom(pixels, (height / pixels.shape[0], width / pixels.shape[1]), order=1)
        return np.clip(scaled, 0.0, 1.0).astype(np.float32)
    with Image.open(io.BytesIO(data)) as image:
        gray = image.convert("L").resize((width, height), Image.Resampling.BILINEAR)
        return (np.asarray(gray, dtype=np.float32) / 255.0).astype(np.float32)


def decode_wav(data: bytes, name: str = "upload") -> np.ndarray:
    """A WAV file as float64 samples at 16 kHz, mono (channels averaged)."""
    if not data:
        raise InputError(f"{name}: the file is empty (0 bytes)")
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise InputError(f"{name}: not a WAV file (expected RIFF/WAVE audio)")
    try:
        rate, samples = wavfile.read(io.BytesIO(data))
    except Exception as error:
        raise InputError(f"{name}: cannot read the WAV file ({first_line(error)})") from None
    signal = _as_float(samples)
    if signal.ndim == 2:
        signal = signal.mean(axis=1)
    seconds = len(signal) / rate if rate else 0.0
    if seconds < MIN_AUDIO_SECONDS:
        raise InputError(f"{name}: {seconds:.2f} s of audio is too short to recognise")
    if seconds > MAX_AUDIO_SECONDS:
        raise InputError(
            f"{name}: {seconds:.1f} s of audio is longer than the {MAX_AUDIO_SECONDS:.0f} s allowed"
        )
    if rate != RATE:
        common = gcd(int(rate), RATE)
        signal = resample_poly(signal, RATE // common, int(rate) // common)
    return signal


def _as_float(samples: np.ndarray) -> np.ndarray:
    """PCM of any width as float64 in [-1, 1]."""
    if samples.dtype == np.uint8:
        return (samples.astype(np.float64) - 128.0) / 128.0
    if np.issubdtype(samples.dtype, np.integer):
        return samples.astype(np.float64) / float(-np.iinfo(samples.dtype).min)
    return samples.astype(np.float64)
