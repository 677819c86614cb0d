/* A stand-in libOpenCL for tests: forwards every call the generated runtime makes to the
 * real ICD loader (libOpenCL.so.1) and counts the calls that make or free driver objects.
 * At exit it writes "name count" lines to $OPENCL_COUNTS. A bundle loads it through
 * DEEPX_OPENCL_LIBRARY. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct object *handle;
typedef int32_t cl_int;
typedef uint32_t cl_uint;
typedef uint64_t bitfield;

enum { CREATE_BUFFER, CREATE_KERNEL, CREATE_PROGRAM, CREATE_CONTEXT, CREATE_QUEUE,
       RELEASE_MEM, RELEASE_KERNEL, RELEASE_PROGRAM, RELEASE_CONTEXT, RELEASE_QUEUE,
       SET_ARG, ENQUEUE_KERNEL, WRITE, READ, MAP, UNMAP, CREATE_SUB_BUFFER, COUNTERS };
static const char *const names[COUNTERS] = {
    "clCreateBuffer", "clCreateKernel", "clCreateProgramWithSource", "clCreateContext",
    "clCreateCommandQueue", "clReleaseMemObject", "clReleaseKernel", "clReleaseProgram",
    "clReleaseContext", "clReleaseCommandQueue", "clSetKernelArg", "clEnqueueNDRangeKernel", "clEnqueueWriteBuffer",
    "clEnqueueReadBuffer", "clEnqueueMapBuffer", "clEnqueueUnmapMemObject", "clCreateSubBuffer"};
static long counts[COUNTERS];

static void *real(const char *name) {
    static void *library;
    if (library == NULL) library = dlopen("libOpenCL.so.1", RTLD_NOW | RTLD_LOCAL);
    void *symbol = library ? dlsym(library, name) : NULL;
    if (symbol == NULL) abort();
    return symbol;
}

#define FORWARD(ret, name, params, args) \
    ret name params { \
        static ret(*next) params; \
        if (next == NULL) *(void **)&next = real(#name); \
        return next args; \
    }
#define COUNTED(counter, ret, name, params, args) \
    ret name params { \
        static ret(*next) params; \
        if (next == NULL) *(void **)&next = real(#name); \
        counts[counter] += 1; \
        return next args; \
    }

FORWARD(cl_int, clGetPlatformIDs, (cl_uint n, handle *p, cl_uint *c), (n, p, c))
FORWARD(cl_int, clGetDeviceIDs, (handle p, bitfield t, cl_uint n, handle *d, cl_uint *c), (p, t, n, d, c))
COUNTED(CREATE_CONTEXT, handle, clCreateContext,
        (const intptr_t *p, cl_uint n, const handle *d, void *f, void *u, cl_int *e), (p, n, d, f, u, e))
COUNTED(CREATE_QUEUE, handle, clCreateCommandQueue, (handle c, handle d, bitfield p, cl_int *e), (c, d, p, e))
COUNTED(CREATE_PROGRAM, handle, clCreateProgramWithSource,
        (handle c, cl_uint n, const char **s, const size_t *l, cl_int *e), (c, n, s, l, e))
FORWARD(cl_int, clBuildProgram, (handle p, cl_uint n, const handle *d, const char *o, void *f, void *u),
        (p, n, d, o, f, u))
COUNTED(CREATE_KERNEL, handle, clCreateKernel, (handle p, const char *n, cl_int *e), (p, n, e))
COUNTED(CREATE_BUFFER, handle, clCreateBuffer, (handle c, bitfield f, size_t s, void *h, cl_int *e),
        (c, f, s, h, e))
FORWARD(cl_int, clGetDeviceInfo, (handle d, cl_uint p, size_t s, void *v, size_t *r), (d, p, s, v, r))
COUNTED(CREATE_SUB_BUFFER, handle, clCreateSubBuffer, (handle b, bitfield f, cl_uint t, const void *i, cl_int *e),
        (b, f, t, i, e))
COUNTED(SET_ARG, cl_int, clSetKernelArg, (handle k, cl_uint i, size_t s, const void *v), (k, i, s, v))
COUNTED(WRITE, cl_int, clEnqueueWriteBuffer,
        (handle q, handle b, cl_uint k, size_t o, size_t s, const void *p, cl_uint n, const void *w, void *e),
        (q, b, k, o, s, p, n, w, e))
COUNTED(READ, cl_int, clEnqueueReadBuffer,
        (handle q, handle b, cl_uint k, size_t o, size_t s, void *p, cl_uint n, const void *w, void *e),
        (q, b, k, o, s, p, n, w, e))
COUNTED(ENQUEUE_KERNEL, cl_int, clEnqueueNDRangeKernel,
        (handle q, handle k, cl_uint d, const size_t *o, const size_t *g, const size_t *l, cl_uint n,
         const void *w, void *e),
        (q, k, d, o, g, l, n, w, e))
COUNTED(MAP, void *, clEnqueueMapBuffer,
        (handle q, handle b, cl_uint k, bitfield m, size_t o, size_t s, cl_uint n, const void *w, void *e,
         cl_int *r),
        (q, b, k, m, o, s, n, w, e, r))
COUNTED(UNMAP, cl_int, clEnqueueUnmapMemObject, (handle q, handle b, void *p, cl_uint n, const void *w, void *e),
        (q, b, p, n, w, e))
FORWARD(cl_int, clFlush, (handle q), (q))
FORWARD(cl_int, clFinish, (handle q), (q))
COUNTED(RELEASE_MEM, cl_int, clReleaseMemObject, (handle m), (m))
COUNTED(RELEASE_KERNEL, cl_int, clReleaseKernel, (handle k), (k))
COUNTED(RELEASE_PROGRAM, cl_int, clReleaseProgram, (handle p), (p))
COUNTED(RELEASE_QUEUE, cl_int, clReleaseCommandQueue, (handle q), (q))
COUNTED(RELEASE_CONTEXT, cl_int, clReleaseContext, (handle c), (c))

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("OPENCL_COUNTS");
    FILE *file = path ? fopen(path, "w") : NULL;
    if (file == NULL) return;
    for (int i = 0; i < COUNTERS; ++i) fprintf(file, "%s %ld\n", names[i], counts[i]);
    fclose(file);
}
