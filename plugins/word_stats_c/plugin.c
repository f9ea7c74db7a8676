/*
 * word-stats: text statistics with the Wasmbay C SDK (plugin-world v2).
 *
 * Counts words (whitespace-separated, like `wc -w`), lines and characters
 * (Unicode code points) of the input and lists the `top` most frequent words.
 * For the ranking a word is lower-cased (ASCII) and stripped of leading and
 * trailing ASCII punctuation ("The," and "the" are the same word); ties are
 * broken alphabetically, so the output is deterministic.
 *
 * Options: top=N (0..1000, default 3), min-length=N (1..1000, default 1: shorter
 * words are left out of the ranking). Anything else is an invalid-input error.
 * The plugin asks for no capabilities: it only reads its request.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmbay_plugin.h"

#define DEFAULT_TOP 3
#define MAX_TOP 1000

/* ---- a small string -> count hash table (open addressing) ---- */

typedef struct {
    char *word;
    size_t count;
} entry;

typedef struct {
    entry *slots;
    size_t cap; /* a power of two */
    size_t used;
} table;

static uint32_t hash(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int table_grow(table *t) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    entry *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].word) continue;
        size_t j = hash(t->slots[i].word, strlen(t->slots[i].word)) & (cap - 1);
        while (slots[j].word) j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

static int table_add(table *t, const char *word, size_t n) {
    if ((t->used + 1) * 4 > t->cap * 3 && table_grow(t)) return -1;
    size_t j = hash(word, n) & (t->cap - 1);
    while (t->slots[j].word) {
        if (strlen(t->slots[j].word) == n && memcmp(t->slots[j].word, word, n) == 0) {
            t->slots[j].count++;
            return 0;
        }
        j = (j + 1) & (t->cap - 1);
    }
    char *copy = strndup(word, n);
    if (!copy) return -1;
    t->slots[j].word = copy;
    t->slots[j].count = 1;
    t->used++;
    return 0;
}

static void table_free(table *t) {
    for (size_t i = 0; i < t->cap; i++) free(t->slots[i].word);
    free(t->slots);
}

static int by_count_then_word(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

/* ---- options ---- */

/* Parses a decimal integer in [lo, hi]; 0 on success. */
static int parse_int(wasmbay_str s, long lo, long hi, long *out) {
    if (s.len == 0 || s.len > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (!isdigit((unsigned char)s.ptr[i])) return -1;
        v = v * 10 + (s.ptr[i] - '0');
    }
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* ---- the plugin ---- */

static void count_attribute(wasmbay_response *res, const char *key, size_t value) {
    char number[32];
    snprintf(number, sizeof number, "%zu", value);
    wasmbay_attribute(res, key, number);
}

static wasmbay_status process(const wasmbay_request *req, wasmbay_response *res) {
    long top = DEFAULT_TOP, min_length = 1;
    for (size_t i = 0; i < req->options_len; i++) {
        wasmbay_pair o = req->options[i];
        if (wasmbay_str_eq(o.key, "top")) {
            if (parse_int(o.value, 0, MAX_TOP, &top))
                return wasmbay_fail(res, WASMBAY_INVALID_INPUT,
                                    "option top must be an integer 0..%d, got '%s'", MAX_TOP,
                                    o.value.ptr);
        } else if (wasmbay_str_eq(o.key, "min-length")) {
            if (parse_int(o.value, 1, 1000, &min_length))
                return wasmbay_fail(res, WASMBAY_INVALID_INPUT,
                                    "option min-length must be an integer 1..1000, got '%s'",
                                    o.value.ptr);
        } else {
            return wasmbay_fail(res, WASMBAY_INVALID_INPUT,
                                "unknown option '%s' (use top, min-length)", o.key.ptr);
        }
    }

    const char *text = req->input.ptr;
    size_t n = req->input.len;
    size_t words = 0, lines = 0, chars = 0;
    table counts = {0};
    char *norm = malloc(n + 1);
    if (!norm) return wasmbay_fail(res, WASMBAY_INTERNAL, "out of memory");

    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) chars++; /* not a continuation byte */
        if (text[i] == '\n') lines++;
    }
    if (n > 0 && text[n - 1] != '\n') lines++; /* a last line without its newline */

    size_t i = 0;
    while (i < n) {
        while (i < n && isspace((unsigned char)text[i])) i++;
        if (i >= n) break;
        size_t start = i;
        while (i < n && !isspace((unsigned char)text[i])) i++;
        words++;
        /* Normalise: strip ASCII punctuation at both ends, lower-case ASCII. */
        size_t a = start, b = i;
        while (a < b && ispunct((unsigned char)text[a])) a++;
        while (b > a && ispunct((unsigned char)text[b - 1])) b--;
        size_t len = 0, cps = 0;
        for (size_t k = a; k < b; k++) {
            norm[len++] = (char)tolower((unsigned char)text[k]);
            if (((unsigned char)text[k] & 0xC0) != 0x80) cps++;
        }
        if (len == 0 || cps < (size_t)min_length) continue;
        if (table_add(&counts, norm, len)) {
            free(norm);
            table_free(&counts);
            return wasmbay_fail(res, WASMBAY_INTERNAL, "out of memory");
        }
    }
    free(norm);

    /* Compact the table and rank it. */
    size_t unique = 0;
    for (size_t k = 0; k < counts.cap; k++)
        if (counts.slots[k].word) counts.slots[unique++] = counts.slots[k];
    for (size_t k = unique; k < counts.cap; k++) counts.slots[k].word = NULL;
    qsort(counts.slots, unique, sizeof *counts.slots, by_count_then_word);
    size_t shown = (size_t)top < unique ? (size_t)top : unique;

    wasmbay_buf ranking = {0};
    for (size_t k = 0; k < shown; k++)
        wasmbay_buf_printf(&ranking, "%s%s=%zu", k ? "," : "", counts.slots[k].word,
                           counts.slots[k].count);

    wasmbay_print(res, "words: %zu\nlines: %zu\ncharacters: %zu\nunique words: %zu\n", words,
                  lines, chars, unique);
    if (shown > 0) {
        wasmbay_print(res, "top %zu:\n", shown);
        for (size_t k = 0; k < shown; k++)
            wasmbay_print(res, "  %zu. %s (%zu)\n", k + 1, counts.slots[k].word,
                          counts.slots[k].count);
    }

    count_attribute(res, "words", words);
    count_attribute(res, "lines", lines);
    count_attribute(res, "characters", chars);
    count_attribute(res, "unique-words", unique);
    wasmbay_attribute(res, "top", ranking.data ? ranking.data : "");

    wasmbay_log(WASMBAY_DEBUG, "counted %zu words (%zu unique) on %zu lines", words, unique,
                lines);
    wasmbay_buf_free(&ranking);
    table_free(&counts);
    return WASMBAY_OK;
}

static wasmbay_health health(wasmbay_buf *detail) {
    wasmbay_buf_puts(detail, "ready");
    return WASMBAY_HEALTH_OK;
}

static const wasmbay_plugin PLUGIN = {
    .name = "word-stats",
    .version = "1.0.0",
    .description = "Counts words, lines and characters and ranks the most frequent words",
    .capabilities = NULL, /* none: it reads nothing but its request */
    .capabilities_len = 0,
    .process = process,
    .health = health,
};

WASMBAY_EXPORT_PLUGIN(PLUGIN)
