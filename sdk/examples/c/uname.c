/* A rolecall debugger in C: it runs `uname -s` on every host of the run, through rolecall, and
 * reports a result per host (PASS when the host answered with exit 0, FAIL otherwise) and one
 * for the run ("N answered, M exited 0", FAIL unless every host did). It reads the JSON rolecall
 * hands over with the header's rc_json_* functions. Build: `make`, then
 * `rolecall plugins --plugin-dir .` lists it and `rolecall debug --plugin-dir . --only c-uname`
 * runs it. `rolecall plugin new NAME --lang c --kind debugger` starts from this file. See
 * sdk/ABI.md for the rules every entry point follows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rolecall_plugin.h"

/* What the callback for each host's answer needs. */
typedef struct {
    const RcHostApi *host;
    size_t hosts;
    size_t ok;
} Count;

static void report(const RcHostApi *host, RcStatus status, RcStr on, const char *message) {
    RcReport r = {
        .struct_size = sizeof(RcReport),
        .status = status,
        .check = RC_STR("uname"),
        .host = on,
        .message = {(const uint8_t *)message, strlen(message)},
        .yaml_path = {NULL, 0},
    };
    host->report(host->ctx, &r);
}

/* Called once per host, with `{"host", "outcome", "exit_code", "stdout", ...}`. */
static void answered(void *user, RcStr result) {
    Count *c = user;
    char name[256], outcome[64], message[320];
    c->hosts++;
    if (rc_json_text(rc_json_get(result, "host"), name, sizeof name) < 0 ||
        rc_json_text(rc_json_get(result, "outcome"), outcome, sizeof outcome) < 0) {
        return;
    }
    RcStr on = {(const uint8_t *)name, strlen(name)};
    long long code = rc_json_int(rc_json_get(result, "exit_code"), -1);
    if (strcmp(outcome, "ok") == 0 && code == 0) {
        c->ok++;
        report(c->host, RC_STATUS_PASS, on, "answered `uname -s` with exit 0");
    } else if (strcmp(outcome, "ok") == 0) {
        snprintf(message, sizeof message, "`uname -s` exited %lld", code);
        report(c->host, RC_STATUS_FAIL, on, message);
    } else {
        char why[256] = "";
        rc_json_text(rc_json_get(result, "error"), why, sizeof why);
        snprintf(message, sizeof message, "%s: %s", outcome, why);
        report(c->host, RC_STATUS_FAIL, on, message);
    }
}

static RcCode run(const RcHostApi *host, RcStr input) {
    /* A host built for an older ABI has a shorter table: only call what it has. */
    if (host == NULL || host->struct_size < sizeof(RcHostApi)) {
        return RC_INVALID;
    }
    /* The names of the hosts the run works on, as the JSON array run_command takes: each name
     * stays JSON-encoded, as the input has it. */
    RcStr hosts = rc_json_get(rc_json_get(input, "deployment"), "hosts");
    char *names = malloc(hosts.len + 3);
    if (names == NULL) {
        return RC_FAILED;
    }
    size_t len = 0, at = 0;
    RcStr item;
    names[len++] = '[';
    while (rc_json_next(hosts, &at, &item)) {
        RcStr name = rc_json_get(item, "name");
        if (name.ptr == NULL) {
            continue;
        }
        if (len > 1) {
            names[len++] = ',';
        }
        memcpy(names + len, name.ptr, name.len);
        len += name.len;
    }
    names[len++] = ']';
    Count count = {host, 0, 0};
    RcStr list = {(const uint8_t *)names, len};
    RcCode ran = host->run_command(host->ctx, RC_STR("uname -s"), list, answered, &count);
    free(names);
    if (ran != RC_OK) {
        return ran;
    }
    char message[160];
    snprintf(message, sizeof message, "the hosts were asked: %zu answered, %zu exited 0", count.hosts,
             count.ok);
    RcStatus status = count.hosts > 0 && count.ok == count.hosts ? RC_STATUS_PASS : RC_STATUS_FAIL;
    RcStr none = {NULL, 0};
    report(host, status, none, message);
    return RC_OK;
}

static const RcPluginDescriptor plugins[] = {{
    .struct_size = sizeof(RcPluginDescriptor),
    .kind = RC_KIND_DEBUGGER,
    .name = RC_STR("c-uname"),
    .description = RC_STR("every host answers `uname -s` with exit 0"),
    .run = run,
}};

static const RcModuleDescriptor module = {
    .abi_version = RC_ABI_VERSION,
    .struct_size = sizeof(RcModuleDescriptor),
    .name = RC_STR("c-example"),
    .version = RC_STR("0.1.0"),
    .plugins = plugins,
    .plugin_count = sizeof plugins / sizeof plugins[0],
    .expect_keys = NULL,
};

__attribute__((visibility("default"))) const RcModuleDescriptor *rolecall_plugin_v1(void) {
    return &module;
}
