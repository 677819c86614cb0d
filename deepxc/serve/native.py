"""A host bundle run in process: its runtime and kernel objects linked into a shared
library with a small shim that owns each context's memory, called through ctypes.

The kernels TVM compiles for the host are position independent (their code refers to
data through the GOT or PC-relative), so the bundle's own kernel objects link into a
shared library as they are; the runtime is recompiled with -fPIC. If a toolchain ever
gives objects that cannot be linked so, `load_partition` says so and falls back to the
bundle's test driver, one process per request (`DriverPartition`).

Several requests at once: one context per request in flight, from a pool that grows to
the number of requests served at the same time. Contexts share the read-only weights."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable

import numpy as np

from deepxc.errors import RunError, ToolchainError, first_line

Log = Callable[[str], None]
LIBRARY = "libdeepxc_serve.so"  # written into the (cached) host bundle's directory
ALIGN = 64

SHIM = r"""/* deepxc serve: one context and its arena per slot, 64-byte aligned. */
#include <stdlib.h>
#include "model.h"

typedef struct {
    deepx_ctx ctx;
    void *arena;
} serve_slot;

static size_t serve_round(size_t bytes) { return (bytes + 63u) & ~(size_t)63u; }

void *serve_open(const void *weights, size_t weights_bytes, int *status) {
    serve_slot *slot = aligned_alloc(64, serve_round(sizeof(serve_slot)));
    if (slot == NULL) {
        *status = -1;
        return NULL;
    }
    slot->arena = aligned_alloc(64, serve_round(DEEPX_ARENA_BYTES > 0 ? DEEPX_ARENA_BYTES : 1));
    if (slot->arena == NULL) {
        free(slot);
        *status = -1;
        return NULL;
    }
    *status = deepx_init(&slot->ctx, slot->arena, DEEPX_ARENA_BYTES, weights, weights_bytes);
    if (*status != DEEPX_OK) {
        free(slot->arena);
        free(slot);
        return NULL;
    }
    return slot;
}

int serve_run(void *slot, const float *const *inputs, float *const *outputs) {
    return deepx_run(&((serve_slot *)slot)->ctx, inputs, outputs);
}

void serve_close(void *slot) {
    serve_slot *s = slot;
    deepx_deinit(&s->ctx);
    free(s->arena);
    free(s);
}

const char *serve_strerror(int code) { return code < 0 ? "out of memory" : deepx_strerror(code); }
"""


class NotPositionIndependent(Exception):
    """The bundle's kernel objects cannot be linked into a shared library."""


def _makefile_list(bundle: str, variable: str) -> list[str]:
    with open(os.path.join(bundle, "Makefile")) as file:
        for line in file:
            name, equals, value = line.partition("=")
            if equals and name.strip() == variable and not line[:1].isspace():
                return value.split()
    return []


def build_library(bundle: str) -> str:
    """Link the bundle's runtime (recompiled -fPIC), its kernel objects and the shim
    into a shared library in `bundle`; returns its path (kept if already there)."""
    path = os.path.join(bundle, LIBRARY)
    if os.path.isfile(path):
        return path
    with open(os.path.join(bundle, "manifest.json")) as file:
        toolchain = json.load(file)["toolchain"]
    kernels = [os.path.join(bundle, o) for o in _makefile_list(bundle, "KERNELS")]
    runtime = [
        os.path.join(bundle, o[: -len(".o")] + ".c") for o in _makefile_list(bundle, "RUNTIME")
    ]
    libs = _makefile_list(bundle, "LIBS")
    with tempfile.TemporaryDirectory(prefix="deepxc-serve-", dir=bundle) as work:
        shim = os.path.join(work, "serve_shim.c")
        with open(shim, "w") as file:
            file.write(SHIM)
        staged = os.path.join(work, LIBRARY)
        command = [
            toolchain["cc"],
            *toolchain["cflags"],
            "-fPIC",
            "-shared",
            "-Wl,-Bsymbolic",  # two partitions' libraries never bind each other's deepx_run
            f"-I{bundle}",
            *runtime,
            shim,
            *kernels,
            *toolchain.get("ldflags", []),
            *libs,
            "-o",
            staged,
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            if "recompile with -fPIC" in result.stderr or "relocation R_" in result.stderr:
                raise NotPositionIndependent(first_line(result.stderr))
            raise ToolchainError(f"{bundle}: linking the serving library failed: {result.stderr}")
        os.replace(staged, path)
    return path


def _aligned(data: bytes) -> np.ndarray:
    """`data` copied into a 64-byte aligned, read-only buffer."""
    raw = np.empty(len(data) + ALIGN, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    buffer = raw[start : start + len(data)]
    buffer[:] = np.frombuffer(data, dtype=np.uint8)
    buffer.flags.writeable = False
    return buffer


class NativePartition:
    """A host bundle's model, run in this process (thread safe)."""

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
        with open(os.path.join(bundle, "manifest.json")) as file:
            manifest = json.load(file)
        self.inputs = [(t["name"], tuple(t["shape"])) for t in manifest["inputs"]]
        self.outputs = [(t["name"], tuple(t["shape"])) for t in manifest["outputs"]]
        with open(os.path.join(bundle, "weights.bin"), "rb") as file:
            self._weights = _aligned(file.read())
        self._free: list[int] = []
        self._all: list[int] = []
        self._lock = threading.Lock()
        self._release(self._open())  # a broken blob fails at start, not at the first request

    def _open(self) -> int:
        status = ctypes.c_int(0)
        slot = self._library.serve_open(
            self._weights.ctypes.data, self._weights.nbytes, ctypes.byref(status)
        )
        if not slot:
            raise RunError(f"deepx_init failed: {self._strerror(status.value)}")
        with self._lock:
            self._all.append(slot)
        return slot

    def _acquire(self) -> int:
        with self._lock:
            if self._free:
                return self._free.pop()
        return self._open()

    def _release(self, slot: int) -> None:
        with self._lock:
            self._free.append(slot)

    def _strerror(self, code: int) -> str:
        return self._library.serve_strerror(code).decode()

    @property
    def contexts(self) -> int:
        return len(self._all)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = [_checked(inputs, name, shape) for name, shape in self.inputs]
        outputs = {name: np.empty(shape, dtype=np.float32) for name, shape in self.outputs}
        in_pointers = (ctypes.c_void_p * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])
        out_pointers = (ctypes.c_void_p * max(len(outputs), 1))(
            *[a.ctypes.data for a in outputs.values()]
        )
        slot = self._acquire()
        try:
            status = self._library.serve_run(slot, in_pointers, out_pointers)
        finally:
            self._release(slot)
        if status != 0:
            raise RunError(f"deepx_run failed: {self._strerror(status)}")
        return outputs

    def close(self) -> None:
        """Release every context (no request may be in flight)."""
        with self._lock:
            for slot in self._all:
                self._library.serve_close(slot)
            self._all.clear()
            self._free.clear()


class DriverPartition:
    """A host bundle's model run by its test driver, one process per request: the
    fallback where the kernels cannot be linked into a shared library."""

    def __init__(self, bundle: str):
        from deepxc.emit.bundle import read_manifest

        self._bundle = bundle
        manifest = read_manifest(bundle)
        self.inputs = [(t["name"], tuple(t["shape"])) for t in manifest["inputs"]]
        self.outputs = [(t["name"], tuple(t["shape"])) for t in manifest["outputs"]]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from deepxc.runner import run_bundle

        arrays = {name: _checked(inputs, name, shape) for name, shape in self.inputs}
        return run_bundle(self._bundle, arrays)[0]

    def close(self) -> None:
        pass


def _checked(inputs: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in inputs:
        raise RunError(f"input {name} missing")
    array = np.ascontiguousarray(inputs[name], dtype=np.float32)
    if array.shape != shape:
        raise RunError(f"input {name}: shape {list(array.shape)}, expected {list(shape)}")
    return array


def load_partition(bundle: str, log: Log) -> NativePartition | DriverPartition:
    """The host bundle's model in process, or through its driver where its kernel objects
    are not position independent (said on `log`)."""
    try:
        return NativePartition(bundle)
    except NotPositionIndependent as reason:
        log(
            f"{bundle}: the kernel objects are not position independent ({reason}): "
            "running the bundle's driver, one process per request"
        )
        return DriverPartition(bundle)
