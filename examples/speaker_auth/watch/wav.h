/* A WAV reader for the one format the front end takes: 16-bit PCM, mono, 16 kHz. */
#ifndef WAV_H
#define WAV_H

#include <stddef.h>

/* Read `path` into samples (int16 / 32768, at most `capacity` of them) and set *count.
 * Returns 0, or 1 with a one-line reason in `error` (anything but 16-bit PCM mono
 * 16 kHz, no samples, more than `capacity`, unreadable). */
int wav_read(const char *path, float *samples, size_t capacity, size_t *count, char *error,
             size_t error_size);

#endif /* WAV_H */
