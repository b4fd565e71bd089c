/* A rolecall validator in C: it reports one result per run, naming how much input it read, and
 * logs a line. `rolecall plugin new NAME --lang c --kind validator` starts from this file. Build:
 * `make` (or `cc -shared -fPIC -O2 -I../../include -o librolecall_c_hello.so
 * hello.c`), then `rolecall plugins --plugin-dir .` lists it and `rolecall validate --plugin-dir .`
 * runs it. See sdk/ABI.md for the rules every entry point follows. */
#include <stdio.h>
#include <string.h>

#include "rolecall_plugin.h"

static RcStr str(const char *s) {
    RcStr r = {(const uint8_t *)s, strlen(s)};
    return r;
}

static RcCode run(const RcHostApi *host, RcStr input) {
    /* A host built for an older ABI has a shorter table: only call what it has. */
    if (host == NULL || host->struct_size < sizeof(RcHostApi)) {
        return RC_INVALID;
    }
    char message[128];
    snprintf(message, sizeof message, "the C example read %zu bytes of input", input.len);
    RcReport report = {
        .struct_size = sizeof(RcReport),
        .status = RC_STATUS_PASS,
        .check = RC_STR("c-hello"),
        .host = {NULL, 0},
        .message = str(message),
        .yaml_path = {NULL, 0},
    };
    RcCode code = host->report(host->ctx, &report);
    if (code != RC_OK) {
        return code;
    }
    host->log(host->ctx, RC_LOG_INFO, RC_STR("hello from C"));
    return RC_OK;
}

static const RcPluginDescriptor plugins[] = {{
    .struct_size = sizeof(RcPluginDescriptor),
    .kind = RC_KIND_VALIDATOR,
    .name = RC_STR("c-hello"),
    .description = RC_STR("the SDK's C example: reports that it ran"),
    .run = run,
}};

static const RcModuleDescriptor module = {
    .abi_version = RC_ABI_VERSION,
    .struct_size = sizeof(RcModuleDescriptor),
    .name = RC_STR("c-example"),
    .version = RC_STR("0.1.0"),
    .plugins = plugins,
    .plugin_count = sizeof plugins / sizeof plugins[0],
};

__attribute__((visibility("default"))) const RcModuleDescriptor *rolecall_plugin_v1(void) {
    return &module;
}
