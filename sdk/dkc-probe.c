/*
 * dkc-probe.c - a line-oriented shell over libdynkv-client, for the
 * cluster tests (tests/cluster/test_sdk.py): it opens one handle on the
 * seeds given as argv[1] and keeps it (its ring, its pool) across the
 * commands it reads from stdin, one per line, answering each with one JSON
 * line, so a test can kill nodes between two commands.
 *
 *   put KEY VALUE [CONTEXT]   {"rc","node","context"}
 *   get KEY                   {"rc","node","values":[...],"context"}
 *   del KEY [CONTEXT]         {"rc","node"}
 *   update KEY SUFFIX         get, join siblings with '+', append SUFFIX, put
 *   incr KEY N                {"rc","node","value"}
 *   route KEY                 {"replicas":[ids]}
 *   stats                     {"requests","attempts","failovers","refreshes","connects",
 *                              "ring_signals"}
 *   session [TOKEN|none]      set the handle's session token; {"session"} (null: none)
 *
 * Every failure adds "error" (dkc_errmsg). Environment: DKC_TOKEN,
 * DKC_CACERT, DKC_CONSISTENCY, DKC_RETRIES, DKC_TIMEOUT_MS, DKC_NO_ROUTING,
 * DKC_REFRESH_MS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "dynkv/client.h"

static int cmp_values(const void *a, const void *b)
{
    const dkc_value *x = a, *y = b;
    return strcmp((const char *)x->data, (const char *)y->data);
}

static int join_siblings(void *arg, const dkc_value *s, size_t n, void **out, size_t *out_len)
{
    (void)arg;
    dkc_value *v = malloc(n * sizeof(*v));
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += s[i].len + 1;
    char *p = malloc(total);
    if (!v || !p) {
        free(v);
        free(p);
        return -1;
    }
    memcpy(v, s, n * sizeof(*v));
    qsort(v, n, sizeof(*v), cmp_values);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            p[used++] = '+';
        memcpy(p + used, v[i].data, v[i].len);
        used += v[i].len;
    }
    free(v);
    *out = p;
    *out_len = used;
    return 0;
}

static int append_suffix(void *arg, const void *cur, size_t len, void **out, size_t *out_len)
{
    const char *suffix = arg;
    size_t sl = strlen(suffix);
    char *p = malloc(len + sl + 1);
    if (!p)
        return -1;
    if (len)
        memcpy(p, cur, len);
    memcpy(p + len, suffix, sl);
    *out = p;
    *out_len = len + sl;
    return 0;
}

static void answer(dkc *c, json_t *o, int rc)
{
    dkc_stats st;
    dkc_get_stats(c, &st);
    json_object_set_new(o, "rc", json_integer(rc));
    json_object_set_new(o, "node", json_string(st.last_node));
    if (rc)
        json_object_set_new(o, "error", json_string(dkc_errmsg(c)));
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s ? s : "{}");
    fflush(stdout);
    free(s);
    json_decref(o);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dkc-probe SEEDS < commands\n");
        return 2;
    }
    dkc_options opt;
    dkc_options_init(&opt);
    opt.token = getenv("DKC_TOKEN");
    opt.ca_file = getenv("DKC_CACERT");
    opt.consistency = getenv("DKC_CONSISTENCY");
    if (getenv("DKC_RETRIES"))
        opt.retries = atoi(getenv("DKC_RETRIES"));
    if (getenv("DKC_TIMEOUT_MS"))
        opt.timeout_ms = atoi(getenv("DKC_TIMEOUT_MS"));
    opt.no_routing = getenv("DKC_NO_ROUTING") != NULL;
    if (getenv("DKC_REFRESH_MS"))
        opt.refresh_ms = atoi(getenv("DKC_REFRESH_MS"));
    dkc *c;
    int rc = dkc_open(argv[1], &opt, &c);
    if (rc != 0) {
        fprintf(stderr, "dkc-probe: %s (%d)\n", dkc_errmsg(c), rc);
        dkc_close(c);
        return 1;
    }
    printf("{\"ready\":true}\n");
    fflush(stdout);
    char line[4096];
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *save, *cmd = strtok_r(line, " ", &save);
        char *a1 = strtok_r(NULL, " ", &save), *a2 = strtok_r(NULL, " ", &save);
        char *a3 = strtok_r(NULL, " ", &save);
        json_t *o = json_object();
        if (!cmd) {
            json_decref(o);
            continue;
        } else if (strcmp(cmd, "put") == 0 && a1 && a2) {
            char *ctx = NULL;
            dkc_write w = {.context = a3};
            rc = dkc_put(c, a1, a2, strlen(a2), &w, &ctx);
            json_object_set_new(o, "context", json_string(ctx ? ctx : ""));
            free(ctx);
        } else if (strcmp(cmd, "get") == 0 && a1) {
            dkc_object *ob = NULL;
            rc = dkc_get(c, a1, &ob);
            json_t *vals = json_array();
            for (size_t i = 0; ob && i < ob->n_values; i++)
                json_array_append_new(vals,
                                      json_stringn((const char *)ob->values[i].data, ob->values[i].len));
            json_object_set_new(o, "values", vals);
            json_object_set_new(o, "context", json_string(ob ? ob->context : ""));
            dkc_object_free(ob);
        } else if (strcmp(cmd, "del") == 0 && a1) {
            rc = dkc_delete(c, a1, a2);
        } else if (strcmp(cmd, "update") == 0 && a1 && a2) {
            rc = dkc_update(c, a1, join_siblings, append_suffix, a2, 0);
        } else if (strcmp(cmd, "incr") == 0 && a1 && a2) {
            int64_t v = 0;
            rc = dkc_counter_add(c, a1, strtoll(a2, NULL, 10), &v);
            json_object_set_new(o, "value", json_integer((json_int_t)v));
        } else if (strcmp(cmd, "route") == 0 && a1) {
            const char *ids[8];
            size_t n = dkc_replicas(c, a1, ids, 8);
            json_t *a = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_string(ids[i]));
            json_object_set_new(o, "replicas", a);
            rc = 0;
        } else if (strcmp(cmd, "session") == 0) {
            rc = a1 ? dkc_set_session(c, strcmp(a1, "none") == 0 ? NULL : a1) : 0;
            const char *tok = dkc_session(c);
            json_object_set_new(o, "session", tok ? json_string(tok) : json_null());
        } else if (strcmp(cmd, "stats") == 0) {
            dkc_stats st;
            dkc_get_stats(c, &st);
            json_object_set_new(o, "requests", json_integer((json_int_t)st.requests));
            json_object_set_new(o, "attempts", json_integer((json_int_t)st.attempts));
            json_object_set_new(o, "failovers", json_integer((json_int_t)st.failovers));
            json_object_set_new(o, "refreshes", json_integer((json_int_t)st.refreshes));
            json_object_set_new(o, "connects", json_integer((json_int_t)st.connects));
            json_object_set_new(o, "ring_signals", json_integer((json_int_t)st.ring_signals));
            rc = 0;
        } else {
            json_object_set_new(o, "usage", json_string("unknown command or missing argument"));
            rc = DKC_EINVAL;
        }
        answer(c, o, rc);
    }
    dkc_close(c);
    return 0;
}
