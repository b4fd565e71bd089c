/* The header's rc_json_* functions on the JSON rolecall sends: built and run by the test suite
 * (tests/it/plugins.rs), exit 0 when every check holds, else the failed line on stderr. */
#include <stdio.h>
#include <string.h>

#include "rolecall_plugin.h"

static int failed = 0;
#define CHECK(e)                                                                                   \
    do {                                                                                           \
        if (!(e)) {                                                                                \
            fprintf(stderr, "json_test.c:%d: %s\n", __LINE__, #e);                                 \
            failed = 1;                                                                            \
        }                                                                                          \
    } while (0)

static RcStr s(const char *t) {
    RcStr r = {(const uint8_t *)t, strlen(t)};
    return r;
}

static int same(RcStr a, const char *b) {
    return a.ptr != NULL && a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0;
}

int main(void) {
    RcStr input = s("{\"plugin\":\"p\",\"config\":{\"hosts\":[\"decoy\"]},\"deployment\":{\"name\":null,"
                    "\"hosts\":[{\"name\":\"nc01\",\"address\":\"127.0.0.11\",\"port\":22,\"vars\":{\"a\":[1,{\"b\":\"]}\"}]}},"
                    "{\"name\":\"we\\\"ird\",\"port\":2222}],\"roles\":[]}}");
    RcStr hosts = rc_json_get(rc_json_get(input, "deployment"), "hosts");
    size_t at = 0, n = 0;
    RcStr item;
    while (rc_json_next(hosts, &at, &item)) {
        n++;
        if (n == 1) {
            CHECK(same(rc_json_get(item, "name"), "\"nc01\""));
            CHECK(rc_json_eq(rc_json_get(item, "address"), "127.0.0.11"));
            CHECK(rc_json_int(rc_json_get(item, "port"), -1) == 22);
        } else {
            char name[16];
            CHECK(rc_json_text(rc_json_get(item, "name"), name, sizeof name) == 6);
            CHECK(strcmp(name, "we\"ird") == 0);
            CHECK(rc_json_int(rc_json_get(item, "port"), -1) == 2222);
            CHECK(rc_json_text(rc_json_get(item, "name"), name, 4) == -1);
        }
    }
    CHECK(n == 2);
    /* Absent, empty and malformed. */
    CHECK(rc_json_get(input, "nope").ptr == NULL);
    CHECK(rc_json_get(s("[1]"), "a").ptr == NULL);
    CHECK(rc_json_get(s("{\"a\":"), "a").ptr == NULL);
    at = 0;
    CHECK(!rc_json_next(s("[]"), &at, &item));
    at = 0;
    CHECK(!rc_json_next(s(" [ ] "), &at, &item));
    at = 0;
    CHECK(rc_json_next(s("[ 1 , \"x\" ]"), &at, &item) && same(item, "1"));
    CHECK(rc_json_next(s("[ 1 , \"x\" ]"), &at, &item) && same(item, "\"x\""));
    CHECK(!rc_json_next(s("[ 1 , \"x\" ]"), &at, &item));
    CHECK(rc_json_int(s("-12"), 0) == -12);
    CHECK(rc_json_int(s("1.5"), 7) == 7);
    CHECK(rc_json_int(s("99999999999999999999"), 7) == 7);
    CHECK(rc_json_int(s("null"), 7) == 7);
    CHECK(!rc_json_eq(s("\"ok\""), "o"));
    CHECK(rc_json_eq(s("\"ok\""), "ok"));
    char t[8];
    CHECK(rc_json_text(s("\"a\\u0041\\n\""), t, sizeof t) == 3 && strcmp(t, "aA\n") == 0);
    CHECK(rc_json_text(s("12"), t, sizeof t) == -1);
    /* A command result as rolecall delivers it. */
    RcStr result = s("{\"host\":\"nc01\",\"outcome\":\"ok\",\"exit_code\":0,\"signal\":null,\"stdout\":\"Linux\\n\","
                     "\"stderr\":\"\",\"duration_ms\":12,\"error\":null}");
    CHECK(rc_json_eq(rc_json_get(result, "outcome"), "ok"));
    CHECK(rc_json_int(rc_json_get(result, "exit_code"), -1) == 0);
    CHECK(same(rc_json_get(result, "error"), "null"));
    return failed;
}
