/* rolecall plugin ABI, version 1: the C view of sdk/src/abi.rs (see sdk/ABI.md for the rules).
 *
 * A plugin library exports one symbol, `rolecall_plugin_v1`, returning a pointer to a static
 * module descriptor. Everything here is plain data, borrowed (ptr, len) byte strings valid for
 * the call that carries them, and function pointers. Nothing is freed across the boundary.
 * rolecall runs each plugin in a process of its own: a crash ends that process, not the run. */
#ifndef ROLECALL_PLUGIN_H
#define ROLECALL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RC_ABI_VERSION 1u

/* A borrowed byte string (UTF-8 where text is expected); NULL/0 is the empty string. */
typedef struct RcStr {
    const uint8_t *ptr;
    size_t len;
} RcStr;

/* An RcStr of a string literal. */
#define RC_STR(lit) ((RcStr){(const uint8_t *)(lit), sizeof(lit) - 1})

typedef uint32_t RcCode;
#define RC_OK 0u
#define RC_PANICKED 1u
#define RC_INVALID 2u
#define RC_UNAVAILABLE 3u
#define RC_CANCELLED 4u
#define RC_FAILED 5u

typedef uint32_t RcKind;
#define RC_KIND_VALIDATOR 1u
#define RC_KIND_DEBUGGER 2u

typedef uint32_t RcStatus;
#define RC_STATUS_PASS 0u
#define RC_STATUS_FAIL 1u
#define RC_STATUS_WARN 2u
#define RC_STATUS_SKIP 3u
#define RC_STATUS_ERROR 4u

#define RC_LOG_ERROR 1u
#define RC_LOG_WARN 2u
#define RC_LOG_INFO 3u
#define RC_LOG_DEBUG 4u

typedef struct RcReport {
    uint32_t struct_size; /* sizeof(RcReport) */
    RcStatus status;
    RcStr check;     /* check id, e.g. "role-cardinality" */
    RcStr host;      /* empty when not about one host */
    RcStr message;
    RcStr yaml_path; /* e.g. "roles.node-controller.min", or empty */
} RcReport;

typedef void (*RcDeliverFn)(void *user, RcStr data);

typedef struct RcHostApi {
    uint32_t struct_size;
    uint32_t abi_version; /* 1 */
    void *ctx;            /* pass back on every call */
    RcCode (*report)(void *ctx, const RcReport *report);
    RcCode (*log)(void *ctx, uint32_t level, RcStr message);
    RcCode (*run_command)(void *ctx, RcStr command, RcStr hosts_json_array, RcDeliverFn deliver, void *user);
    RcCode (*fetch_file)(void *ctx, RcStr host, RcStr path, RcDeliverFn deliver, void *user);
    uint32_t (*is_cancelled)(void *ctx);
} RcHostApi;

typedef RcCode (*RcRunFn)(const RcHostApi *host, RcStr input);

typedef struct RcPluginDescriptor {
    uint32_t struct_size; /* sizeof(RcPluginDescriptor) */
    RcKind kind;
    RcStr name;        /* unique; no spaces or commas */
    RcStr description; /* one line */
    RcRunFn run;       /* never NULL */
} RcPluginDescriptor;

typedef struct RcModuleDescriptor {
    uint32_t abi_version; /* RC_ABI_VERSION, read first */
    uint32_t struct_size; /* sizeof(RcModuleDescriptor) */
    RcStr name;           /* library (module) name */
    RcStr version;        /* library version */
    const RcPluginDescriptor *plugins;
    size_t plugin_count; /* at most 1024 */
    /* Appended (rolecall 0.3), may be NULL: returns the `expect` keys the plugins read, as JSON
     * {"PLUGIN": [{"key": "...", "type": "list|map|string|number|bool|any", "description": "..."}]}
     * in static memory. A host reads it only when struct_size covers it. */
    RcStr (*expect_keys)(void);
} RcModuleDescriptor;

/* The one symbol a plugin library exports. */
const RcModuleDescriptor *rolecall_plugin_v1(void);

/* The layout rolecall's Rust types have (sdk/src/abi.rs asserts the same figures, and the test
 * suite compares this header's offsets with the Rust ones): P is the pointer size; RcStr is 2P;
 * each struct starts with two 32-bit fields, then pointer-sized members and RcStrs. */
#if defined(__cplusplus)
#define RC_ASSERT_LAYOUT(e, m) static_assert(e, m)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define RC_ASSERT_LAYOUT(e, m) _Static_assert(e, m)
#endif
#ifdef RC_ASSERT_LAYOUT
#define RC_P sizeof(void *)
RC_ASSERT_LAYOUT(sizeof(RcStr) == 2 * RC_P && offsetof(RcStr, len) == RC_P, "RcStr layout");
RC_ASSERT_LAYOUT(sizeof(RcReport) == 8 + 8 * RC_P && offsetof(RcReport, check) == 8 &&
                     offsetof(RcReport, yaml_path) == 8 + 6 * RC_P, "RcReport layout");
RC_ASSERT_LAYOUT(sizeof(RcHostApi) == 8 + 6 * RC_P && offsetof(RcHostApi, ctx) == 8 &&
                     offsetof(RcHostApi, is_cancelled) == 8 + 5 * RC_P, "RcHostApi layout");
RC_ASSERT_LAYOUT(sizeof(RcPluginDescriptor) == 8 + 5 * RC_P && offsetof(RcPluginDescriptor, name) == 8 &&
                     offsetof(RcPluginDescriptor, run) == 8 + 4 * RC_P, "RcPluginDescriptor layout");
RC_ASSERT_LAYOUT(sizeof(RcModuleDescriptor) == 8 + 7 * RC_P && offsetof(RcModuleDescriptor, name) == 8 &&
                     offsetof(RcModuleDescriptor, plugin_count) == 8 + 5 * RC_P &&
                     offsetof(RcModuleDescriptor, expect_keys) == 8 + 6 * RC_P, "RcModuleDescriptor layout");
#undef RC_P
#undef RC_ASSERT_LAYOUT
#endif

/* Reading the JSON rolecall hands over (the run's input, each command's result) without a JSON
 * library. Each function returns a span of the document it is given (nothing is copied or
 * allocated); what is absent or malformed gives {NULL, 0}. Strings stay JSON-encoded, quotes
 * included: compare one with rc_json_eq, copy it out with rc_json_text, or pass it on as is
 * (a list of host names for run_command is their spans joined with commas, in brackets).
 * Keys are compared as written, without unescaping. */

static inline size_t rc_json_ws_(const uint8_t *s, size_t n, size_t i) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
        i++;
    }
    return i;
}

/* Where the value starting at s[i] (after whitespace) ends; n when it does not. */
static inline size_t rc_json_end_(const uint8_t *s, size_t n, size_t i) {
    i = rc_json_ws_(s, n, i);
    if (i >= n) {
        return n;
    }
    if (s[i] == '"') {
        for (i++; i < n; i++) {
            if (s[i] == '\\') {
                i++;
            } else if (s[i] == '"') {
                return i + 1;
            }
        }
        return n;
    }
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        for (; i < n; i++) {
            if (s[i] == '"') {
                for (i++; i < n && s[i] != '"'; i++) {
                    if (s[i] == '\\') {
                        i++;
                    }
                }
                if (i >= n) {
                    return n;
                }
            } else if (s[i] == '{' || s[i] == '[') {
                depth++;
            } else if ((s[i] == '}' || s[i] == ']') && --depth == 0) {
                return i + 1;
            }
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' &&
           s[i] != '\t' && s[i] != '\r') {
        i++;
    }
    return i;
}

/* The value of `key` in the JSON object `obj`. */
static inline RcStr rc_json_get(RcStr obj, const char *key) {
    const RcStr none = {NULL, 0};
    const uint8_t *s = obj.ptr;
    size_t n = obj.len, k = 0, i;
    while (key[k] != '\0') {
        k++;
    }
    if (s == NULL || (i = rc_json_ws_(s, n, 0)) >= n || s[i] != '{') {
        return none;
    }
    for (i++;;) {
        i = rc_json_ws_(s, n, i);
        if (i >= n || s[i] != '"') {
            return none;
        }
        size_t key_end = rc_json_end_(s, n, i);
        int match = key_end < n && key_end - i - 2 == k;
        for (size_t j = 0; match && j < k; j++) {
            match = s[i + 1 + j] == (uint8_t)key[j];
        }
        i = rc_json_ws_(s, n, key_end);
        if (i >= n || s[i] != ':') {
            return none;
        }
        size_t v = rc_json_ws_(s, n, i + 1), v_end = rc_json_end_(s, n, v);
        if (v_end >= n || v_end == v) {
            return none;
        }
        if (match) {
            RcStr r = {s + v, v_end - v};
            return r;
        }
        i = rc_json_ws_(s, n, v_end);
        if (i >= n || s[i] != ',') {
            return none;
        }
        i++;
    }
}

/* The items of the JSON array `array`, one per call: start with `*at` = 0; returns 0 after the
 * last one. `size_t at = 0; RcStr item; while (rc_json_next(array, &at, &item)) { ... }` */
static inline int rc_json_next(RcStr array, size_t *at, RcStr *item) {
    const uint8_t *s = array.ptr;
    size_t n = array.len, i = *at;
    if (s == NULL) {
        return 0;
    }
    if (i == 0) {
        i = rc_json_ws_(s, n, 0);
        if (i >= n || s[i] != '[') {
            return 0;
        }
        i = rc_json_ws_(s, n, i + 1);
        if (i < n && s[i] == ']') {
            return 0;
        }
    } else {
        i = rc_json_ws_(s, n, i);
        if (i >= n || s[i] != ',') {
            return 0;
        }
        i++;
    }
    size_t v = rc_json_ws_(s, n, i), v_end = rc_json_end_(s, n, v);
    if (v_end >= n || v_end == v) {
        return 0;
    }
    item->ptr = s + v;
    item->len = v_end - v;
    *at = v_end;
    return 1;
}

/* Whether `value` is the JSON string `text` (written without escapes). */
static inline int rc_json_eq(RcStr value, const char *text) {
    size_t k = 0;
    while (text[k] != '\0') {
        k++;
    }
    if (value.ptr == NULL || value.len != k + 2 || value.ptr[0] != '"' || value.ptr[k + 1] != '"') {
        return 0;
    }
    for (size_t i = 0; i < k; i++) {
        if (value.ptr[i + 1] != (uint8_t)text[i]) {
            return 0;
        }
    }
    return 1;
}

/* The integer `value` holds, or `otherwise` (not a number, a fraction, too large). */
static inline long long rc_json_int(RcStr value, long long otherwise) {
    size_t i = 0;
    int negative = 0;
    long long r = 0;
    if (value.ptr == NULL || value.len == 0) {
        return otherwise;
    }
    if (value.ptr[0] == '-') {
        negative = 1;
        i = 1;
    }
    if (i == value.len) {
        return otherwise;
    }
    for (; i < value.len; i++) {
        uint8_t c = value.ptr[i];
        if (c < '0' || c > '9' || r > (INT64_MAX - (c - '0')) / 10) {
            return otherwise;
        }
        r = r * 10 + (c - '0');
    }
    return negative ? -r : r;
}

/* Copy the JSON string `value` into `out` (NUL-terminated, at most `cap` bytes with the NUL),
 * unescaping \" \\ \/ \n \t \r \b \f and \u00XX (others become '?'). Returns the length, or
 * -1 when `value` is not a string or does not fit. */
static inline long rc_json_text(RcStr value, char *out, size_t cap) {
    size_t len = 0;
    if (value.ptr == NULL || value.len < 2 || value.ptr[0] != '"' || cap == 0) {
        return -1;
    }
    for (size_t i = 1; i + 1 < value.len; i++) {
        uint8_t c = value.ptr[i];
        if (c == '\\' && i + 2 < value.len) {
            c = value.ptr[++i];
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u':
                if (i + 4 < value.len && value.ptr[i + 1] == '0' && value.ptr[i + 2] == '0') {
                    unsigned v = 0;
                    for (int d = 3; d <= 4; d++) {
                        uint8_t h = value.ptr[i + d];
                        v = v * 16 + (h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
                    }
                    c = (uint8_t)v;
                } else {
                    c = '?';
                }
                i += 4;
                break;
            default: break; /* \" \\ \/ stand for themselves */
            }
        }
        if (len + 1 >= cap) {
            return -1;
        }
        out[len++] = (char)c;
    }
    out[len] = '\0';
    return (long)len;
}

#ifdef __cplusplus
}
#endif

#endif /* ROLECALL_PLUGIN_H */
