"""A host bundle's model run in this process: its shared library (`shared_library`)
called through ctypes, one context per request in flight, all sharing the read-only
weights (64-byte aligned, as the runtime wants them)."""

from __future__ import annotations

import ctypes
import os

import numpy as np

from deepxc.errors import RunError
from deepxc.serve.bundle_files import boundary
from deepxc.serve.pool import SlotPool
from deepxc.serve.shared_library import build_library

ALIGN = 64


def aligned_copy(data: bytes) -> np.ndarray:
    """`data` in a 64-byte aligned, read-only buffer."""
    raw = np.empty(len(data) + ALIGN, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    buffer = raw[start : start + len(data)]
    buffer[:] = np.frombuffer(data, dtype=np.uint8)
    buffer.flags.writeable = False
    return buffer


def checked_inputs(inputs: dict, expected) -> list[np.ndarray]:
    """The request's arrays in the C API's order, as contiguous float32."""
    arrays = []
    for name, shape in expected:
        if name not in inputs:
            raise RunError(f"input {name} missing")
        array = np.ascontiguousarray(inputs[name], dtype=np.float32)
        if array.shape != shape:
            raise RunError(f"input {name}: shape {list(array.shape)}, expected {list(shape)}")
        arrays.append(array)
    return arrays


class NativePartition:
    """Thread safe: each request runs on a context of its own."""

    def __init__(self, bundle: str):
        library = ctypes.CDLL(build_library(bundle))
        library.serve_open.restype = ctypes.c_void_p
        library.serve_open.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_int),
        ]
        library.serve_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        library.serve_close.argtypes = [ctypes.c_void_p]
        library.serve_strerror.restype = ctypes.c_char_p
        library.serve_strerror.argtypes = [ctypes.c_int]
        self._library = library
        self.inputs, self.outputs = boundary(bundle)
        with open(os.path.join(bundle, "weights.bin"), "rb") as file:
            self._weights = aligned_copy(file.read())
        self._pool = SlotPool(self._open, library.serve_close)
        self._pool.prepare()

    def _open(self) -> int:
        status = ctypes.c_int(0)
        slot = self._library.serve_open(
            self._weights.ctypes.data, self._weights.nbytes, ctypes.byref(status)
        )
        if not slot:
            raise RunError(f"deepx_init failed: {self._strerror(status.value)}")
        return slot

    def _strerror(self, code: int) -> str:
        return self._library.serve_strerror(code).decode()

    @property
    def contexts(self) -> int:
        return self._pool.size

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = checked_inputs(inputs, self.inputs)
        outputs = {name: np.empty(shape, dtype=np.float32) for name, shape in self.outputs}
        in_pointers = (ctypes.c_void_p * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])
        out_pointers = (ctypes.c_void_p * max(len(outputs), 1))(
            *[a.ctypes.data for a in outputs.values()]
        )
        with self._pool.slot() as slot:
            status = self._library.serve_run(slot, in_pointers, out_pointers)
        if status != 0:
            raise RunError(f"deepx_run failed: {self._strerror(status)}")
        return outputs

    def close(self) -> None:
        """Release every context (no request may be in flight)."""
        self._pool.close()
