/*
 * {{title}}: a Wasmbay plugin in C, with the Wasmbay C SDK (wasmbay_plugin.h).
 *
 * Fill the callbacks; `wasmbay build` compiles this for the contract version in
 * wasmbay.toml (the same source serves v1 and v2). Strings the host hands you
 * are NUL-terminated and valid until the callback returns. Files in granted
 * folders open with plain fopen() by their guest path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmbay_plugin.h"

static char *greeting;

static wasmbay_status initialize(const wasmbay_pair *config, size_t n, wasmbay_buf *error) {
    free(greeting);
    greeting = strdup("Hello");
    for (size_t i = 0; i < n; i++) {
        if (wasmbay_str_eq(config[i].key, "greeting")) {
            free(greeting);
            greeting = strdup(config[i].value.ptr);
        }
    }
    if (greeting[0] == '\0')
        return wasmbay_error(error, WASMBAY_NOT_CONFIGURED,
                             "the greeting is empty: set it with `wasmbay config ID greeting=Hi`");
    wasmbay_log(WASMBAY_INFO, "{{name}} ready (greeting: %s)", greeting);
    return WASMBAY_OK;
}

static wasmbay_status process(const wasmbay_request *req, wasmbay_response *res) {
    if (req->input.len == 0)
        return wasmbay_fail(res, WASMBAY_INVALID_INPUT, "input is empty: type a name");
    wasmbay_print(res, "%s, %s!", greeting, req->input.ptr);
    char chars[32];
    snprintf(chars, sizeof chars, "%zu", req->input.len);
    wasmbay_attribute(res, "bytes", chars); /* v2 only; ignored under v1 */
    return WASMBAY_OK;
}

static wasmbay_status shutdown(wasmbay_buf *error) {
    (void)error;
    wasmbay_log(WASMBAY_INFO, "{{name}} shutting down");
    return WASMBAY_OK;
}

static const wasmbay_plugin PLUGIN = {
    .name = "{{name}}",
    .version = "0.1.0",
    .description = "Greets whoever you name",
    /* v2: ask for what the plugin needs, with a reason the user will read:
     * .capabilities = (const wasmbay_capability[]){
     *     {WASMBAY_CAP_FS_READ, "/data", "reads the files you pick"}},
     * .capabilities_len = 1, */
    .initialize = initialize,
    .process = process,
    .shutdown = shutdown,
};

WASMBAY_EXPORT_PLUGIN(PLUGIN)
