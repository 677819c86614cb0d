/* MFCC front end: see mfcc.h. Everything is computed in double and only the coefficients
 * are rounded to float, so the result stays within float rounding of the numpy reference
 * even in the quiet bands of a loud frame. */
#include "mfcc.h"

#include <math.h>

#define PI 3.14159265358979323846
#define HALF (MFCC_N_FFT / 2) /* the real FFT runs as a complex FFT of this size */
#define PRE_EMPHASIS 0.97
#define LOW_HZ 60.0
#define HIGH_HZ 7600.0
#define VOICED_BELOW_PEAK_DB 15.0

static double hz_to_mel(double hz) { return 2595.0 * log10(1.0 + hz / 700.0); }

/* The inverse of hz_to_mel by Newton's method (it needs only log10): the function is
 * concave and increasing, so from 0 the steps rise monotonically to the root. */
static double mel_to_hz(double mel) {
    double hz = 0.0;
    for (int i = 0; i < 100; ++i) {
        double step = (hz_to_mel(hz) - mel) * log(10.0) * (700.0 + hz) / 2595.0;
        hz -= step;
        if (fabs(step) <= 1e-13 * (1.0 + fabs(hz))) break;
    }
    return hz;
}

static void init_filters(mfcc_ctx *ctx) {
    double edges[MFCC_N_MELS + 2];
    double low = hz_to_mel(LOW_HZ), high = hz_to_mel(HIGH_HZ);
    for (int i = 0; i < MFCC_N_MELS + 2; ++i)
        edges[i] = mel_to_hz(low + (high - low) * i / (MFCC_N_MELS + 1));
    int used = 0;
    for (int m = 0; m < MFCC_N_MELS; ++m) {
        double lower = edges[m], centre = edges[m + 1], upper = edges[m + 2];
        ctx->filter_first[m] = 0;
        ctx->filter_count[m] = 0;
        ctx->filter_offset[m] = used;
        for (int k = 0; k < MFCC_BINS && used < MFCC_FILTER_WEIGHTS; ++k) {
            double hz = k * ((double)MFCC_RATE / MFCC_N_FFT);
            double rising = (hz - lower) / (centre - lower);
            double falling = (upper - hz) / (upper - centre);
            double weight = rising < falling ? rising : falling;
            if (weight <= 0.0) continue;
            if (ctx->filter_count[m] == 0) ctx->filter_first[m] = k;
            ctx->filter_weights[used++] = weight;
            ctx->filter_count[m] += 1;
        }
    }
}

void mfcc_init(mfcc_ctx *ctx) {
    for (int i = 0; i < MFCC_FRAME; ++i)
        ctx->hamming[i] = 0.54 - 0.46 * cos(2.0 * PI * i / (MFCC_FRAME - 1));
    for (int k = 0; k < HALF; ++k) {
        ctx->cos_table[k] = cos(2.0 * PI * k / MFCC_N_FFT);
        ctx->sin_table[k] = sin(2.0 * PI * k / MFCC_N_FFT);
    }
    init_filters(ctx);
    for (int c = 0; c < MFCC_N_MFCC; ++c) {
        double scale = sqrt((c == 0 ? 1.0 : 2.0) / MFCC_N_MELS);
        for (int n = 0; n < MFCC_N_MELS; ++n)
            ctx->dct[c][n] = scale * cos(PI * c * (2 * n + 1) / (2.0 * MFCC_N_MELS));
    }
}

/* In-place radix-2 FFT of HALF complex values stored re, im, re, im, ... in x (written
 * here because the device has no FFT library; 512 points need nothing faster). */
static void fft_half(const mfcc_ctx *ctx, double *x) {
    for (int i = 1, j = 0; i < HALF; ++i) {
        int bit = HALF >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j |= bit;
        if (i < j) {
            double re = x[2 * i], im = x[2 * i + 1];
            x[2 * i] = x[2 * j], x[2 * i + 1] = x[2 * j + 1];
            x[2 * j] = re, x[2 * j + 1] = im;
        }
    }
    for (int len = 2; len <= HALF; len <<= 1) {
        int stride = MFCC_N_FFT / len; /* e^{-2 pi i j / len} = table entry j * stride */
        for (int i = 0; i < HALF; i += len) {
            for (int j = 0; j < len / 2; ++j) {
                double wr = ctx->cos_table[j * stride], wi = -ctx->sin_table[j * stride];
                double *a = x + 2 * (i + j), *b = x + 2 * (i + j + len / 2);
                double tr = wr * b[0] - wi * b[1], ti = wr * b[1] + wi * b[0];
                b[0] = a[0] - tr, b[1] = a[1] - ti;
                a[0] += tr, a[1] += ti;
            }
        }
    }
}

/* |rfft(frame)|^2 / N_FFT: the even and odd samples ride as real and imaginary parts of
 * one half-size complex FFT, then are split apart (Z[k] and conj Z[HALF - k]). */
static void power_spectrum(mfcc_ctx *ctx) {
    double *z = ctx->frame;
    fft_half(ctx, z);
    ctx->power[0] = (z[0] + z[1]) * (z[0] + z[1]) / MFCC_N_FFT;
    ctx->power[HALF] = (z[0] - z[1]) * (z[0] - z[1]) / MFCC_N_FFT;
    for (int k = 1; k < HALF; ++k) {
        double zr = z[2 * k], zi = z[2 * k + 1];
        double cr = z[2 * (HALF - k)], ci = -z[2 * (HALF - k) + 1];
        double er = (zr + cr) / 2, ei = (zi + ci) / 2;  /* FFT of the even samples */
        double or_ = (zi - ci) / 2, oi = -(zr - cr) / 2; /* FFT of the odd samples */
        double c = ctx->cos_table[k], s = ctx->sin_table[k];
        double xr = er + c * or_ + s * oi, xi = ei + c * oi - s * or_;
        ctx->power[k] = (xr * xr + xi * xi) / MFCC_N_FFT;
    }
}

/* Pre-emphasised, Hamming-windowed frame t into ctx->frame (zero-padded); its energy. */
static double load_frame(mfcc_ctx *ctx, const float *signal, size_t t) {
    size_t start = t * MFCC_HOP;
    double energy = 0.0;
    for (int i = 0; i < MFCC_FRAME; ++i) {
        size_t s = start + i;
        double x = s == 0 ? signal[0] : signal[s] - PRE_EMPHASIS * (double)signal[s - 1];
        ctx->frame[i] = x * ctx->hamming[i];
        energy += ctx->frame[i] * ctx->frame[i];
    }
    for (int i = MFCC_FRAME; i < MFCC_N_FFT; ++i) ctx->frame[i] = 0.0;
    return energy;
}

size_t mfcc_compute(mfcc_ctx *ctx, const float *signal, size_t n, float *coefficients,
                    double *energy_db) {
    size_t frames = MFCC_FRAMES(n);
    for (size_t t = 0; t < frames; ++t) {
        energy_db[t] = 10.0 * log10(load_frame(ctx, signal, t) + 1e-10);
        power_spectrum(ctx);
        double log_mel[MFCC_N_MELS];
        for (int m = 0; m < MFCC_N_MELS; ++m) {
            const double *weights = ctx->filter_weights + ctx->filter_offset[m];
            const double *power = ctx->power + ctx->filter_first[m];
            double sum = 0.0;
            for (int k = 0; k < ctx->filter_count[m]; ++k) sum += power[k] * weights[k];
            log_mel[m] = log(sum + 1e-10);
        }
        for (int c = 0; c < MFCC_N_MFCC; ++c) {
            double sum = 0.0;
            for (int m = 0; m < MFCC_N_MELS; ++m) sum += ctx->dct[c][m] * log_mel[m];
            coefficients[t * MFCC_N_MFCC + c] = (float)sum;
        }
    }
    return frames;
}

int mfcc_window_starts(const double *energy_db, size_t frames, size_t window, size_t *starts) {
    if (window == 0) return MFCC_EARG;
    if (frames < window) return MFCC_ETOOSHORT;
    size_t hop = window / 2 > 0 ? window / 2 : 1;
    double peak = energy_db[0];
    for (size_t t = 1; t < frames; ++t) peak = energy_db[t] > peak ? energy_db[t] : peak;
    int count = 0;
    for (size_t s = 0; s + window <= frames; s += hop) {
        size_t voiced = 0;
        for (size_t t = s; t < s + window; ++t) voiced += energy_db[t] > peak - VOICED_BELOW_PEAK_DB;
        if (3 * voiced >= 2 * window) starts[count++] = s;
    }
    if (count == 0) {
        for (size_t s = 0; s + window <= frames; s += hop) starts[count++] = s;
    }
    return count;
}
