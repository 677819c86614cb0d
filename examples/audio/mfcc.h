/* MFCC front end in plain C99, the C twin of deepxc/demo/features.py (the reference it is
 * tested against): pre-emphasis 0.97, 25 ms Hamming frames every 10 ms, 512-point FFT,
 * 40 log-mel bands (60-7600 Hz, HTK mel scale), DCT-II (orthonormal), the first 20
 * coefficients; the frame energies in dB; and the choice of the windows a model sees
 * (deepxc/demo/verification.py: utterance_windows).
 *
 * No allocation: the caller owns every buffer (sizes below). Uses sqrt, log, log10, cos
 * and sin from libm. Not thread-safe per context: one mfcc_ctx per thread. */
#ifndef MFCC_H
#define MFCC_H

#include <stddef.h>

#define MFCC_RATE 16000 /* samples per second */
#define MFCC_FRAME 400  /* samples per frame (25 ms) */
#define MFCC_HOP 160    /* samples between frame starts (10 ms) */
#define MFCC_N_FFT 512
#define MFCC_BINS (MFCC_N_FFT / 2 + 1)
#define MFCC_N_MELS 40
#define MFCC_N_MFCC 20 /* coefficients per frame, c0 included */
#define MFCC_FILTER_WEIGHTS (2 * MFCC_BINS) /* a bin lies under at most two filters */

/* Frames of a signal of n samples: 1 + (n - FRAME) / HOP, none below one frame. */
#define MFCC_FRAMES(n) ((n) < MFCC_FRAME ? 0 : 1 + ((n) - MFCC_FRAME) / MFCC_HOP)
/* Most windows of w frames mfcc_window_starts can return for f frames (hop w / 2). */
#define MFCC_MAX_WINDOWS(f, w) ((f) < (w) ? 0 : 1 + ((f) - (w)) / ((w) / 2 > 0 ? (w) / 2 : 1))

#define MFCC_ETOOSHORT (-1) /* fewer frames than one window */
#define MFCC_EARG (-2)      /* window length 0 */

/* Tables (computed once by mfcc_init) and the work buffers of one frame: about 22 KB. */
typedef struct mfcc_ctx {
    double hamming[MFCC_FRAME];
    double cos_table[MFCC_N_FFT / 2]; /* cos(2 pi k / N_FFT) */
    double sin_table[MFCC_N_FFT / 2];
    int filter_first[MFCC_N_MELS]; /* first FFT bin under filter m */
    int filter_count[MFCC_N_MELS]; /* bins under it, weights from filter_offset[m] on */
    int filter_offset[MFCC_N_MELS];
    double filter_weights[MFCC_FILTER_WEIGHTS];
    double dct[MFCC_N_MFCC][MFCC_N_MELS];
    double frame[MFCC_N_FFT]; /* the windowed frame; the FFT works in place on it */
    double power[MFCC_BINS];
} mfcc_ctx;

/* Fill the tables (in double, from the same formulas as the reference). */
void mfcc_init(mfcc_ctx *ctx);

/* MFCCs of a 16 kHz signal (samples scaled to [-1, 1): int16 / 32768, exact in float).
 * Writes MFCC_FRAMES(n) frames: coefficients[t * MFCC_N_MFCC + c] and energy_db[t] =
 * 10 log10(sum of the windowed frame squared + 1e-10). Returns the frame count. */
size_t mfcc_compute(mfcc_ctx *ctx, const float *signal, size_t n, float *coefficients,
                    double *energy_db);

/* The first frames of the windows of `window` frames a model sees: frames 0, hop, 2 hop, ...
 * (hop = window / 2) whose frames are at least 2/3 voiced (energy within 15 dB of the
 * loudest frame); every full window if none is. `starts` holds MFCC_MAX_WINDOWS(frames,
 * window). Returns the count, MFCC_ETOOSHORT or MFCC_EARG. */
int mfcc_window_starts(const double *energy_db, size_t frames, size_t window, size_t *starts);

#endif /* MFCC_H */
