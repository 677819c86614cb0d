/* WAV reader: RIFF chunks in order, "fmt " checked, "data" read, any other chunk skipped. */
#include "wav.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define RATE 16000
#define FORMAT_PCM 1
#define FORMAT_EXTENSIBLE 0xFFFE /* the real format is the first two bytes of its GUID */

static uint16_t le16(const unsigned char *b) { return (uint16_t)(b[0] | b[1] << 8); }
static uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The reason the "fmt " chunk is refused, or NULL for 16-bit PCM mono 16 kHz. */
static const char *check_format(const unsigned char *fmt, uint32_t size, char *why, size_t why_size) {
    unsigned format = le16(fmt), channels = le16(fmt + 2), bits = le16(fmt + 14);
    unsigned long rate = le32(fmt + 4);
    if (format == FORMAT_EXTENSIBLE && size >= 26) format = le16(fmt + 24);
    if (format != FORMAT_PCM)
        snprintf(why, why_size, "sample format %u, expected 16-bit PCM (format 1)", format);
    else if (bits != 16)
        snprintf(why, why_size, "%u-bit samples, expected 16-bit PCM", bits);
    else if (channels != 1)
        snprintf(why, why_size, "%u channels, expected mono", channels);
    else if (rate != RATE)
        snprintf(why, why_size, "sample rate %lu Hz, expected %d Hz", rate, RATE);
    else
        return NULL;
    return why;
}

/* Up to `bytes` of little-endian int16 samples; the reason on failure, else NULL. */
static const char *read_samples(FILE *file, uint32_t bytes, float *samples, size_t capacity,
                                size_t *count, char *why, size_t why_size) {
    unsigned char block[4096];
    *count = 0;
    while (bytes >= 2) {
        size_t want = bytes < sizeof block ? bytes & ~1u : sizeof block;
        size_t got = fread(block, 1, want, file) / 2;
        if (got == 0) break; /* a data size past the end (as streaming writers leave it) */
        if (*count + got > capacity) {
            snprintf(why, why_size, "longer than %.0f s", (double)capacity / RATE);
            return why;
        }
        for (size_t i = 0; i < got; ++i) samples[(*count)++] = (int16_t)le16(block + 2 * i) / 32768.0f;
        bytes -= (uint32_t)(2 * got);
    }
    return *count == 0 ? "no samples" : NULL;
}

static const char *parse(FILE *file, float *samples, size_t capacity, size_t *count, char *why,
                         size_t why_size) {
    unsigned char header[12], chunk[8], fmt[40];
    size_t got = fread(header, 1, sizeof header, file);
    if (got == 0) return "empty file";
    if (got < sizeof header || memcmp(header, "RIFF", 4) || memcmp(header + 8, "WAVE", 4))
        return "not a WAV file (no RIFF/WAVE header)";
    int have_format = 0;
    while (fread(chunk, 1, sizeof chunk, file) == sizeof chunk) {
        uint32_t size = le32(chunk + 4);
        uint32_t consumed = 0;
        if (!memcmp(chunk, "fmt ", 4)) {
            uint32_t keep = size < sizeof fmt ? size : sizeof fmt;
            if (size < 16 || fread(fmt, 1, keep, file) != keep) return "truncated fmt chunk";
            const char *refused = check_format(fmt, size, why, why_size);
            if (refused) return refused;
            have_format = 1;
            consumed = keep;
        } else if (!memcmp(chunk, "data", 4)) {
            if (!have_format) return "data chunk before the fmt chunk";
            return read_samples(file, size, samples, capacity, count, why, why_size);
        }
        /* the rest of the chunk, padded to an even size; a size past any real file ends it */
        long skip = (long)(size - consumed + (size & 1));
        if (size > 0x7FFFFFF0u || fseek(file, skip, SEEK_CUR) != 0) break;
    }
    return have_format ? "no data chunk" : "no fmt chunk";
}

int wav_read(const char *path, float *samples, size_t capacity, size_t *count, char *error,
             size_t error_size) {
    char why[96];
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        snprintf(error, error_size, "%s: cannot open: %s", path, strerror(errno));
        return 1;
    }
    const char *refused = parse(file, samples, capacity, count, why, sizeof why);
    fclose(file);
    if (refused) snprintf(error, error_size, "%s: %s", path, refused);
    return refused != NULL;
}
