/*
 * cli_snapshot.c - the snapshot verbs of the dynkv CLI, named as nodetool
 * names them: `snapshot [NAME]` (POST /admin/snapshots), `listsnapshots`
 * (GET) and `clearsnapshot NAME` (DELETE). They act on the node -n names;
 * a cluster-wide snapshot is one call per member.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void cli_snapshot_row(json_t *s)
{
    char when[64], size[32];
    printf("%-24s %-24s %12s  %s\n", cli_str(s, "name"),
           cli_time(json_object_get(s, "created_ms"), when, sizeof(when)),
           cli_bytes(json_object_get(s, "bytes"), size, sizeof(size)), cli_str(s, "path"));
}

/* POST or DELETE target; the JSON answer printed, or the error reported. */
static int cli_snapshot_call(cli *c, const char *method, const char *target, int want)
{
    dk_hc_response r;
    int ex = cli_call(c, method, target, NULL, 0, method[0] == 'P' ? "" : NULL, 0, &r);
    if (ex)
        return ex;
    json_t *j = r.status == want ? cli_json(&r, "snapshot") : NULL;
    if (r.status != want)
        ex = cli_server_error("snapshot", &r);
    else if (!j)
        ex = EX_ERROR;
    else if (c->json)
        cli_print_json(&r);
    else if (want == 201)
        cli_snapshot_row(j);
    else
        printf("deleted snapshot %s\n", cli_str(j, "name"));
    json_decref(j);
    dk__hc_response_free(&r);
    return ex;
}

/* target = prefix followed by name, percent-encoded. */
static int cli_snapshot_target(char *target, size_t len, const char *prefix, const char *name)
{
    char *enc = cli_encode(name);
    if (!enc)
        return cli_die(EX_ERROR, "out of memory");
    snprintf(target, len, "%s%.200s", prefix, enc);
    free(enc);
    return 0;
}

int cli_snapshot_dispatch(cli *c, int argc, char **argv, int *handled)
{
    const char *cmd = argv[0];
    char target[256];
    int ex;
    *handled = 1;
    if (strcmp(cmd, "snapshot") == 0 && argc <= 2) {
        if (argc == 1)
            return cli_snapshot_call(c, "POST", "/admin/snapshots", 201);
        if ((ex = cli_snapshot_target(target, sizeof(target), "/admin/snapshots?name=", argv[1])))
            return ex;
        return cli_snapshot_call(c, "POST", target, 201);
    }
    if (strcmp(cmd, "clearsnapshot") == 0 && argc == 2) {
        if ((ex = cli_snapshot_target(target, sizeof(target), "/admin/snapshots/", argv[1])))
            return ex;
        return cli_snapshot_call(c, "DELETE", target, 200);
    }
    if (strcmp(cmd, "listsnapshots") == 0 && argc == 1) {
        json_t *j = cli_get_doc(c, "/admin/snapshots", "listsnapshots", &ex);
        if (!j)
            return ex;
        if (c->json) {
            cli_print_doc(j);
        } else {
            printf("%-24s %-24s %12s  %s\n", "NAME", "CREATED", "SIZE", "PATH");
            size_t i;
            json_t *s;
            json_array_foreach(json_object_get(j, "snapshots"), i, s) cli_snapshot_row(s);
        }
        json_decref(j);
        return 0;
    }
    *handled = 0;
    return 0;
}
