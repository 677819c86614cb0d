/* A bare firmware-style program: links libmodel.a (runtime + kernels + embedded weights),
 * runs one inference on an input held in a C array and checks the result against the
 * expected output. No file system, no malloc, no stdio: the exit status is the verdict
 * (0 match, 1 mismatch, 2 init failed, 3 run failed). */
#include <math.h>
#include <stdint.h>

#include "expected.h" /* example_expected[], from onnxruntime on the build machine */
#include "input.h"    /* example_input[] */
#include "model.h"

static uint8_t arena[DEEPX_ARENA_BYTES] __attribute__((aligned(DEEPX_ALIGN)));
static float output[DEEPX_OUTPUT0_SIZE];

int main(void) {
    deepx_ctx ctx;
    if (deepx_init(&ctx, arena, sizeof arena, deepx_weights, sizeof deepx_weights) != DEEPX_OK) return 2;
    const float *inputs[] = {example_input};
    float *outputs[] = {output};
    if (deepx_run(&ctx, inputs, outputs) != DEEPX_OK) return 3;
    float scale = 0.0f;
    for (unsigned i = 0; i < DEEPX_OUTPUT0_SIZE; ++i) scale = fmaxf(scale, fabsf(example_expected[i]));
    for (unsigned i = 0; i < DEEPX_OUTPUT0_SIZE; ++i) {
        if (fabsf(output[i] - example_expected[i]) > 1e-4f * scale) return 1;
    }
    return 0;
}
