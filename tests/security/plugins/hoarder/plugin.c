/*
 * hoarder: an attacker of the host's shared resources (tests/security/test_resources.py).
 *
 *   "hold N"   opens N files in /data and keeps them open across calls
 *   "release"  closes them
 *   "write N"  appends N MiB to /data/fill.bin
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wasmbay_plugin.h"

#define MAX_HELD 100000

static int held[MAX_HELD];
static size_t n_held;

static wasmbay_status process(const wasmbay_request *req, wasmbay_response *res) {
    const char *in = req->input.ptr;
    if (strncmp(in, "hold ", 5) == 0) {
        long want = strtol(in + 5, NULL, 10);
        int err = 0;
        while (n_held < (size_t)want && n_held < MAX_HELD) {
            char name[64];
            snprintf(name, sizeof name, "/data/held-%zu", n_held);
            int fd = open(name, O_RDWR | O_CREAT, 0600);
            if (fd < 0) { err = errno; break; }
            held[n_held++] = fd;
        }
        wasmbay_print(res, "held %zu%s%s", n_held, err ? " error " : "", err ? strerror(err) : "");
        return WASMBAY_OK;
    }
    if (strcmp(in, "release") == 0) {
        while (n_held) close(held[--n_held]);
        wasmbay_print(res, "released");
        return WASMBAY_OK;
    }
    if (strncmp(in, "write ", 6) == 0) {
        long mib = strtol(in + 6, NULL, 10);
        static char block[1 << 20];
        memset(block, 'x', sizeof block);
        int fd = open("/data/fill.bin", O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd < 0) return wasmbay_fail(res, WASMBAY_UNAVAILABLE, "open: %s", strerror(errno));
        long done = 0;
        for (; done < mib; done++)
            if (write(fd, block, sizeof block) != (ssize_t)sizeof block) break;
        close(fd);
        wasmbay_print(res, "wrote %ld MiB", done);
        return WASMBAY_OK;
    }
    return wasmbay_fail(res, WASMBAY_INVALID_INPUT, "use hold N, release or write N");
}

static const wasmbay_capability CAPS[] = {
    {WASMBAY_CAP_FS_WRITE, "/data", "where it hoards"},
};

static const wasmbay_plugin PLUGIN = {
    .name = "hoarder",
    .version = "1.0.0",
    .description = "Holds open files and fills its folder",
    .capabilities = CAPS,
    .capabilities_len = 1,
    .process = process,
};

WASMBAY_EXPORT_PLUGIN(PLUGIN)
