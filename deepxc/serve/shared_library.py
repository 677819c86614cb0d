"""A host bundle linked into a shared library: its runtime recompiled with -fPIC, its
kernel objects as they are, and a shim that owns each context's memory.

The kernels TVM compiles for the host are position independent (their code reaches data
through the GOT or PC-relative relocations; absolute ones are only in debug sections), so
they link into a shared library. The linker refusing them is `NotPositionIndependent`."""

from __future__ import annotations

import os
import tempfile

from deepxc.errors import ToolchainError
from deepxc.serve.bundle_files import compile_with_bundle, makefile_list

LIBRARY = "libdeepxc_serve.so"  # written into the (cached) host bundle's directory

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


def build_library(bundle: str) -> str:
    """The bundle's shared library (linked now unless already there); its path."""
    path = os.path.join(bundle, LIBRARY)
    if os.path.isfile(path):
        return path
    kernels = [os.path.join(bundle, name) for name in makefile_list(bundle, "KERNELS")]
    runtime = [
        os.path.join(bundle, name.removesuffix(".o") + ".c")
        for name in makefile_list(bundle, "RUNTIME")
    ]
    with tempfile.TemporaryDirectory(prefix="deepxc-serve-", dir=bundle) as work:
        shim = os.path.join(work, "serve_shim.c")
        with open(shim, "w") as file:
            file.write(SHIM)
        staged = os.path.join(work, LIBRARY)
        flags = ["-fPIC", "-shared", "-Wl,-Bsymbolic"]  # -Bsymbolic: each library its own
        try:
            compile_with_bundle(bundle, [*flags, *runtime, shim, *kernels, "-o", staged], LIBRARY)
        except ToolchainError as error:
            refused = [line for line in str(error).splitlines() if "relocation R_" in line]
            if refused:
                raise NotPositionIndependent(refused[0].strip()) from None
            raise
        os.replace(staged, path)  # another server may link the same bundle meanwhile
    return path
