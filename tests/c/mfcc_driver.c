/* examples/audio/mfcc.c on a signal from a file, for the test to hold against numpy:
 *
 *   mfcc_driver signal.f32 window out.bin
 *
 * signal.f32: raw float32 samples. out.bin: int32 frames, int32 window count (or a negative
 * MFCC_E* code), float32 coefficients [frames, 20], float64 energies [frames], int32 starts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mfcc.h"

#define MAX_SAMPLES (10 * MFCC_RATE)

static float signal[MAX_SAMPLES];
static float coefficients[MFCC_FRAMES(MAX_SAMPLES) * MFCC_N_MFCC];
static double energy[MFCC_FRAMES(MAX_SAMPLES)];
static size_t starts[MFCC_FRAMES(MAX_SAMPLES)];
static mfcc_ctx ctx;

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL) return 2;
    size_t n = fread(signal, sizeof signal[0], MAX_SAMPLES, in);
    fclose(in);
    mfcc_init(&ctx);
    int32_t frames = (int32_t)mfcc_compute(&ctx, signal, n, coefficients, energy);
    int32_t count = mfcc_window_starts(energy, (size_t)frames, strtoul(argv[2], NULL, 10), starts);
    FILE *out = fopen(argv[3], "wb");
    if (out == NULL) return 2;
    fwrite(&frames, sizeof frames, 1, out);
    fwrite(&count, sizeof count, 1, out);
    fwrite(coefficients, sizeof coefficients[0], (size_t)frames * MFCC_N_MFCC, out);
    fwrite(energy, sizeof energy[0], (size_t)frames, out);
    for (int32_t i = 0; i < count; ++i) {
        int32_t start = (int32_t)starts[i];
        fwrite(&start, sizeof start, 1, out);
    }
    return fclose(out) == 0 ? 0 : 2;
}
