"""The read-only weights blob: a header with a checksum, then each tensor 64-byte aligned."""

from __future__ import annotations

import struct

import numpy as np

from deepxc.emit.memory_plan import align
from deepxc.errors import BundleError

MAGIC = b"DEEPXWT1"
HEADER_BYTES = 64
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def merge_weights(levels: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One dict of the weights of every level, each name once.

    Levels share the blob: a weight with the same name in two levels (an unfactored layer,
    a factor stored once for several ranks) is one array and is stored once. So a name
    must mean the same array in every level that has it."""
    merged: dict[str, np.ndarray] = {}
    first_level: dict[str, int] = {}
    for level, weights in enumerate(levels):
        for name, value in weights.items():
            if name not in merged:
                merged[name] = value
                first_level[name] = level
            elif not _same_array(merged[name], value):
                raise BundleError(
                    f"weight '{name}': level {level} holds a different array than level "
                    f"{first_level[name]} under the same name (levels share weights by name)"
                )
    return merged


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a is b or (a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b))


def pack_weights(weights: dict[str, np.ndarray]) -> tuple[bytes, dict[str, int]]:
    """Return the blob and each tensor's byte offset from the start of the blob."""
    offsets: dict[str, int] = {}
    chunks: list[bytes] = []
    size = HEADER_BYTES
    for name, value in weights.items():
        offsets[name] = size
        data = np.ascontiguousarray(value).tobytes()
        padded = align(len(data))
        chunks.append(data + bytes(padded - len(data)))
        size += padded
    payload = b"".join(chunks)
    header = MAGIC + struct.pack("<QQ", len(payload), checksum(payload))
    return header + bytes(HEADER_BYTES - len(header)) + payload, offsets


def checksum(data: bytes) -> int:
    """FNV-1a (64-bit) over 64-bit little-endian words: fast in C, cheap to verify."""
    words = np.frombuffer(data, dtype="<u8")
    value = FNV_OFFSET
    for word in _fold_blocks(words):
        value = ((value ^ int(word)) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return value


def _fold_blocks(words: np.ndarray) -> np.ndarray:
    """XOR-fold words in blocks of 64 so the Python loop stays short for big models."""
    block = 64
    count = len(words) // block * block
    folded = np.bitwise_xor.reduce(words[:count].reshape(-1, block), axis=1) if count else []
    return np.concatenate([np.asarray(folded, dtype="<u8"), words[count:]])
