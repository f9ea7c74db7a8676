/*
 * wasmbay_plugin.c - canonical ABI glue for plugin-world (see wasmbay_plugin.h).
 *
 * Layouts follow the component model's canonical ABI for wasm32: strings and lists
 * are (ptr, len) pairs of u32; variants are a u8 discriminant followed by the
 * payload at the payload's alignment (4 here); results wider than one flat value
 * come back through a return area (exports) or a caller-supplied pointer (imports).
 */
#include "wasmbay_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if WASMBAY_WIT == 1
#define WB_API "toolsku:plugin-system/plugin-api"
#define WB_HOST "toolsku:plugin-system/host-api"
#else
#define WB_API "toolsku:plugin-system/plugin-api@2.0.0"
#define WB_HOST "toolsku:plugin-system/host-api@2.0.0"
#endif
#define WB_EXPORT(fn) __attribute__((export_name(WB_API "#" fn)))
#define WB_POST(fn) __attribute__((export_name("cabi_post_" WB_API "#" fn)))
#define WB_IMPORT(fn) __attribute__((import_module(WB_HOST), import_name(fn)))

extern const wasmbay_plugin *wasmbay__plugin(void);

/* ---- memory ---- */

static char wb_empty[8];

/* The host allocates argument (and import result) memory through this. Every
 * allocation gets one extra zero byte, which makes incoming strings
 * NUL-terminated at no cost. */
__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
    (void)old_size;
    (void)align; /* malloc's alignment (16) covers every type in the contract */
    if (new_size == 0) {
        if (old && old != wb_empty) free(old);
        return wb_empty;
    }
    char *p = (old && old != wb_empty) ? realloc(old, new_size + 1) : malloc(new_size + 1);
    if (!p) abort();
    p[new_size] = 0;
    return p;
}

/* Frees a (ptr, len) block the host allocated through cabi_realloc. */
static void wb_free(uint32_t ptr, uint32_t len) {
    void *p = (void *)(uintptr_t)ptr;
    if (len && p && p != wb_empty) free(p);
}

/* Lifts a host-owned string: NUL-terminated by cabi_realloc (or the empty string). */
static wasmbay_str wb_lift(uint32_t ptr, uint32_t len) {
    wasmbay_str s = {len ? (const char *)(uintptr_t)ptr : "", len};
    return s;
}

/* Hands ownership of a buffer to the return area: (ptr, len). */
static void wb_give_buf(uint8_t *at, wasmbay_buf *buf) {
    uint32_t *w = (uint32_t *)at;
    if (buf->len == 0) {
        wasmbay_buf_free(buf);
        w[0] = (uint32_t)(uintptr_t)wb_empty;
        w[1] = 0;
        return;
    }
    w[0] = (uint32_t)(uintptr_t)buf->data;
    w[1] = (uint32_t)buf->len;
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

static void wb_give_cstr(uint8_t *at, const char *text) {
    wasmbay_buf b = {0};
    if (text) wasmbay_buf_puts(&b, text);
    wb_give_buf(at, &b);
}

static void wb_free_at(uint8_t *at) {
    uint32_t *w = (uint32_t *)at;
    wb_free(w[0], w[1]);
}

/* ---- buffers ---- */

static void wb_reserve(wasmbay_buf *buf, size_t extra) {
    size_t need = buf->len + extra + 1;
    if (need <= buf->cap) return;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < need) cap *= 2;
    char *p = realloc(buf->data, cap);
    if (!p) abort();
    buf->data = p;
    buf->cap = cap;
}

void wasmbay_buf_append(wasmbay_buf *buf, const char *data, size_t len) {
    if (!len) return;
    wb_reserve(buf, len);
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = 0;
}

void wasmbay_buf_puts(wasmbay_buf *buf, const char *text) {
    wasmbay_buf_append(buf, text, strlen(text));
}

/* Formats once into the buffer's spare room (most lines fit: the buffer keeps at least
 * 64 bytes spare), and a second time only into a buffer grown to the measured length. */
void wasmbay_buf_vprintf(wasmbay_buf *buf, const char *fmt, va_list ap) {
    wb_reserve(buf, 63);
    size_t room = buf->cap - buf->len;
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(buf->data + buf->len, room, fmt, copy);
    va_end(copy);
    if (n < 0) {
        buf->data[buf->len] = 0;
        return;
    }
    if ((size_t)n >= room) {
        wb_reserve(buf, (size_t)n);
        vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    }
    buf->len += (size_t)n;
}

void wasmbay_buf_printf(wasmbay_buf *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    wasmbay_buf_vprintf(buf, fmt, ap);
    va_end(ap);
}

void wasmbay_buf_free(wasmbay_buf *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

void wasmbay_write(wasmbay_response *res, const char *data, size_t len) {
    wasmbay_buf_append(&res->output, data, len);
}

void wasmbay_print(wasmbay_response *res, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    wasmbay_buf_vprintf(&res->output, fmt, ap);
    va_end(ap);
}

void wasmbay_attribute(wasmbay_response *res, const char *key, const char *value) {
    wasmbay_buf_append(&res->attributes, key, strlen(key) + 1);
    wasmbay_buf_append(&res->attributes, value, strlen(value) + 1);
    res->attributes_len++;
}

wasmbay_status wasmbay_fail(wasmbay_response *res, wasmbay_status kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    res->error.len = 0;
    wasmbay_buf_vprintf(&res->error, fmt, ap);
    va_end(ap);
    return kind == WASMBAY_OK ? WASMBAY_INTERNAL : kind;
}

wasmbay_status wasmbay_error(wasmbay_buf *error, wasmbay_status kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    error->len = 0;
    wasmbay_buf_vprintf(error, fmt, ap);
    va_end(ap);
    return kind == WASMBAY_OK ? WASMBAY_INTERNAL : kind;
}

int wasmbay_str_eq(wasmbay_str s, const char *text) {
    size_t n = strlen(text);
    return s.len == n && memcmp(s.ptr, text, n) == 0;
}

int wasmbay_str_starts_with(wasmbay_str s, const char *prefix) {
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

/* ---- lifting list<tuple<string, string>> ---- */

typedef struct {
    wasmbay_pair *pairs;
    uint32_t *raw;
    size_t len;
} wb_pairs;

static wb_pairs wb_lift_pairs(uint32_t ptr, uint32_t len) {
    wb_pairs out = {NULL, (uint32_t *)(uintptr_t)ptr, len};
    if (!len) return out;
    out.pairs = calloc(len, sizeof(wasmbay_pair));
    if (!out.pairs) abort();
    for (size_t i = 0; i < len; i++) {
        uint32_t *e = out.raw + 4 * i; /* tuple<string,string>: size 16, align 4 */
        out.pairs[i].key = wb_lift(e[0], e[1]);
        out.pairs[i].value = wb_lift(e[2], e[3]);
    }
    return out;
}

static void wb_free_pairs(wb_pairs *p) {
    for (size_t i = 0; i < p->len; i++) {
        uint32_t *e = p->raw + 4 * i;
        wb_free(e[0], e[1]);
        wb_free(e[2], e[3]);
    }
    if (p->len) wb_free((uint32_t)(uintptr_t)p->raw, (uint32_t)(p->len * 16));
    free(p->pairs);
}

/* The export return area: one call at a time per instance, so one area suffices. */
static uint8_t wb_ret[32] __attribute__((aligned(8)));

/* ---- error encoding ---- */

#if WASMBAY_WIT == 2
/* plugin-error: u8 case (invalid-input, not-configured, unavailable, internal) + string. */
static void wb_put_plugin_error(uint8_t *at, wasmbay_status status, wasmbay_buf *message) {
    at[0] = (uint8_t)(status - 1);
    if (message->len == 0) wasmbay_buf_puts(message, "error");
    wb_give_buf(at + 4, message);
}
#endif

/* result<_, string> (v1) or result<_, plugin-error> (v2) at wb_ret. */
static uint8_t *wb_unit_result(wasmbay_status status, wasmbay_buf *error) {
    memset(wb_ret, 0, sizeof wb_ret);
    if (status == WASMBAY_OK) {
        wasmbay_buf_free(error);
        return wb_ret;
    }
    wb_ret[0] = 1;
#if WASMBAY_WIT == 1
    if (error->len == 0) wasmbay_buf_puts(error, "error");
    wb_give_buf(wb_ret + 4, error);
#else
    wb_put_plugin_error(wb_ret + 4, status, error);
#endif
    return wb_ret;
}

static void wb_free_unit_result(uint8_t *ret) {
    if (ret[0] == 0) return;
#if WASMBAY_WIT == 1
    wb_free_at(ret + 4);
#else
    wb_free_at(ret + 8);
#endif
}

/* ---- exports ---- */

WB_EXPORT("initialize")
uint8_t *wasmbay__initialize(uint32_t cfg_ptr, uint32_t cfg_len) {
    const wasmbay_plugin *p = wasmbay__plugin();
    wb_pairs cfg = wb_lift_pairs(cfg_ptr, cfg_len);
    wasmbay_buf error = {0};
    wasmbay_status st = p->initialize ? p->initialize(cfg.pairs, cfg.len, &error) : WASMBAY_OK;
    wb_free_pairs(&cfg);
    return wb_unit_result(st, &error);
}

WB_POST("initialize")
void wasmbay__post_initialize(uint8_t *ret) { wb_free_unit_result(ret); }

WB_EXPORT("shutdown")
uint8_t *wasmbay__shutdown(void) {
    const wasmbay_plugin *p = wasmbay__plugin();
    wasmbay_buf error = {0};
    wasmbay_status st = p->shutdown ? p->shutdown(&error) : WASMBAY_OK;
    return wb_unit_result(st, &error);
}

WB_POST("shutdown")
void wasmbay__post_shutdown(uint8_t *ret) { wb_free_unit_result(ret); }

#if WASMBAY_WIT == 1
/* process-response: output@0, success@8 (u8), error-message option<string>@12. */
WB_EXPORT("process")
uint8_t *wasmbay__process(uint32_t in_ptr, uint32_t in_len, uint32_t opt_ptr, uint32_t opt_len) {
    const wasmbay_plugin *p = wasmbay__plugin();
    wb_pairs opts = wb_lift_pairs(opt_ptr, opt_len);
    wasmbay_request req = {wb_lift(in_ptr, in_len), opts.pairs, opts.len, 0, {"", 0}};
    wasmbay_response res = {0};
    wasmbay_status st = p->process(&req, &res);
    wb_free_pairs(&opts);
    wb_free(in_ptr, in_len);
    memset(wb_ret, 0, sizeof wb_ret);
    wb_give_buf(wb_ret, &res.output);
    if (st == WASMBAY_OK) {
        wb_ret[8] = 1;
    } else {
        wb_ret[12] = 1;
        if (res.error.len == 0) wasmbay_buf_puts(&res.error, "error");
        wb_give_buf(wb_ret + 16, &res.error);
    }
    wasmbay_buf_free(&res.error);
    wasmbay_buf_free(&res.attributes);
    return wb_ret;
}

WB_POST("process")
void wasmbay__post_process(uint8_t *ret) {
    wb_free_at(ret);
    if (ret[12]) wb_free_at(ret + 16);
}

/* plugin-metadata: three strings. */
WB_EXPORT("get-metadata")
uint8_t *wasmbay__get_metadata(void) {
    const wasmbay_plugin *p = wasmbay__plugin();
    wb_give_cstr(wb_ret, p->name);
    wb_give_cstr(wb_ret + 8, p->version);
    wb_give_cstr(wb_ret + 16, p->description);
    return wb_ret;
}

WB_POST("get-metadata")
void wasmbay__post_get_metadata(uint8_t *ret) {
    for (int i = 0; i < 3; i++) wb_free_at(ret + 8 * i);
}

#else /* WASMBAY_WIT == 2 */

/* result<process-response, plugin-error>: u8 disc; ok: output@4, attributes@12;
 * err: plugin-error@4. */
WB_EXPORT("process")
uint8_t *wasmbay__process(uint32_t in_ptr, uint32_t in_len, uint32_t opt_ptr, uint32_t opt_len,
                          uint32_t rid_some, uint32_t rid_ptr, uint32_t rid_len) {
    const wasmbay_plugin *p = wasmbay__plugin();
    wb_pairs opts = wb_lift_pairs(opt_ptr, opt_len);
    wasmbay_request req = {wb_lift(in_ptr, in_len), opts.pairs, opts.len, rid_some != 0,
                           rid_some ? wb_lift(rid_ptr, rid_len) : wb_lift(0, 0)};
    wasmbay_response res = {0};
    wasmbay_status st = p->process(&req, &res);
    wb_free_pairs(&opts);
    wb_free(in_ptr, in_len);
    if (rid_some) wb_free(rid_ptr, rid_len);
    memset(wb_ret, 0, sizeof wb_ret);
    if (st == WASMBAY_OK) {
        wb_give_buf(wb_ret + 4, &res.output);
        uint32_t *w = (uint32_t *)(wb_ret + 12);
        if (res.attributes_len) {
            uint32_t *list = malloc(16 * res.attributes_len);
            if (!list) abort();
            const char *cur = res.attributes.data;
            for (size_t i = 0; i < res.attributes_len; i++) {
                for (int k = 0; k < 2; k++) {
                    wasmbay_buf b = {0};
                    wasmbay_buf_puts(&b, cur);
                    cur += strlen(cur) + 1;
                    wb_give_buf((uint8_t *)(list + 4 * i + 2 * k), &b);
                }
            }
            w[0] = (uint32_t)(uintptr_t)list;
            w[1] = (uint32_t)res.attributes_len;
        } else {
            w[0] = (uint32_t)(uintptr_t)wb_empty;
            w[1] = 0;
        }
    } else {
        wb_ret[0] = 1;
        wb_put_plugin_error(wb_ret + 4, st, &res.error);
    }
    wasmbay_buf_free(&res.output);
    wasmbay_buf_free(&res.error);
    wasmbay_buf_free(&res.attributes);
    return wb_ret;
}

WB_POST("process")
void wasmbay__post_process(uint8_t *ret) {
    if (ret[0]) {
        wb_free_at(ret + 8);
        return;
    }
    wb_free_at(ret + 4);
    uint32_t *w = (uint32_t *)(ret + 12);
    uint32_t *list = (uint32_t *)(uintptr_t)w[0];
    for (uint32_t i = 0; i < w[1]; i++) {
        wb_free_at((uint8_t *)(list + 4 * i));
        wb_free_at((uint8_t *)(list + 4 * i + 2));
    }
    if (w[1]) free(list);
}

/* plugin-metadata: name@0, version@8, description@16, capabilities list@24.
 * capability-request (20 bytes): capability variant (u8 case, string@4) + reason@12. */
WB_EXPORT("get-metadata")
uint8_t *wasmbay__get_metadata(void) {
    const wasmbay_plugin *p = wasmbay__plugin();
    memset(wb_ret, 0, sizeof wb_ret);
    wb_give_cstr(wb_ret, p->name);
    wb_give_cstr(wb_ret + 8, p->version);
    wb_give_cstr(wb_ret + 16, p->description);
    uint32_t *w = (uint32_t *)(wb_ret + 24);
    size_t n = p->capabilities ? p->capabilities_len : 0;
    if (n) {
        uint8_t *list = calloc(n, 20);
        if (!list) abort();
        for (size_t i = 0; i < n; i++) {
            const wasmbay_capability *c = &p->capabilities[i];
            uint8_t *e = list + 20 * i;
            e[0] = (uint8_t)c->kind;
            if (c->kind != WASMBAY_CAP_NETWORK) wb_give_cstr(e + 4, c->target);
            wb_give_cstr(e + 12, c->reason);
        }
        w[0] = (uint32_t)(uintptr_t)list;
    } else {
        w[0] = (uint32_t)(uintptr_t)wb_empty;
    }
    w[1] = (uint32_t)n;
    return wb_ret;
}

WB_POST("get-metadata")
void wasmbay__post_get_metadata(uint8_t *ret) {
    for (int i = 0; i < 3; i++) wb_free_at(ret + 8 * i);
    uint32_t *w = (uint32_t *)(ret + 24);
    uint8_t *list = (uint8_t *)(uintptr_t)w[0];
    for (uint32_t i = 0; i < w[1]; i++) {
        uint8_t *e = list + 20 * i;
        if (e[0] != WASMBAY_CAP_NETWORK) wb_free_at(e + 4);
        wb_free_at(e + 12);
    }
    if (w[1]) free(list);
}

/* health-report: status u8@0, detail option<string>@4 (u8 disc, string@8). */
WB_EXPORT("health")
uint8_t *wasmbay__health(void) {
    const wasmbay_plugin *p = wasmbay__plugin();
    wasmbay_buf detail = {0};
    wasmbay_health h = p->health ? p->health(&detail) : WASMBAY_HEALTH_OK;
    memset(wb_ret, 0, sizeof wb_ret);
    wb_ret[0] = (uint8_t)h;
    if (detail.len) {
        wb_ret[4] = 1;
        wb_give_buf(wb_ret + 8, &detail);
    }
    wasmbay_buf_free(&detail);
    return wb_ret;
}

WB_POST("health")
void wasmbay__post_health(uint8_t *ret) {
    if (ret[4]) wb_free_at(ret + 8);
}
#endif

/* ---- imports: the host API ---- */

WB_IMPORT("get-config")
extern void wb_host_get_config(const char *key, size_t key_len, uint8_t *ret);
WB_IMPORT("emit-event")
extern void wb_host_emit_event(const char *type, size_t type_len, const char *payload,
                               size_t payload_len, uint8_t *ret);
#if WASMBAY_WIT == 1
WB_IMPORT("log-message")
extern void wb_host_log_message(const char *level, size_t level_len, const char *msg,
                                size_t msg_len, uint8_t *ret);
#else
WB_IMPORT("log")
extern void wb_host_log(int32_t level, const char *msg, size_t msg_len);
#endif

int wasmbay_log_str(wasmbay_level level, const char *message, size_t len) {
#if WASMBAY_WIT == 1
    static const char *names[] = {"trace", "debug", "info", "warn", "error"};
    const char *name = names[(unsigned)level <= 4 ? level : 2];
    uint32_t ret[3] = {0};
    wb_host_log_message(name, strlen(name), message, len, (uint8_t *)ret);
    if ((uint8_t)ret[0]) {
        wb_free(ret[1], ret[2]);
        return -1;
    }
    return 0;
#else
    wb_host_log((int32_t)level, message, len);
    return 0;
#endif
}

int wasmbay_log(wasmbay_level level, const char *fmt, ...) {
    /* A line is formatted on the stack; only a longer one takes the heap. */
    char line[256];
    va_list ap, copy;
    va_start(ap, fmt);
    va_copy(copy, ap);
    int n = vsnprintf(line, sizeof line, fmt, copy);
    va_end(copy);
    int rc;
    if (n < 0) {
        rc = wasmbay_log_str(level, "", 0);
    } else if ((size_t)n < sizeof line) {
        rc = wasmbay_log_str(level, line, (size_t)n);
    } else {
        wasmbay_buf b = {0};
        wasmbay_buf_vprintf(&b, fmt, ap);
        rc = wasmbay_log_str(level, b.data ? b.data : "", b.len);
        wasmbay_buf_free(&b);
    }
    va_end(ap);
    return rc;
}

char *wasmbay_get_config(const char *key) {
    uint32_t ret[3] = {0};
    wb_host_get_config(key, strlen(key), (uint8_t *)ret);
    if (!(uint8_t)ret[0]) return NULL;
    if (ret[2] == 0) {
        char *empty = malloc(1);
        if (!empty) abort();
        empty[0] = 0;
        return empty;
    }
    return (char *)(uintptr_t)ret[1]; /* allocated by cabi_realloc: malloc'd + NUL */
}

int wasmbay_emit_event(const char *event_type, const char *payload, wasmbay_buf *error) {
    uint32_t ret[3] = {0};
    wb_host_emit_event(event_type, strlen(event_type), payload, strlen(payload), (uint8_t *)ret);
    if (!(uint8_t)ret[0]) return 0;
    if (error) wasmbay_buf_append(error, (const char *)(uintptr_t)ret[1], ret[2]);
    wb_free(ret[1], ret[2]);
    return -1;
}
