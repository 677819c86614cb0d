/* A stand-in for NVIDIA's libcuda.so.1 that runs no kernel: the generated CUDA runtime
 * loads it through DEEPX_CUDA_LIBRARY, so its logic (what is made at init, what a run
 * launches with what arguments, what is released) is tested where there is no GPU.
 *
 * Device memory is host memory; a module keeps its PTX, and a function knows its .entry's
 * parameter count from it, so a launch checks that every parameter is a live allocation.
 * Each launch, each copy (an asynchronous one says whether its host memory is
 * page-locked; a copy back and a synchronisation, a hash of the page-locked memory), each
 * host registration and each stream synchronisation is logged to
 * $FAKE_CUDA_LOG, in order; at exit, what is still alive. Work queued on a stream is done
 * at once (the order of the log is the order of the calls).
 * FAKE_CUDA_FAIL=NAME:CODE makes the entry point NAME return CODE. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef uintptr_t CUdeviceptr; /* as cuda.h: a pointer's width */
#define CUDA_ERROR_INVALID_VALUE 1
#define CUDA_ERROR_INVALID_CONTEXT 201
#define CUDA_ERROR_INVALID_IMAGE 200
#define CUDA_ERROR_NOT_FOUND 500

#define MAX_ALLOCATIONS 4096
#define MAX_FUNCTIONS 4096

static struct {
    char *base;
    size_t bytes;
} allocations[MAX_ALLOCATIONS];
static struct function {
    char name[256];
    int params;
} functions[MAX_FUNCTIONS];
static int allocated, live_allocations, live_modules, live_contexts, function_count;
static int context_token, stream_token;
static void *current;
static int live_streams;
static struct {
    char *base;
    size_t bytes;
} registered;

static void note(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *format, ...) {
    const char *path = getenv("FAKE_CUDA_LOG");
    FILE *file = path ? fopen(path, "a") : NULL;
    if (file == NULL) return;
    va_list args;
    va_start(args, format);
    vfprintf(file, format, args);
    va_end(args);
    fputc('\n', file);
    fclose(file);
}

static CUresult injected(const char *name) {
    const char *spec = getenv("FAKE_CUDA_FAIL");
    size_t length = strlen(name);
    if (spec && strncmp(spec, name, length) == 0 && spec[length] == ':') return atoi(spec + length + 1);
    return 0;
}

static int find(CUdeviceptr pointer, size_t bytes) {
    for (int i = 0; i < allocated; ++i) {
        char *base = allocations[i].base;
        if (base != NULL && (char *)pointer >= base && (char *)pointer + bytes <= base + allocations[i].bytes) return i;
    }
    return -1;
}

__attribute__((destructor)) static void report(void) {
    note("live streams=%d registered=%zu", live_streams, registered.bytes);
    note("exit allocations=%d modules=%d contexts=%d", live_allocations, live_modules, live_contexts);
}

CUresult cuInit(unsigned int flags) { return flags != 0 ? CUDA_ERROR_INVALID_VALUE : injected("cuInit"); }

CUresult cuDeviceGet(int *device, int ordinal) {
    *device = ordinal;
    return injected("cuDeviceGet");
}

CUresult cuCtxCreate_v2(void **context, unsigned int flags, int device) {
    (void)flags;
    (void)device;
    CUresult status = injected("cuCtxCreate_v2");
    if (status) return status;
    *context = current = &context_token;
    live_contexts += 1;
    return 0;
}

CUresult cuCtxSetCurrent(void *context) {
    current = context;
    return injected("cuCtxSetCurrent");
}

CUresult cuCtxDestroy_v2(void *context) {
    if (context != &context_token) return CUDA_ERROR_INVALID_CONTEXT;
    live_contexts -= 1;
    current = NULL;
    return 0;
}

CUresult cuModuleLoadData(void **module, const void *image) {
    CUresult status = injected("cuModuleLoadData");
    if (status) return status;
    if (!current) return CUDA_ERROR_INVALID_CONTEXT;
    if (strstr(image, ".version") == NULL || strstr(image, ".target") == NULL) return CUDA_ERROR_INVALID_IMAGE;
    *module = strdup(image);
    live_modules += 1;
    return 0;
}

CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
    CUresult status = injected("cuModuleGetFunction");
    if (status) return status;
    char pattern[300];
    snprintf(pattern, sizeof pattern, ".entry %s(", name);
    const char *entry = strstr(module, pattern);
    if (entry == NULL || function_count == MAX_FUNCTIONS) return CUDA_ERROR_NOT_FOUND;
    struct function *made = &functions[function_count++];
    snprintf(made->name, sizeof made->name, "%s", name);
    made->params = 0;
    for (const char *p = strstr(entry, ".param"); p != NULL && p < strchr(entry, ')'); p = strstr(p + 1, ".param")) {
        made->params += 1;
    }
    *function = made;
    return 0;
}

CUresult cuModuleUnload(void *module) {
    free(module);
    live_modules -= 1;
    return 0;
}

CUresult cuMemAlloc_v2(CUdeviceptr *pointer, size_t bytes) {
    CUresult status = injected("cuMemAlloc_v2");
    if (status) return status;
    if (!current) return CUDA_ERROR_INVALID_CONTEXT;
    if (allocated == MAX_ALLOCATIONS || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    allocations[allocated].base = calloc(1, bytes);
    allocations[allocated].bytes = bytes;
    *pointer = (CUdeviceptr)allocations[allocated++].base;
    live_allocations += 1;
    return 0;
}

CUresult cuMemFree_v2(CUdeviceptr pointer) {
    int i = find(pointer, 0);
    if (i < 0 || !current) return CUDA_ERROR_INVALID_VALUE;
    free(allocations[i].base);
    allocations[i].base = NULL;
    live_allocations -= 1;
    return 0;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr destination, const void *source, size_t bytes) {
    if (find(destination, bytes) < 0) return CUDA_ERROR_INVALID_VALUE;
    memcpy((void *)destination, source, bytes);
    note("htod %d %zu", find(destination, bytes), bytes);
    return injected("cuMemcpyHtoD_v2");
}

CUresult cuMemcpyDtoH_v2(void *destination, CUdeviceptr source, size_t bytes) {
    if (find(source, bytes) < 0) return CUDA_ERROR_INVALID_VALUE;
    memcpy(destination, (const void *)source, bytes);
    note("dtoh %d %zu", find(source, bytes), bytes);
    return injected("cuMemcpyDtoH_v2");
}

CUresult cuLaunchKernel(void *function, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                        unsigned int by, unsigned int bz, unsigned int shared, void *stream, void **params,
                        void **extra) {
    const struct function *f = function;
    if (!current || (stream != NULL && stream != &stream_token) || extra != NULL) return CUDA_ERROR_INVALID_VALUE;
    for (int i = 0; i < f->params; ++i) {
        if (find(*(const CUdeviceptr *)params[i], 1) < 0) return CUDA_ERROR_INVALID_VALUE;
    }
    note("launch %s %u %u %u %u %u %u %u %d", f->name, gx, gy, gz, bx, by, bz, shared, f->params);
    return injected("cuLaunchKernel");
}

/* FNV-1a of the registered host memory: the log shows whether the CPU wrote the arena
 * between two driver calls (a kernel it ran while the GPU worked). */
static unsigned long long arena_hash(void) {
    unsigned long long hash = 14695981039346656037ull;
    for (size_t i = 0; i < registered.bytes; ++i) hash = (hash ^ (unsigned char)registered.base[i]) * 1099511628211ull;
    return hash;
}

static const char *locked(const void *host, size_t bytes) {
    const char *p = host;
    return registered.base && p >= registered.base && p + bytes <= registered.base + registered.bytes ? "pinned"
                                                                                                       : "pageable";
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr destination, const void *source, size_t bytes, void *stream) {
    if (find(destination, bytes) < 0 || stream != &stream_token) return CUDA_ERROR_INVALID_VALUE;
    memcpy((void *)destination, source, bytes);
    note("htod %d %zu async %s", find(destination, bytes), bytes, locked(source, bytes));
    return injected("cuMemcpyHtoDAsync_v2");
}

CUresult cuMemcpyDtoHAsync_v2(void *destination, CUdeviceptr source, size_t bytes, void *stream) {
    if (find(source, bytes) < 0 || stream != &stream_token) return CUDA_ERROR_INVALID_VALUE;
    memcpy(destination, (const void *)source, bytes);
    note("dtoh %d %zu async %s arena=%016llx", find(source, bytes), bytes, locked(destination, bytes), arena_hash());
    return injected("cuMemcpyDtoHAsync_v2");
}

CUresult cuMemHostRegister(void *pointer, size_t bytes, unsigned int flags) {
    CUresult status = injected("cuMemHostRegister");
    if (status) return status;
    if (!current || registered.base != NULL || flags != 0) return CUDA_ERROR_INVALID_VALUE;
    registered.base = pointer;
    registered.bytes = bytes;
    note("register %zu", bytes);
    return 0;
}

CUresult cuMemHostUnregister(void *pointer) {
    if (pointer != registered.base) return CUDA_ERROR_INVALID_VALUE;
    registered.base = NULL;
    registered.bytes = 0;
    return 0;
}

CUresult cuStreamCreate(void **stream, unsigned int flags) {
    CUresult status = injected("cuStreamCreate");
    if (status) return status;
    if (!current || flags != 0 || live_streams) return CUDA_ERROR_INVALID_VALUE;
    *stream = &stream_token;
    live_streams += 1;
    return 0;
}

CUresult cuStreamSynchronize(void *stream) {
    if (stream != &stream_token || !live_streams) return CUDA_ERROR_INVALID_VALUE;
    note("sync arena=%016llx", arena_hash());
    return injected("cuStreamSynchronize");
}

CUresult cuStreamDestroy_v2(void *stream) {
    if (stream != &stream_token || !live_streams) return CUDA_ERROR_INVALID_VALUE;
    live_streams -= 1;
    return 0;
}
