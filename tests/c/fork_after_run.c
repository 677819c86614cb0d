/* fork() after the thread pool started: the child's runs must work (and match the
 * parent's), and so must the parent's after the fork.
 *
 *   fork_after_run weights.bin input.bin output.bin
 *
 * Runs once (starting the pool), writes that output for the test to hold against
 * onnxruntime, forks, and runs again in the child and in the parent. The child gives up
 * after 20 s (alarm), which the parent reports as a hang. Exit 0 when every run agrees. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files.h"
#include "model.h"

static float input[DEEPX_INPUT0_SIZE];
static float first[DEEPX_OUTPUT0_SIZE];
static float again[DEEPX_OUTPUT0_SIZE];

static int run(deepx_ctx *ctx, float *output) {
    const float *inputs[] = {input};
    float *outputs[] = {output};
    return deepx_run(ctx, inputs, outputs);
}

static int run_and_compare(deepx_ctx *ctx) {
    for (int i = 0; i < 20; ++i) {
        if (run(ctx, again) != DEEPX_OK) return 3;
        if (memcmp(again, first, sizeof first) != 0) return 4;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    size_t weights_size;
    void *weights = load_file(argv[1], &weights_size, 0);
    if (weights == NULL || read_exact(argv[2], input, sizeof input)) return 2;
    void *arena = aligned_alloc(DEEPX_ALIGN, DEEPX_ARENA_BYTES > 0 ? DEEPX_ARENA_BYTES : DEEPX_ALIGN);
    deepx_ctx ctx;
    if (deepx_init(&ctx, arena, DEEPX_ARENA_BYTES, weights, weights_size) != DEEPX_OK) return 2;
    if (run(&ctx, first) != DEEPX_OK) return 2;
    if (write_exact(argv[3], first, sizeof first)) return 2;
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) return 2;
    if (child == 0) {
        alarm(20);
        int status = run_and_compare(&ctx);
        deepx_deinit(&ctx);
        _exit(status);
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child) return 2;
    int parent = run_and_compare(&ctx);
    deepx_deinit(&ctx);
    if (WIFSIGNALED(status)) {
        printf("child: killed by signal %d%s\n", WTERMSIG(status), WTERMSIG(status) == SIGALRM ? " (hang)" : "");
        return 1;
    }
    printf("child: exit %d, parent: %d\n", WEXITSTATUS(status), parent);
    return WEXITSTATUS(status) != 0 || parent != 0;
}
