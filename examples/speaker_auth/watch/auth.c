/* Speaker authentication on the watch: 16 kHz audio to accept/reject, all in C with the
 * model's bundle (deepxc build --embed-weights --threads 1). The steps follow
 * deepxc/demo/verification.py:
 *
 *   auth enroll TEMPLATE.bin A.wav [B.wav ...]   the template of the enrolling speaker
 *   auth verify TEMPLATE.bin THRESHOLD X.wav     prints score=... threshold=... accept=0|1
 *
 * An utterance's MFCCs (mfcc.c) are cut into the windows the model takes (its input size
 * / 20 frames); each window's embedding is scaled to unit length, the utterance's is their
 * unit-length mean, the template the unit-length mean of the enrollment utterances', the
 * score their dot product. Exit status: 0 done, 1 bad arguments or input, 2 model error.
 * Buffers are static: no allocation, at most MAX_SECONDS of audio. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mfcc.h"
#include "model.h"
#include "wav.h"

#define MAX_SECONDS 30
#define MAX_SAMPLES (MAX_SECONDS * MFCC_RATE)
#define MAX_FRAMES MFCC_FRAMES(MAX_SAMPLES)
#define WINDOW ((int)DEEPX_INPUT0_SIZE / MFCC_N_MFCC) /* frames per model input */
#define DIM ((int)DEEPX_OUTPUT0_SIZE)                   /* embedding length */
#define TEMPLATE_MAGIC "DXSPKTPL"                 /* then uint32 DIM, DIM doubles (native order) */

_Static_assert(DEEPX_NUM_INPUTS == 1 && DEEPX_NUM_OUTPUTS == 1, "one input, one output");
_Static_assert(DEEPX_INPUT0_SIZE % MFCC_N_MFCC == 0, "the input is whole frames of MFCCs");

static float samples[MAX_SAMPLES];
static float coefficients[MAX_FRAMES * MFCC_N_MFCC];
static double energy[MAX_FRAMES];
static size_t starts[MFCC_MAX_WINDOWS(MAX_FRAMES, WINDOW)];
static uint8_t arena[DEEPX_ARENA_BYTES] __attribute__((aligned(DEEPX_ALIGN)));
static float output[DIM];
static mfcc_ctx front_end;
static deepx_ctx model;

/* `vector` scaled to length 1 (zero stays zero), as verification.unit. */
static void unit(double *vector) {
    double norm = 0.0;
    for (int i = 0; i < DIM; ++i) norm += vector[i] * vector[i];
    norm = sqrt(norm);
    for (int i = 0; i < DIM; ++i) vector[i] /= norm > 1e-12 ? norm : 1e-12;
}

/* The unit-length mean of the unit-length window embeddings of a WAV file; 0, 1 (bad
 * input) or 2 (model error), the reason printed. */
static int utterance_embedding(const char *path, double *embedding) {
    char error[256];
    size_t n;
    if (wav_read(path, samples, MAX_SAMPLES, &n, error, sizeof error)) {
        fprintf(stderr, "auth: %s\n", error);
        return 1;
    }
    size_t frames = mfcc_compute(&front_end, samples, n, coefficients, energy);
    int windows = mfcc_window_starts(energy, frames, WINDOW, starts);
    if (windows <= 0) {
        double needed = ((WINDOW - 1) * MFCC_HOP + MFCC_FRAME) / (double)MFCC_RATE;
        fprintf(stderr, "auth: %s: %.2f s of audio is shorter than one window (%.3f s)\n", path,
                (double)n / MFCC_RATE, needed);
        return 1;
    }
    memset(embedding, 0, DIM * sizeof embedding[0]);
    for (int w = 0; w < windows; ++w) {
        const float *inputs[] = {coefficients + starts[w] * MFCC_N_MFCC};
        float *outputs[] = {output};
        int status = deepx_run(&model, inputs, outputs);
        if (status != DEEPX_OK) {
            fprintf(stderr, "auth: %s: model run failed: %s\n", path, deepx_strerror(status));
            return 2;
        }
        double window_embedding[DIM];
        for (int i = 0; i < DIM; ++i) window_embedding[i] = output[i];
        unit(window_embedding);
        for (int i = 0; i < DIM; ++i) embedding[i] += window_embedding[i] / windows;
    }
    unit(embedding);
    return 0;
}

static int enroll(const char *template_path, int count, char **wavs) {
    double template[DIM] = {0}, embedding[DIM];
    for (int k = 0; k < count; ++k) {
        int status = utterance_embedding(wavs[k], embedding);
        if (status) return status;
        for (int i = 0; i < DIM; ++i) template[i] += embedding[i] / count;
    }
    unit(template);
    FILE *file = fopen(template_path, "wb");
    uint32_t dim = (uint32_t)DIM;
    if (file == NULL || fwrite(TEMPLATE_MAGIC, 8, 1, file) != 1 ||
        fwrite(&dim, sizeof dim, 1, file) != 1 || fwrite(template, sizeof template, 1, file) != 1 ||
        fclose(file) != 0) {
        fprintf(stderr, "auth: %s: cannot write the template\n", template_path);
        return 1;
    }
    printf("enrolled %d utterances into %s\n", count, template_path);
    return 0;
}

static int read_template(const char *path, double *template) {
    char magic[8];
    uint32_t dim = 0;
    FILE *file = fopen(path, "rb");
    int ok = file != NULL && fread(magic, 8, 1, file) == 1 && !memcmp(magic, TEMPLATE_MAGIC, 8) &&
             fread(&dim, sizeof dim, 1, file) == 1;
    if (ok && dim == (uint32_t)DIM) ok = fread(template, sizeof template[0], DIM, file) == DIM;
    if (file != NULL) fclose(file);
    if (!ok) {
        fprintf(stderr, "auth: %s: not a template written by `auth enroll`\n", path);
    } else if (dim != (uint32_t)DIM) {
        fprintf(stderr, "auth: %s: a %u-value template, this model's embeddings have %d\n", path,
                (unsigned)dim, DIM);
    }
    return !ok || dim != (uint32_t)DIM;
}

static int verify(const char *template_path, const char *threshold_text, const char *wav) {
    char *end;
    double threshold = strtod(threshold_text, &end), template[DIM], embedding[DIM];
    if (end == threshold_text || *end != '\0' || !isfinite(threshold)) {
        fprintf(stderr, "auth: threshold '%s' is not a number\n", threshold_text);
        return 1;
    }
    if (read_template(template_path, template)) return 1;
    int status = utterance_embedding(wav, embedding);
    if (status) return status;
    double score = 0.0;
    for (int i = 0; i < DIM; ++i) score += template[i] * embedding[i];
    printf("score=%.6f threshold=%.6f accept=%d\n", score, threshold, score >= threshold);
    return 0;
}

int main(int argc, char **argv) {
    int enrolling = argc >= 4 && !strcmp(argv[1], "enroll");
    if (!enrolling && !(argc == 5 && !strcmp(argv[1], "verify"))) {
        fprintf(stderr, "usage: auth enroll TEMPLATE.bin A.wav [B.wav ...] | "
                        "auth verify TEMPLATE.bin THRESHOLD X.wav\n");
        return 1;
    }
    int status = deepx_init(&model, arena, sizeof arena, deepx_weights, sizeof deepx_weights);
    if (status != DEEPX_OK) {
        fprintf(stderr, "auth: model init failed: %s\n", deepx_strerror(status));
        return 2;
    }
    mfcc_init(&front_end);
    return enrolling ? enroll(argv[2], argc - 3, argv + 3) : verify(argv[2], argv[3], argv[4]);
}
