"""The read-only weights blob: a header with a checksum, then each tensor 64-byte aligned."""

from __future__ import annotations

import struct

import numpy as np
import xxhash

from deepxc.emit.memory_plan import align
from deepxc.errors import BundleError

MAGIC = b"DEEPXWT1"
HEADER_BYTES = 64


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


def read_bytes(weights: dict[str, np.ndarray], reads: dict[str, int]) -> int:
    """Bytes of the blob's payload one level reads: of each weight it uses, the part its
    kernels index (`reads`; all of it where not listed), with the padding to the next
    tensor. For a bundle of one level this is the whole payload."""
    return sum(align(reads.get(name, int(np.asarray(v).nbytes))) for name, v in weights.items())


def checksum(data: bytes) -> int:
    """XXH64 (seed 0) of the payload: every byte counts, in order, so any corruption short
    of a deliberate collision is caught; several GB/s in portable C. The runtime's
    `dx_checksum` (deepxc/templates/model.c.j2) computes the same function."""
    return xxhash.xxh64_intdigest(data)
