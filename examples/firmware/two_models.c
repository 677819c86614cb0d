/* Two models in one firmware program, as on a watch that runs an image classifier and a
 * speaker identifier: two bundles built with `--name cnn` and `--name spk` link side by
 * side (every external name of a bundle carries its prefix), each with its own context,
 * arena and embedded weights. No file system, no malloc, no stdio: the exit status is the
 * verdict (0 both match, 1 cnn mismatch, 2 spk mismatch, 3 init failed, 4 run failed). */
#include <math.h>
#include <stdint.h>

#include "cnn/model.h"
#include "spk/model.h"
#include "examples.h" /* cnn_input[], cnn_expected[], spk_input[], spk_expected[] */

static uint8_t cnn_arena[CNN_ARENA_BYTES] __attribute__((aligned(CNN_ALIGN)));
static uint8_t spk_arena[SPK_ARENA_BYTES] __attribute__((aligned(SPK_ALIGN)));
static float cnn_output[CNN_OUTPUT0_SIZE];
static float spk_output[SPK_OUTPUT0_SIZE];

static int matches(const float *got, const float *want, unsigned count) {
    float scale = 0.0f;
    for (unsigned i = 0; i < count; ++i) scale = fmaxf(scale, fabsf(want[i]));
    for (unsigned i = 0; i < count; ++i) {
        if (fabsf(got[i] - want[i]) > 1e-4f * scale) return 0;
    }
    return 1;
}

int main(void) {
    cnn_ctx cnn;
    spk_ctx spk;
    if (cnn_init(&cnn, cnn_arena, sizeof cnn_arena, cnn_weights, sizeof cnn_weights) != CNN_OK) return 3;
    if (spk_init(&spk, spk_arena, sizeof spk_arena, spk_weights, sizeof spk_weights) != SPK_OK) return 3;
    const float *cnn_inputs[] = {cnn_input};
    const float *spk_inputs[] = {spk_input};
    float *cnn_outputs[] = {cnn_output};
    float *spk_outputs[] = {spk_output};
    for (int round = 0; round < 3; ++round) { /* interleaved, as a watch would run them */
        if (cnn_run(&cnn, cnn_inputs, cnn_outputs) != CNN_OK) return 4;
        if (spk_run(&spk, spk_inputs, spk_outputs) != SPK_OK) return 4;
    }
    int verdict = !matches(cnn_output, cnn_expected, CNN_OUTPUT0_SIZE) ? 1
                  : !matches(spk_output, spk_expected, SPK_OUTPUT0_SIZE) ? 2
                                                                          : 0;
    cnn_deinit(&cnn);
    spk_deinit(&spk);
    return verdict;
}
