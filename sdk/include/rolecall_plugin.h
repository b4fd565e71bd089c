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

#ifdef __cplusplus
}
#endif

#endif /* ROLECALL_PLUGIN_H */
