/* File helpers shared by the C test programs: a whole file into 64-byte aligned memory,
 * and raw bytes in and out. */
#ifndef DX_TEST_FILES_H
#define DX_TEST_FILES_H

#include <stdio.h>
#include <stdlib.h>

/* The whole file, 64-byte aligned, with `spare` more bytes after it; NULL on failure. */
static inline void *load_file(const char *path, size_t *size, size_t spare) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) return NULL;
    fseek(file, 0, SEEK_END);
    long length = ftell(file);
    fseek(file, 0, SEEK_SET);
    void *data = length >= 0 ? aligned_alloc(64, (((size_t)length + 63u) & ~(size_t)63u) + spare) : NULL;
    if (data != NULL && fread(data, 1, (size_t)length, file) != (size_t)length) {
        free(data);
        data = NULL;
    }
    fclose(file);
    *size = (size_t)length;
    return data;
}

/* Exactly `size` bytes from or to a file; 0 on success. */
static inline int read_exact(const char *path, void *data, size_t size) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) return 1;
    size_t got = fread(data, 1, size, file);
    fclose(file);
    return got != size;
}

static inline int write_exact(const char *path, const void *data, size_t size) {
    FILE *file = fopen(path, "wb");
    if (file == NULL) return 1;
    size_t put = fwrite(data, 1, size, file);
    return (fclose(file) != 0) | (put != size);
}

#endif
