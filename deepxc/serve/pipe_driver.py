"""A host bundle's model in driver processes that stay up: a small C program linked with
the bundle's libmodel.a (no position independence needed) reads each request's inputs
from stdin and writes a status and the outputs to stdout. The fallback where the kernels
cannot be linked into a shared library; one process per request in flight."""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile

import numpy as np

from deepxc.errors import RunError
from deepxc.serve.bundle_files import boundary, compile_with_bundle
from deepxc.serve.native import checked_inputs
from deepxc.serve.pool import BrokenSlot, SlotPool

PROGRAM = "deepxc_serve_driver"  # written into the (cached) host bundle's directory

SOURCE = r"""/* deepxc serve: the model behind stdin and stdout. At start: the deepx_init status
 * (int32). Then per request: the inputs' raw floats in, the deepx_run status (int32) and,
 * when 0, the outputs' raw floats out. End of input ends the program. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "model.h"

static const size_t input_sizes[] = {INPUT_SIZES};
static const size_t output_sizes[] = {OUTPUT_SIZES};
#define NUM_IN (sizeof input_sizes / sizeof input_sizes[0])
#define NUM_OUT (sizeof output_sizes / sizeof output_sizes[0])

static void *aligned(size_t bytes) { return aligned_alloc(64, (bytes + 127u) & ~(size_t)63u); }

static int reply(int32_t status) {
    return fwrite(&status, sizeof status, 1, stdout) == 1;
}

int main(int argc, char **argv) {
    static deepx_ctx ctx;
    FILE *file = argc == 2 ? fopen(argv[1], "rb") : NULL;
    if (file == NULL || fseek(file, 0, SEEK_END) != 0) return 2;
    long length = ftell(file);
    void *weights = length > 0 ? aligned((size_t)length) : NULL;
    if (weights == NULL || fseek(file, 0, SEEK_SET) != 0 ||
        fread(weights, 1, (size_t)length, file) != (size_t)length) return 2;
    fclose(file);
    void *arena = aligned(DEEPX_ARENA_BYTES);
    float *inputs[NUM_IN], *outputs[NUM_OUT];
    for (size_t i = 0; i < NUM_IN; i++) inputs[i] = aligned(input_sizes[i] * sizeof(float));
    for (size_t i = 0; i < NUM_OUT; i++) outputs[i] = aligned(output_sizes[i] * sizeof(float));
    int status = deepx_init(&ctx, arena, DEEPX_ARENA_BYTES, weights, (size_t)length);
    if (!reply(status) || fflush(stdout) != 0 || status != DEEPX_OK) return 1;
    for (;;) {
        for (size_t i = 0; i < NUM_IN; i++)
            if (fread(inputs[i], sizeof(float), input_sizes[i], stdin) != input_sizes[i]) return 0;
        status = deepx_run(&ctx, (const float *const *)inputs, outputs);
        if (!reply(status)) return 1;
        for (size_t i = 0; status == DEEPX_OK && i < NUM_OUT; i++)
            if (fwrite(outputs[i], sizeof(float), output_sizes[i], stdout) != output_sizes[i])
                return 1;
        if (fflush(stdout) != 0) return 1;
    }
}
"""


def _sizes(tensors) -> str:
    return ", ".join(str(int(np.prod(shape, dtype=np.int64))) for _, shape in tensors)


def build_program(bundle: str) -> str:
    """The bundle's driver program (linked now unless already there); its path."""
    path = os.path.join(bundle, PROGRAM)
    if os.path.isfile(path):
        return path
    inputs, outputs = boundary(bundle)
    source = SOURCE.replace("INPUT_SIZES", _sizes(inputs)).replace("OUTPUT_SIZES", _sizes(outputs))
    with tempfile.TemporaryDirectory(prefix="deepxc-serve-", dir=bundle) as work:
        source_path = os.path.join(work, "serve_driver.c")
        with open(source_path, "w") as file:
            file.write(source)
        staged = os.path.join(work, PROGRAM)
        library = os.path.join(bundle, "libmodel.a")
        compile_with_bundle(bundle, [source_path, library, "-o", staged], PROGRAM)
        os.replace(staged, path)
    return path


class PipePartition:
    """Thread safe: each request goes to a driver process of its own."""

    def __init__(self, bundle: str):
        self._command = [build_program(bundle), os.path.join(bundle, "weights.bin")]
        self.inputs, self.outputs = boundary(bundle)
        self._pool = SlotPool(self._start, self._stop)
        self._pool.prepare()

    def _start(self) -> subprocess.Popen:
        process = subprocess.Popen(self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        status = process.stdout.read(4)
        if len(status) != 4 or struct.unpack("<i", status)[0] != 0:
            self._stop(process)
            raise RunError(f"{self._command[0]}: deepx_init failed")
        return process

    @staticmethod
    def _stop(process: subprocess.Popen) -> None:
        process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()

    @property
    def contexts(self) -> int:
        return self._pool.size

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = checked_inputs(inputs, self.inputs)
        with self._pool.slot() as process:
            try:
                for array in arrays:
                    process.stdin.write(array.tobytes())
                process.stdin.flush()
                status = struct.unpack("<i", _read(process, 4))[0]
                if status != 0:
                    raise RunError(f"deepx_run failed with status {status}")
                return {
                    name: np.frombuffer(_read(process, 4 * int(np.prod(shape))), "<f4")
                    .reshape(shape)
                    .copy()
                    for name, shape in self.outputs
                }
            except (OSError, EOFError) as exc:
                raise BrokenSlot(f"{self._command[0]}: the driver process failed ({exc})") from None

    def close(self) -> None:
        self._pool.close()


def _read(process: subprocess.Popen, count: int) -> bytes:
    data = process.stdout.read(count)
    if len(data) != count:
        raise EOFError(f"exit status {process.poll()}")
    return data
