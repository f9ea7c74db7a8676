/*
 * The C conformance sample: implements tests/core/conformance/SPEC.md with the
 * Wasmbay C SDK. The same source builds for plugin-world v1 and v2.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmbay_plugin.h"

static char *greeting;

static wasmbay_status initialize(const wasmbay_pair *config, size_t n, wasmbay_buf *error) {
    free(greeting);
    greeting = NULL;
    for (size_t i = 0; i < n; i++) {
        if (wasmbay_str_eq(config[i].key, "reject"))
            return wasmbay_error(error, WASMBAY_NOT_CONFIGURED, "rejected by config");
        if (wasmbay_str_eq(config[i].key, "greeting")) greeting = strdup(config[i].value.ptr);
    }
    if (!greeting) greeting = strdup("hello");
    wasmbay_log(WASMBAY_INFO, "initialized with %zu config entries", n);
    return WASMBAY_OK;
}

static int cmp_pairs(const void *a, const void *b) {
    const wasmbay_pair *x = a, *y = b;
    int c = strcmp(x->key.ptr, y->key.ptr);
    return c ? c : strcmp(x->value.ptr, y->value.ptr);
}

static wasmbay_status read_file(const char *path, wasmbay_response *res) {
    FILE *f = fopen(path, "rb");
    if (!f) return wasmbay_fail(res, WASMBAY_UNAVAILABLE, "cannot read %s: %s", path,
                                strerror(errno));
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) wasmbay_write(res, chunk, n);
    fclose(f);
    return WASMBAY_OK;
}

/* Crashes the plugin (SPEC.md, "trap"): abort() is a wasm trap. */
__attribute__((noinline)) static void conformance_trap(void) {
    abort();
}

static wasmbay_status process(const wasmbay_request *req, wasmbay_response *res) {
    wasmbay_str in = req->input;
    const char *arg = strchr(in.ptr, ':');
    arg = arg ? arg + 1 : "";
    wasmbay_attribute(res, "lang", "c");

    if (wasmbay_str_starts_with(in, "echo:")) {
        wasmbay_print(res, "%s", arg);
    } else if (wasmbay_str_eq(in, "options")) {
        wasmbay_pair *sorted = malloc(sizeof *sorted * (req->options_len + 1));
        memcpy(sorted, req->options, sizeof *sorted * req->options_len);
        qsort(sorted, req->options_len, sizeof *sorted, cmp_pairs);
        for (size_t i = 0; i < req->options_len; i++)
            wasmbay_print(res, "%s%s=%s", i ? ";" : "", sorted[i].key.ptr, sorted[i].value.ptr);
        free(sorted);
    } else if (wasmbay_str_starts_with(in, "config:")) {
        char *value = wasmbay_get_config(arg);
        wasmbay_print(res, "%s", value ? value : "<none>");
        free(value);
    } else if (wasmbay_str_eq(in, "greeting")) {
        wasmbay_print(res, "%s", greeting ? greeting : "<uninitialized>");
    } else if (wasmbay_str_eq(in, "log")) {
        static const char *names[] = {"trace", "debug", "info", "warn", "error"};
        for (int level = WASMBAY_TRACE; level <= WASMBAY_ERROR_LEVEL; level++)
            wasmbay_log((wasmbay_level)level, "conformance %s", names[level]);
        wasmbay_print(res, "logged 5");
    } else if (wasmbay_str_starts_with(in, "event:")) {
        const char *colon = strchr(arg, ':');
        if (!colon) return wasmbay_fail(res, WASMBAY_INVALID_INPUT, "expected event:TYPE:PAYLOAD");
        char *type = strndup(arg, (size_t)(colon - arg));
        wasmbay_buf err = {0};
        int rc = wasmbay_emit_event(type, colon + 1, &err);
        free(type);
        if (rc) {
            wasmbay_status st = wasmbay_fail(res, WASMBAY_UNAVAILABLE, "emit-event failed: %s",
                                             err.data ? err.data : "");
            wasmbay_buf_free(&err);
            return st;
        }
        wasmbay_print(res, "emitted");
    } else if (wasmbay_str_eq(in, "fail")) {
        return wasmbay_fail(res, WASMBAY_INVALID_INPUT, "requested failure");
    } else if (wasmbay_str_starts_with(in, "read:")) {
        return read_file(arg, res);
    } else if (wasmbay_str_eq(in, "trap")) {
        conformance_trap();
    } else if (wasmbay_str_eq(in, "request-id")) {
        wasmbay_print(res, "%s", req->has_request_id ? req->request_id.ptr : "<none>");
    } else {
        return wasmbay_fail(res, WASMBAY_INVALID_INPUT, "unknown command: %s", in.ptr);
    }
    return WASMBAY_OK;
}

static wasmbay_status shutdown(wasmbay_buf *error) {
    (void)error;
    wasmbay_log(WASMBAY_INFO, "conformance shutdown");
    return WASMBAY_OK;
}

static wasmbay_health health(wasmbay_buf *detail) {
    wasmbay_buf_puts(detail, "ready");
    return WASMBAY_HEALTH_OK;
}

static const wasmbay_capability CAPABILITIES[] = {
    {WASMBAY_CAP_FS_READ, "/data", "read:PATH reads files the user shares"},
};

static const wasmbay_plugin PLUGIN = {
    .name = "conformance-c",
    .version = "1.0.0",
    .description = "Wasmbay conformance sample (C)",
    .capabilities = CAPABILITIES,
    .capabilities_len = sizeof CAPABILITIES / sizeof CAPABILITIES[0],
    .initialize = initialize,
    .process = process,
    .shutdown = shutdown,
    .health = health,
};

WASMBAY_EXPORT_PLUGIN(PLUGIN)
