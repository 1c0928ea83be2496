/*
 * cli_maint.c - the maintenance verbs of the dynkv CLI, named as nodetool
 * names them: `compact` (POST /admin/compact: the engine compacts its
 * whole key range, the command waits), `flush` (POST /admin/flush) and
 * `drain` (POST /admin/drain: the node drains as for SIGTERM and exits 0;
 * the command returns once the node has taken the request). They act on
 * the node -n names.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int cli_maint_call(cli *c, const char *verb, int want)
{
    char target[64];
    snprintf(target, sizeof(target), "/admin/%s", verb);
    dk_hc_response r;
    int ex = cli_call(c, "POST", target, NULL, 0, "", 0, &r);
    if (ex)
        return ex;
    json_t *j = r.status == want ? cli_json(&r, verb) : NULL;
    if (r.status != want)
        ex = cli_server_error(verb, &r);
    else if (!j)
        ex = EX_ERROR;
    else if (c->json)
        cli_print_json(&r);
    else if (want == 202)
        printf("%s: draining (exits within %lld ms)\n", cli_str(j, "node"),
               (long long)json_integer_value(json_object_get(j, "drain_timeout_ms")));
    else
        printf("%s: %s done in %lld ms\n", cli_str(j, "node"), verb,
               (long long)json_integer_value(json_object_get(j, "ms")));
    json_decref(j);
    dk__hc_response_free(&r);
    return ex;
}

int cli_maint_dispatch(cli *c, int argc, char **argv, int *handled)
{
    const char *cmd = argv[0];
    *handled = argc == 1 && (!strcmp(cmd, "compact") || !strcmp(cmd, "flush") || !strcmp(cmd, "drain"));
    if (!*handled)
        return 0;
    return cli_maint_call(c, cmd, strcmp(cmd, "drain") == 0 ? 202 : 200);
}
