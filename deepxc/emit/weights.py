"""The read-only weights blob: a header with a checksum, then each tensor 64-byte aligned."""

from __future__ import annotations

import struct

import numpy as np

from deepxc.emit.memory_plan import align

MAGIC = b"DEEPXWT1"
HEADER_BYTES = 64
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


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
