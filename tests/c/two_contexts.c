/* Two contexts, each with its own arena, run one model from two threads at once.
 *
 *   two_contexts weights.bin in_a.bin in_b.bin out_a.bin out_b.bin [runs]
 *
 * Each context first runs alone on its input (outputs written to out_*.bin for the test to
 * hold against onnxruntime); then both run `runs` times concurrently, and every concurrent
 * run must return OK with outputs bitwise equal to the lone run. Models with one input and
 * one output (float32, raw little-endian files). Exit 0 when all runs agree. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "model.h"

typedef struct {
    deepx_ctx ctx;
    void *arena;
    float input[DEEPX_INPUT0_SIZE];
    float alone[DEEPX_OUTPUT0_SIZE];
    float output[DEEPX_OUTPUT0_SIZE];
    long runs, failed, differ;
} worker;

static void *weights;
static size_t weights_size;

static int run_once(worker *w, float *output) {
    const float *inputs[] = {w->input};
    float *outputs[] = {output};
    return deepx_run(&w->ctx, inputs, outputs);
}

static void *work(void *arg) {
    worker *w = arg;
    for (long i = 0; i < w->runs; ++i) {
        if (run_once(w, w->output) != DEEPX_OK) {
            w->failed++;
        } else if (memcmp(w->output, w->alone, sizeof w->alone) != 0) {
            w->differ++;
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s weights.bin in_a in_b out_a out_b [runs]\n", argv[0]);
        return 2;
    }
    long runs = argc > 6 ? strtol(argv[6], NULL, 10) : 200;
    weights = load_file(argv[1], &weights_size, 0);
    if (weights == NULL) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 2;
    }
    static worker workers[2];
    for (int k = 0; k < 2; ++k) {
        worker *w = &workers[k];
        w->arena = aligned_alloc(DEEPX_ALIGN, DEEPX_ARENA_BYTES > 0 ? DEEPX_ARENA_BYTES : DEEPX_ALIGN);
        w->runs = runs;
        if (read_exact(argv[2 + k], w->input, sizeof w->input)) {
            fprintf(stderr, "%s: cannot read %u bytes\n", argv[2 + k], (unsigned)sizeof w->input);
            return 2;
        }
        int status = deepx_init(&w->ctx, w->arena, DEEPX_ARENA_BYTES, weights, weights_size);
        if (status != DEEPX_OK) {
            fprintf(stderr, "deepx_init: %s\n", deepx_strerror(status));
            return 2;
        }
        if ((status = run_once(w, w->alone)) != DEEPX_OK) {
            fprintf(stderr, "deepx_run alone: %s\n", deepx_strerror(status));
            return 2;
        }
        if (write_exact(argv[4 + k], w->alone, sizeof w->alone)) return 2;
    }
    pthread_t threads[2];
    for (int k = 0; k < 2; ++k) pthread_create(&threads[k], NULL, work, &workers[k]);
    for (int k = 0; k < 2; ++k) pthread_join(threads[k], NULL);
    int bad = 0;
    for (int k = 0; k < 2; ++k) {
        worker *w = &workers[k];
        printf("context %d: %ld runs, %ld failed, %ld differ\n", k, w->runs, w->failed, w->differ);
        bad |= w->failed != 0 || w->differ != 0;
        deepx_deinit(&w->ctx);
        free(w->arena);
    }
    free(weights);
    return bad;
}
