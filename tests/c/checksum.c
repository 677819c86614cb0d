/* The runtime's weights checksum on arbitrary bytes, for the test to hold against the
 * Python side (deepxc.emit.weights.checksum): the runtime's own source, included whole.
 *
 *   checksum data.bin max_length
 *
 * Prints the checksum of data[offset:offset + length] for offsets 0..7 and every length
 * 0..max_length, one hex number a line, offsets outermost. */
#include <stdio.h>
#include <stdlib.h>

#include "model.c"

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    size_t max_length = (size_t)strtoul(argv[2], NULL, 10);
    uint8_t *data = malloc(max_length + 8);
    FILE *file = fopen(argv[1], "rb");
    if (data == NULL || file == NULL || fread(data, 1, max_length + 8, file) != max_length + 8) return 2;
    fclose(file);
    for (size_t offset = 0; offset < 8; ++offset) {
        for (size_t length = 0; length <= max_length; ++length) {
            printf("%016llx\n", (unsigned long long)dx_checksum(data + offset, length));
        }
    }
    free(data);
    return 0;
}
