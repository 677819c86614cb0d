/* The argument checks of deepx_init and deepx_run: every bad argument gets its own code,
 * and a context that failed init refuses to run.
 *
 *   init_checks weights.bin
 *
 * Prints one line per failed check; exit 0 when all pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "model.h"

static int failures;

static void expect(const char *what, int got, int want) {
    if (got != want) {
        printf("%s: got %d (%s), want %d (%s)\n", what, got, deepx_strerror(got), want, deepx_strerror(want));
        failures++;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    size_t size;
    /* one spare aligned block after the blob, to offer a misaligned copy */
    uint8_t *weights = load_file(argv[1], &size, DEEPX_ALIGN);
    if (weights == NULL) return 2;
    size_t arena_size = DEEPX_ARENA_BYTES + DEEPX_ALIGN;
    uint8_t *arena = aligned_alloc(DEEPX_ALIGN, arena_size);
    static float input[DEEPX_INPUT0_SIZE], output[DEEPX_OUTPUT0_SIZE];
    const float *inputs[] = {input};
    float *outputs[] = {output};
    const float *no_input[] = {NULL};
    deepx_ctx ctx;

    expect("NULL context", deepx_init(NULL, arena, arena_size, weights, size), DEEPX_EARG);
    expect("NULL arena", deepx_init(&ctx, NULL, arena_size, weights, size), DEEPX_EARENA);
    expect("run after failed init", deepx_run(&ctx, inputs, outputs), DEEPX_EINIT);
    expect("arena too small", deepx_init(&ctx, arena, DEEPX_ARENA_BYTES - 1, weights, size),
           DEEPX_ARENA_BYTES > 0 ? DEEPX_EARENA : DEEPX_OK);
    expect("NULL weights", deepx_init(&ctx, arena, arena_size, NULL, size), DEEPX_EBADWEIGHTS);
    expect("weights too short", deepx_init(&ctx, arena, arena_size, weights, size - 1), DEEPX_EBADWEIGHTS);
    expect("weights: header only", deepx_init(&ctx, arena, arena_size, weights, 64), DEEPX_EBADWEIGHTS);
    expect("weights: nothing", deepx_init(&ctx, arena, arena_size, weights, 0), DEEPX_EBADWEIGHTS);
    expect("misaligned arena", deepx_init(&ctx, arena + 8, DEEPX_ARENA_BYTES, weights, size), DEEPX_EALIGN);
    memmove(weights + 16, weights, size);
    expect("misaligned weights", deepx_init(&ctx, arena, arena_size, weights + 16, size), DEEPX_EALIGN);
    memmove(weights, weights + 16, size);
    expect("run after failed init", deepx_run(&ctx, inputs, outputs), DEEPX_EINIT);

    expect("good init", deepx_init(&ctx, arena, arena_size, weights, size), DEEPX_OK);
    expect("NULL inputs", deepx_run(&ctx, NULL, outputs), DEEPX_EARG);
    expect("NULL outputs", deepx_run(&ctx, inputs, NULL), DEEPX_EARG);
    expect("NULL input array", deepx_run(&ctx, no_input, outputs), DEEPX_EARG);
    expect("run NULL context", deepx_run(NULL, inputs, outputs), DEEPX_EARG);
    expect("level out of range", deepx_set_level(&ctx, DEEPX_NUM_LEVELS), DEEPX_ELEVEL);
    expect("threads out of range", deepx_set_threads(&ctx, DEEPX_MAX_THREADS + 1), DEEPX_ETHREADS);
    expect("good run", deepx_run(&ctx, inputs, outputs), DEEPX_OK);
    deepx_deinit(&ctx);
    expect("run after deinit", deepx_run(&ctx, inputs, outputs), DEEPX_EINIT);
    expect("init again", deepx_init(&ctx, arena, arena_size, weights, size), DEEPX_OK);
    expect("run again", deepx_run(&ctx, inputs, outputs), DEEPX_OK);
    deepx_deinit(&ctx);
    free(arena);
    free(weights);
    return failures != 0;
}
