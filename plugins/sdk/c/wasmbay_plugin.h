/*
 * wasmbay_plugin.h - the Wasmbay guest SDK for C (plugin-world v1 and v2).
 *
 * A dependency-free implementation of the component model's canonical ABI for
 * `toolsku:plugin-system` world `plugin-world`, so C plugins need no wit-bindgen.
 * Pick the contract with -DWASMBAY_WIT=1 (default) or -DWASMBAY_WIT=2; the same
 * plugin source builds for both.
 *
 * A plugin fills a `wasmbay_plugin` struct of callbacks and names it once:
 *
 *     static wasmbay_status process(const wasmbay_request *req, wasmbay_response *res) {
 *         wasmbay_write(res, req->input.ptr, req->input.len);
 *         return WASMBAY_OK;
 *     }
 *     static const wasmbay_plugin PLUGIN = {
 *         .name = "echo", .version = "1.0.0", .description = "Echoes its input",
 *         .process = process,
 *     };
 *     WASMBAY_EXPORT_PLUGIN(PLUGIN)
 *
 * Every string the host hands you is valid until your callback returns, and is
 * NUL-terminated (its `len` is still authoritative). Strings you give back are
 * copied; the SDK frees its copies after the host has read them (post-return).
 *
 * Build (Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32):
 *     clang --target=wasm32-wasi -mexec-model=reactor -O2 -DWASMBAY_WIT=1 \
 *           -I sdk plugin.c sdk/wasmbay_plugin.c -o core.wasm
 *     wasm-tools component embed wit --world plugin-world core.wasm -o embedded.wasm
 *     wasm-tools component new embedded.wasm \
 *           --adapt wasi_snapshot_preview1=wasi_snapshot_preview1.reactor.wasm -o plugin.wasm
 * `wasmbay build` does all of this for you.
 */
#ifndef WASMBAY_PLUGIN_H
#define WASMBAY_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifndef WASMBAY_WIT
#define WASMBAY_WIT 1
#endif
#if WASMBAY_WIT != 1 && WASMBAY_WIT != 2
#error "WASMBAY_WIT must be 1 or 2"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A borrowed string: `ptr` is NUL-terminated, `len` excludes the NUL. */
typedef struct {
    const char *ptr;
    size_t len;
} wasmbay_str;

typedef struct {
    wasmbay_str key;
    wasmbay_str value;
} wasmbay_pair;

/* A growable, owned byte buffer (always NUL-terminated when non-empty). */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} wasmbay_buf;

void wasmbay_buf_append(wasmbay_buf *buf, const char *data, size_t len);
void wasmbay_buf_puts(wasmbay_buf *buf, const char *text);
void wasmbay_buf_printf(wasmbay_buf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void wasmbay_buf_vprintf(wasmbay_buf *buf, const char *fmt, va_list ap);
void wasmbay_buf_free(wasmbay_buf *buf);

/* Outcome of a callback. v2 maps each error to its `plugin-error` case; v1 has
 * only "failed" (process: success=false + error-message; others: err(message)). */
typedef enum {
    WASMBAY_OK = 0,
    WASMBAY_INVALID_INPUT = 1,  /* the request is wrong; retrying will fail again */
    WASMBAY_NOT_CONFIGURED = 2, /* configuration is missing or wrong */
    WASMBAY_UNAVAILABLE = 3,    /* something needed is unavailable; may succeed later */
    WASMBAY_INTERNAL = 4,       /* a bug or unexpected state in the plugin */
} wasmbay_status;

typedef struct {
    wasmbay_str input;
    const wasmbay_pair *options;
    size_t options_len;
    int has_request_id; /* always 0 under v1 (the v1 contract has no request id) */
    wasmbay_str request_id;
} wasmbay_request;

/* What process() writes: its output, v2 attributes, or an error message. */
typedef struct {
    wasmbay_buf output;
    wasmbay_buf error;
    wasmbay_buf attributes; /* internal: key\0value\0 pairs */
    size_t attributes_len;
} wasmbay_response;

void wasmbay_write(wasmbay_response *res, const char *data, size_t len);
void wasmbay_print(wasmbay_response *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Adds a (key, value) attribute to the response; ignored under v1. */
void wasmbay_attribute(wasmbay_response *res, const char *key, const char *value);
/* Sets the error message and returns `kind`: `return wasmbay_fail(res, ...)`. */
wasmbay_status wasmbay_fail(wasmbay_response *res, wasmbay_status kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same for initialize/shutdown, which get a plain error buffer. */
wasmbay_status wasmbay_error(wasmbay_buf *error, wasmbay_status kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef enum {
    WASMBAY_CAP_FS_READ = 0,
    WASMBAY_CAP_FS_WRITE = 1,
    WASMBAY_CAP_NETWORK = 2,
    WASMBAY_CAP_ENV = 3,
} wasmbay_capability_kind;

/* A capability the plugin asks for in its v2 metadata (ignored under v1). */
typedef struct {
    wasmbay_capability_kind kind;
    const char *target; /* guest path or variable name; NULL for network */
    const char *reason;
} wasmbay_capability;

typedef enum {
    WASMBAY_HEALTH_OK = 0,
    WASMBAY_HEALTH_DEGRADED = 1,
    WASMBAY_HEALTH_FAILING = 2,
} wasmbay_health;

typedef struct {
    const char *name;
    const char *version;
    const char *description;
    const wasmbay_capability *capabilities; /* v2 only */
    size_t capabilities_len;
    /* Optional (NULL = accept any config). */
    wasmbay_status (*initialize)(const wasmbay_pair *config, size_t config_len,
                                 wasmbay_buf *error);
    /* Required. */
    wasmbay_status (*process)(const wasmbay_request *req, wasmbay_response *res);
    /* Optional (NULL = nothing to clean up). */
    wasmbay_status (*shutdown)(wasmbay_buf *error);
    /* Optional, v2 only (NULL = always ok); may write a detail line. */
    wasmbay_health (*health)(wasmbay_buf *detail);
} wasmbay_plugin;

/* Registers the plugin; use exactly once, at file scope. */
#define WASMBAY_EXPORT_PLUGIN(plugin) \
    const wasmbay_plugin *wasmbay__plugin(void) { return &(plugin); }

/* ---- the host API (imports) ---- */

typedef enum {
    WASMBAY_TRACE = 0,
    WASMBAY_DEBUG = 1,
    WASMBAY_INFO = 2,
    WASMBAY_WARN = 3,
    WASMBAY_ERROR_LEVEL = 4,
} wasmbay_level;

/* Logs one line; returns 0, or -1 if the host refused it (v1 only). */
int wasmbay_log(wasmbay_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int wasmbay_log_str(wasmbay_level level, const char *message, size_t len);
/* A config value (plain or secret) as a malloc'd string the caller frees, or NULL. */
char *wasmbay_get_config(const char *key);
/* Emits an event; returns 0, or -1 and (if `error` is not NULL) the host's reason. */
int wasmbay_emit_event(const char *event_type, const char *payload, wasmbay_buf *error);

/* Helpers. */
int wasmbay_str_eq(wasmbay_str s, const char *text);
int wasmbay_str_starts_with(wasmbay_str s, const char *prefix);

#ifdef __cplusplus
}
#endif
#endif /* WASMBAY_PLUGIN_H */
