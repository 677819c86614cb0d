/* Test driver for the remote client, compiled with remote_api.h and remote_client.c rendered
 * from deepxc's templates (P = deepx, M = DEEPX).
 *
 *   remote_client_main SPEC INPUTS
 *
 * SPEC lists the partition, one tensor a line:
 *   model NAME VERSION          (VERSION "-" for none)
 *   input NAME DATATYPE NBYTES DIM...
 *   output NAME DATATYPE NBYTES DIM...
 * INPUTS holds the inputs' bytes, one after the other. The arena places every tensor between
 * guard bytes; the whole arena is allocated to its exact size, so AddressSanitizer sees any
 * access past it. Commands, one a line on stdin, each answered with one line on stdout:
 *   url URL TIMEOUT_MS  -> "configured RC"      nourl  -> "configured RC"
 *   infer               -> "result CAUSE MICROSECONDS GUARDS_OK OUTPUTS_HEX"
 *                          (GUARDS_OK: 1 when every byte outside the outputs is unchanged)
 *   close               -> "closed"
 *   counting            -> "counting": a firmware-style transport that counts connects
 *   stats               -> "stats CALLS OK FALLBACKS CAUSE0 ... CONNECTS"
 *   cause K             -> "cause NAME" */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "remote_api.h"
#include "remote_client.c"

#define MAX_TENSORS 32
#define GUARD 64

static dx_remote_tensor tensors[MAX_TENSORS];
static char names[MAX_TENSORS][64], datatypes[MAX_TENSORS][16];
static char model[64], version[16];

/* The counting transport: the POSIX functions behind a firmware-style table. */
typedef struct {
    int fd;
    unsigned long connects;
} counting_state;

static int counting_connect(void *state, const char *host, int port, int timeout_ms) {
    counting_state *counting = state;
    counting->connects += 1;
    return dx_posix_connect(&counting->fd, host, port, timeout_ms);
}
static long counting_send(void *state, const void *data, size_t n, int timeout_ms) {
    return dx_posix_send(&((counting_state *)state)->fd, data, n, timeout_ms);
}
static long counting_receive(void *state, void *buffer, size_t capacity, int timeout_ms) {
    return dx_posix_receive(&((counting_state *)state)->fd, buffer, capacity, timeout_ms);
}
static void counting_close(void *state) {
    dx_posix_close(&((counting_state *)state)->fd);
}

static int read_spec(const char *path, dx_remote_partition *partition) {
    FILE *file = fopen(path, "r");
    char kind[16];
    int count = 0, outputs_at = -1;
    if (file == NULL) {
        return 1;
    }
    while (fscanf(file, "%15s", kind) == 1) {
        if (strcmp(kind, "model") == 0) {
            if (fscanf(file, "%63s %15s", model, version) != 2) {
                return 1;
            }
            continue;
        }
        if (count == MAX_TENSORS) {
            return 1;
        }
        dx_remote_tensor *t = &tensors[count];
        if (fscanf(file, "%63s %15s %zu %d", names[count], datatypes[count], &t->nbytes,
                   &t->ndim) != 4 ||
            t->ndim > DX_REMOTE_MAX_DIMS) {
            return 1;
        }
        for (int d = 0; d < t->ndim; ++d) {
            long long dim;
            if (fscanf(file, "%lld", &dim) != 1) {
                return 1;
            }
            t->shape[d] = dim;
        }
        t->name = names[count];
        t->datatype = datatypes[count];
        if (strcmp(kind, "output") == 0 && outputs_at < 0) {
            outputs_at = count;
        }
        count += 1;
    }
    fclose(file);
    outputs_at = outputs_at < 0 ? count : outputs_at;
    partition->model = model;
    partition->version = strcmp(version, "-") == 0 ? NULL : version;
    partition->num_inputs = outputs_at;
    partition->inputs = tensors;
    partition->num_outputs = count - outputs_at;
    partition->outputs = tensors + outputs_at;
    return 0;
}

static int is_output(const dx_remote_partition *partition, size_t at) {
    for (int i = 0; i < partition->num_outputs; ++i) {
        const dx_remote_tensor *t = &partition->outputs[i];
        if (at >= t->offset && at < t->offset + t->nbytes) {
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    static deepx_remote remote; /* zeroed, as a context's init leaves it */
    static counting_state counting = {-1, 0};
    dx_remote_partition partition;
    if (argc != 3 || read_spec(argv[1], &partition) != 0) {
        fprintf(stderr, "usage: %s SPEC INPUTS (a readable spec)\n", argv[0]);
        return 2;
    }
    int count = partition.num_inputs + partition.num_outputs;
    size_t size = GUARD;
    for (int i = 0; i < count; ++i) {
        size = (size + 63) / 64 * 64;
        tensors[i].offset = size;
        size += tensors[i].nbytes + GUARD;
    }
    uint8_t *arena = malloc(size), *expected = malloc(size);
    for (size_t i = 0; i < size; ++i) {
        arena[i] = (uint8_t)(i * 131 + 7);
    }
    FILE *inputs = fopen(argv[2], "rb");
    for (int i = 0; i < partition.num_inputs; ++i) {
        size_t n = tensors[i].nbytes;
        if (inputs == NULL || fread(arena + tensors[i].offset, 1, n, inputs) != n) {
            fprintf(stderr, "short inputs file\n");
            return 2;
        }
    }
    fclose(inputs);
    memcpy(expected, arena, size);
    dx_remote_use(&remote, NULL);
    char command[16], url[512];
    while (scanf("%15s", command) == 1) {
        if (strcmp(command, "url") == 0 || strcmp(command, "nourl") == 0) {
            int timeout_ms = 0;
            int has_url = command[0] == 'u' && scanf("%511s %d", url, &timeout_ms) == 2;
            int rc = dx_remote_configure(&remote, has_url ? url : NULL, timeout_ms);
            printf("configured %d\n", rc);
        } else if (strcmp(command, "infer") == 0) {
            for (int i = 0; i < partition.num_outputs; ++i) {
                memset(arena + partition.outputs[i].offset, 0xEE, partition.outputs[i].nbytes);
            }
            struct timespec start, end;
            clock_gettime(CLOCK_MONOTONIC, &start);
            int cause = dx_remote_infer(&remote, &partition, arena);
            clock_gettime(CLOCK_MONOTONIC, &end);
            long micros =
                (end.tv_sec - start.tv_sec) * 1000000L + (end.tv_nsec - start.tv_nsec) / 1000;
            int guards_ok = 1;
            for (size_t i = 0; i < size; ++i) {
                guards_ok &= is_output(&partition, i) || arena[i] == expected[i];
            }
            printf("result %d %ld %d ", cause, micros, guards_ok);
            for (int i = 0; i < partition.num_outputs; ++i) {
                for (size_t b = 0; b < partition.outputs[i].nbytes; ++b) {
                    printf("%02x", arena[partition.outputs[i].offset + b]);
                }
            }
            printf("\n");
        } else if (strcmp(command, "close") == 0) {
            dx_remote_close(&remote);
            printf("closed\n");
        } else if (strcmp(command, "counting") == 0) {
            deepx_transport transport = {&counting, counting_connect, counting_send,
                                         counting_receive, counting_close};
            dx_remote_use(&remote, &transport);
            printf("counting\n");
        } else if (strcmp(command, "stats") == 0) {
            printf("stats %lu %lu %lu", remote.stats.remote_calls, remote.stats.remote_ok,
                   remote.stats.fallbacks);
            for (int k = 0; k < DEEPX_REMOTE_NUM_CAUSES; ++k) {
                printf(" %lu", remote.stats.causes[k]);
            }
            printf(" %lu\n", counting.connects);
        } else if (strcmp(command, "cause") == 0) {
            int k = 0;
            printf("cause %s\n", scanf("%d", &k) == 1 ? deepx_remote_cause(k) : "?");
        } else {
            printf("unknown command\n");
        }
        fflush(stdout);
    }
    dx_remote_close(&remote);
    free(arena);
    free(expected);
    return 0;
}
